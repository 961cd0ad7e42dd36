//! The connection state machine: which status may move to which, what a move erases, and what
//! it emits. Persistence applies a [`Transition`] as one compare-and-set (the row moves only
//! from one of [`Transition::sources`]) together with the [`Effects`] of its event, in one
//! transaction, so a status, its history row and the tenant's webhook never disagree.
//!
//! ```text
//!             refresh ok / Resume                     (any usable)
//!   ┌──────────────────────────────────┐         ┌───────────────────┐
//!   ▼                                  │         │                   ▼
//! Active ──RefreshFailed──▶ Degraded ──┤     NeedsReauth      Disconnected
//!   │  ▲                      │        │         ▲                   │
//!   │  └──────── Resume ──┐   ▼        │         │ GiveUp            │ Reconnect
//!   └──RateLimit──▶ RateLimited ───────┘   (any usable)              ▼
//!                                                              (saved anew)
//! every status except Revoked ──Revoke──▶ Revoked (final, credentials destroyed)
//! ```

use chrono::{DateTime, Utc};

use super::{ConnectionStatus, EventKind, NewEvent};
use crate::webhooks::EventType;

/// A change of a connection's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The tenant revoked the connection: credentials destroyed, final.
    Revoke,
    /// amoCRM said the integration was disabled or uninstalled; tokens erased.
    Disconnect,
    /// amoCRM refused the refresh token: an admin of the account must connect again.
    GiveUp,
    /// A refresh failed for a transient reason; the keeper retries.
    Degrade,
    /// amoCRM blocked the integration (403 after too many calls); traffic paused.
    RateLimit,
    /// amoCRM answered again after a block.
    Resume,
    /// A refresh succeeded: whatever went wrong before is over.
    Refresh,
}

/// Which stored credentials a transition destroys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// Nothing: the connection keeps working or will be retried.
    Nothing,
    /// The access and refresh tokens (and the keeper's schedule): amoCRM will not take them.
    Tokens,
    /// The tokens and the integration's client secret: nothing of the account is kept.
    Everything,
}

const USABLE: &[ConnectionStatus] = &[
    ConnectionStatus::Active,
    ConnectionStatus::Degraded,
    ConnectionStatus::RateLimited,
];

impl Transition {
    /// The status a transition moves to.
    #[must_use]
    pub const fn target(self) -> ConnectionStatus {
        match self {
            Self::Revoke => ConnectionStatus::Revoked,
            Self::Disconnect => ConnectionStatus::Disconnected,
            Self::GiveUp => ConnectionStatus::NeedsReauth,
            Self::Degrade => ConnectionStatus::Degraded,
            Self::RateLimit => ConnectionStatus::RateLimited,
            Self::Resume | Self::Refresh => ConnectionStatus::Active,
        }
    }

    /// The statuses a transition may leave; a row in any other status is left alone.
    #[must_use]
    pub const fn sources(self) -> &'static [ConnectionStatus] {
        match self {
            Self::Revoke => &[
                ConnectionStatus::Active,
                ConnectionStatus::Degraded,
                ConnectionStatus::RateLimited,
                ConnectionStatus::NeedsReauth,
                ConnectionStatus::Disconnected,
            ],
            Self::Disconnect => &[
                ConnectionStatus::Active,
                ConnectionStatus::Degraded,
                ConnectionStatus::RateLimited,
                ConnectionStatus::NeedsReauth,
            ],
            // Only a connection amolink still calls amoCRM for can fail, recover or be blocked.
            Self::GiveUp | Self::Degrade | Self::Refresh => USABLE,
            Self::RateLimit => &[ConnectionStatus::Active, ConnectionStatus::Degraded],
            Self::Resume => &[ConnectionStatus::RateLimited],
        }
    }

    /// What the transition destroys.
    #[must_use]
    pub const fn erasure(self) -> Erasure {
        match self {
            Self::Revoke => Erasure::Everything,
            Self::Disconnect => Erasure::Tokens,
            _ => Erasure::Nothing,
        }
    }

    /// The event a transition records when the row moves.
    #[must_use]
    pub const fn event_kind(self) -> EventKind {
        match self {
            Self::Revoke => EventKind::Revoked,
            Self::Disconnect => EventKind::Disconnected,
            Self::GiveUp => EventKind::NeedsReauth,
            Self::Degrade => EventKind::RefreshFailed,
            Self::RateLimit => EventKind::RateLimited,
            Self::Resume => EventKind::Resumed,
            Self::Refresh => EventKind::Refreshed,
        }
    }

    /// Whether the state machine lets a connection in `from` take this transition.
    #[must_use]
    pub fn allowed_from(self, from: ConnectionStatus) -> bool {
        self.sources().contains(&from)
    }
}

/// Whether any transition moves a connection from `from` to `to`.
#[must_use]
pub fn may_move(from: ConnectionStatus, to: ConnectionStatus) -> bool {
    ALL.iter().any(|t| t.target() == to && t.allowed_from(from))
}

/// Every transition, for tables and tests.
pub const ALL: [Transition; 7] = [
    Transition::Revoke,
    Transition::Disconnect,
    Transition::GiveUp,
    Transition::Degrade,
    Transition::RateLimit,
    Transition::Resume,
    Transition::Refresh,
];

/// What amoCRM's event subscription for the account must do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEffect {
    None,
    /// The account was (re)connected: subscribe it to the workspace's relayed events.
    Subscribe,
    /// The credentials are gone: the subscription is over.
    Unsubscribe,
}

/// Everything an event causes besides its history row, decided here so that storage only
/// carries it out in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    /// The tenant webhook to enqueue for every enabled endpoint of the workspace, if any.
    pub tenant_webhook: Option<EventType>,
    pub relay: RelayEffect,
}

impl Effects {
    /// The effects of recording `event`.
    #[must_use]
    pub const fn of(event: &NewEvent) -> Self {
        Self {
            tenant_webhook: EventType::for_event(event.kind),
            relay: match event.kind {
                EventKind::Connected | EventKind::Reconnected => RelayEffect::Subscribe,
                EventKind::Revoked | EventKind::Disconnected => RelayEffect::Unsubscribe,
                _ => RelayEffect::None,
            },
        }
    }
}

/// A transition ready to apply: the move, its event and the status reason it leaves.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub transition: Transition,
    pub event: NewEvent,
    /// The reason shown next to the new status (`None` clears it).
    pub reason: Option<String>,
}

impl StatusChange {
    /// A change whose event carries `detail`, which is also the status reason.
    #[must_use]
    pub fn new(
        transition: Transition,
        actor: super::Actor,
        detail: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            transition,
            reason: detail.clone(),
            event: NewEvent {
                kind: transition.event_kind(),
                actor,
                detail,
                at,
            },
        }
    }

    #[must_use]
    pub const fn at(&self) -> DateTime<Utc> {
        self.event.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionStatus as S;

    #[test]
    fn revoked_is_final_and_every_other_status_can_be_revoked() {
        for &from in ConnectionStatus::ALL {
            assert!(!may_move(S::Revoked, from), "Revoked → {from}");
            if from != S::Revoked {
                assert!(Transition::Revoke.allowed_from(from), "{from} → Revoked");
            }
        }
    }

    #[test]
    fn only_usable_connections_fail_recover_or_get_blocked() {
        for t in [
            Transition::GiveUp,
            Transition::Degrade,
            Transition::Refresh,
            Transition::RateLimit,
        ] {
            for &from in ConnectionStatus::ALL {
                if t.allowed_from(from) {
                    assert!(from.is_usable(), "{t:?} from {from}");
                }
            }
        }
        assert!(!may_move(S::NeedsReauth, S::Active));
        assert!(!may_move(S::Disconnected, S::Active));
    }

    #[test]
    fn the_state_machine_table() {
        let allowed: Vec<(S, S)> = ConnectionStatus::ALL
            .iter()
            .flat_map(|&f| ConnectionStatus::ALL.iter().map(move |&t| (f, t)))
            .filter(|&(f, t)| f != t && may_move(f, t))
            .collect();
        let expected = [
            (S::Active, S::Degraded),
            (S::Active, S::RateLimited),
            (S::Active, S::NeedsReauth),
            (S::Active, S::Disconnected),
            (S::Active, S::Revoked),
            (S::Degraded, S::Active),
            (S::Degraded, S::RateLimited),
            (S::Degraded, S::NeedsReauth),
            (S::Degraded, S::Disconnected),
            (S::Degraded, S::Revoked),
            (S::RateLimited, S::Active),
            (S::RateLimited, S::Degraded),
            (S::RateLimited, S::NeedsReauth),
            (S::RateLimited, S::Disconnected),
            (S::RateLimited, S::Revoked),
            (S::NeedsReauth, S::Disconnected),
            (S::NeedsReauth, S::Revoked),
            (S::Disconnected, S::Revoked),
        ];
        assert_eq!(allowed, expected);
    }

    #[test]
    fn erasure_follows_how_final_the_move_is() {
        assert_eq!(Transition::Revoke.erasure(), Erasure::Everything);
        assert_eq!(Transition::Disconnect.erasure(), Erasure::Tokens);
        for t in [
            Transition::GiveUp,
            Transition::Degrade,
            Transition::RateLimit,
            Transition::Resume,
            Transition::Refresh,
        ] {
            assert_eq!(t.erasure(), Erasure::Nothing, "{t:?}");
        }
    }

    #[test]
    fn effects_are_decided_by_the_event() {
        let event = |kind| NewEvent {
            kind,
            actor: super::super::Actor::Keeper,
            detail: None,
            at: Utc::now(),
        };
        let revoked = Effects::of(&event(EventKind::Revoked));
        assert_eq!(revoked.tenant_webhook, Some(EventType::Revoked));
        assert_eq!(revoked.relay, RelayEffect::Unsubscribe);
        let connected = Effects::of(&event(EventKind::Connected));
        assert_eq!(connected.relay, RelayEffect::Subscribe);
        let refreshed = Effects::of(&event(EventKind::Refreshed));
        assert_eq!(refreshed.tenant_webhook, None);
        assert_eq!(refreshed.relay, RelayEffect::None);
    }
}
