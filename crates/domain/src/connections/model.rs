use std::fmt;

use amocrm::Platform;
use chrono::{DateTime, Utc};
use strum::VariantArray as _;

use crate::{
    ValidationError,
    end_user::Metadata,
    ids::{ConnectionId, WorkspaceId},
    text::text_enum,
};

text_enum! {
    /// A connection's health.
    pub enum ConnectionStatus {
        /// Tokens are fresh and amoCRM answers.
        Active,
        /// Refreshes or calls are failing for a transient reason; amolink keeps retrying.
        Degraded,
        /// amoCRM is rate-limiting or blocking this integration; traffic is paused.
        RateLimited,
        /// amoCRM refused the credentials; an admin of the account must connect again.
        NeedsReauth,
        /// amoCRM said the integration was disabled or uninstalled.
        Disconnected,
        /// The tenant revoked it; its credentials are destroyed. Final.
        Revoked,
    }
    unknown(_text) => ValidationError::new("status", "unknown-connection-status");
}

impl ConnectionStatus {
    pub const ALL: &'static [Self] = Self::VARIANTS;

    /// Whether amolink may still call amoCRM with this connection's credentials.
    #[must_use]
    pub const fn is_usable(self) -> bool {
        matches!(self, Self::Active | Self::Degraded | Self::RateLimited)
    }
}

/// The encrypted columns of a connection; each name is part of its ciphertext's binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    ClientSecret,
    AccessToken,
    RefreshToken,
}

impl SealedColumn {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "connections.client_secret",
            Self::AccessToken => "connections.access_token",
            Self::RefreshToken => "connections.refresh_token",
        }
    }
}

/// One call to amoCRM's token endpoint, as remembered for the refresh-interval rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCall {
    pub at: DateTime<Utc>,
    /// amoCRM had refused the connection's access token (HTTP 401) just before.
    pub after_refusal: bool,
}

/// A stored connection, credentials still sealed.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub workspace: WorkspaceId,
    pub platform: Platform,
    pub account_id: i64,
    pub account_name: String,
    /// The account host, e.g. `acme.amocrm.ru`; it can change when the account is renamed.
    pub host: String,
    pub api_domain: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// When the access token expires, as amoCRM stated it: the moment the token request was
    /// sent plus the stated lifetime, so never later than amoCRM's own expiry.
    pub access_expires_at: Option<DateTime<Utc>>,
    /// The access token's lifetime as amoCRM stated it (zero when it stated nothing credible).
    pub access_lifetime: Option<std::time::Duration>,
    /// When the latest call to amoCRM's token endpoint for this connection was sent (the code
    /// exchange or a refresh, successful or not), and whether a refused access token caused it.
    pub token_call: Option<TokenCall>,
    /// When the token keeper should refresh next (`None`: never, e.g. needs re-auth).
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// Consecutive failed refreshes.
    pub refresh_failures: i32,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    pub status_at: DateTime<Utc>,
    pub connected_at: DateTime<Utc>,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub end_user_id: Option<String>,
    /// The tenant's metadata for the end user, as given to the connect session.
    pub metadata: Option<Metadata>,
}

/// A connection as listed: metadata only, never credentials.
#[derive(Debug, Clone)]
pub struct ConnectionSummary {
    pub id: ConnectionId,
    pub platform: Platform,
    pub account_id: i64,
    pub account_name: String,
    pub host: String,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub end_user_id: Option<String>,
    /// The tenant's metadata for the end user, as given to the connect session.
    pub metadata: Option<Metadata>,
}

impl From<&ConnectionRecord> for ConnectionSummary {
    fn from(r: &ConnectionRecord) -> Self {
        Self {
            id: r.id,
            platform: r.platform,
            account_id: r.account_id,
            account_name: r.account_name.clone(),
            host: r.host.clone(),
            status: r.status,
            status_reason: r.status_reason.clone(),
            connected_at: r.connected_at,
            access_expires_at: r.access_expires_at,
            last_refresh_at: r.last_refresh_at,
            last_error: r.last_error.clone(),
            end_user_id: r.end_user_id.clone(),
            metadata: r.metadata.clone(),
        }
    }
}

/// What a listing is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub status: Option<ConnectionStatus>,
    pub platform: Option<Platform>,
    /// Matches account name or host (case-insensitive substring).
    pub search: Option<String>,
    pub end_user_id: Option<String>,
}

/// A keyset position: the last row of the previous page (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub connected_at_ms: i64,
    pub id: ConnectionId,
}

impl PageCursor {
    /// An opaque text form for URLs: `{millis}.{uuid}`.
    #[must_use]
    pub fn encode(&self) -> String {
        format!("{}.{}", self.connected_at_ms, self.id)
    }

    /// # Errors
    /// When the cursor was not produced by [`PageCursor::encode`].
    pub fn decode(raw: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("cursor", "cursor-invalid");
        let (millis, id) = raw.split_once('.').ok_or_else(invalid)?;
        Ok(Self {
            connected_at_ms: millis.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// One page of a keyset listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageCursor>,
}

text_enum! {
    /// What happened to a connection.
    pub enum EventKind {
        SecretsReceived,
        Connected,
        Reconnected,
        Refreshed,
        RefreshFailed,
        NeedsReauth,
        Disconnected,
        Revoked,
        /// amoCRM blocked the integration (403 after too many requests); the proxy paused it.
        RateLimited,
        /// amoCRM answered again after a block.
        Resumed,
        /// amoCRM switched the account's event subscription off, or refused it.
        EventsPaused,
        /// amolink re-armed the account's event subscription.
        EventsResumed,
    }
    unknown(_text) => ValidationError::new("kind", "unknown-event-kind");
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// amoCRM itself (webhooks, the consent flow).
    AmoCrm,
    /// A person signed in to amolink.
    User(String),
    /// A tenant's backend through an API key (its name).
    ApiKey(String),
    /// amolink's token keeper.
    Keeper,
    /// amolink itself, finishing work a person started (a workspace's deletion).
    Amolink,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AmoCrm => f.write_str("amoCRM"),
            Self::User(email) => write!(f, "user {email}"),
            Self::ApiKey(name) => write!(f, "API key {name}"),
            Self::Keeper => f.write_str("token keeper"),
            Self::Amolink => f.write_str("amolink"),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub actor: Actor,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// A recorded event.
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    pub kind: EventKind,
    /// The actor as recorded (display form).
    pub actor: String,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_event_kinds_round_trip_through_text() {
        for &status in ConnectionStatus::ALL {
            assert_eq!(
                status.as_str().parse::<ConnectionStatus>().ok(),
                Some(status)
            );
        }
        for &kind in EventKind::VARIANTS {
            assert_eq!(kind.as_str().parse::<EventKind>().ok(), Some(kind));
        }
        assert!("bogus".parse::<ConnectionStatus>().is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = PageCursor {
            connected_at_ms: 1_764_000_000_000,
            id: ConnectionId::random(),
        };
        assert_eq!(PageCursor::decode(&cursor.encode()).ok(), Some(cursor));
        for bad in [
            "",
            "abc",
            "1.",
            ".x",
            "1.not-a-uuid",
            "x.00000000-0000-0000-0000-000000000000",
        ] {
            assert!(PageCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
