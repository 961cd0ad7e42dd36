//! Audit entries: who did what to a workspace, when, from where. Never a secret: targets are
//! named by id and a label (an e-mail, a key's name, a URL), details are small JSON objects of
//! non-secret facts.

use std::{fmt, net::IpAddr, str::FromStr};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{
    ValidationError,
    accounts::Member,
    api_keys::Caller,
    connections::Actor,
    ids::{ApiKeyId, UserId, WorkspaceId},
};

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)+) => {
        /// What happened. The codes are stable: they are stored and returned by the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)+
        }

        impl AuditAction {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }
        }
    };
}

actions! {
    SignedIn => "user.signed_in",
    PasswordChanged => "user.password_changed",
    PasswordReset => "user.password_reset",
    /// The user ended every other session of theirs.
    SessionsEnded => "user.sessions_ended",
    WorkspaceCreated => "workspace.created",
    WorkspaceDeleted => "workspace.deleted",
    OwnershipTransferred => "workspace.ownership_transferred",
    MemberInvited => "member.invited",
    InviteRevoked => "member.invite_revoked",
    MemberJoined => "member.joined",
    MemberRemoved => "member.removed",
    MemberLeft => "member.left",
    RoleChanged => "member.role_changed",
    ApiKeyCreated => "api_key.created",
    ApiKeyRevoked => "api_key.revoked",
    WebhookEndpointCreated => "webhook_endpoint.created",
    /// Enabled or disabled (the detail says which).
    WebhookEndpointChanged => "webhook_endpoint.changed",
    WebhookEndpointRotated => "webhook_endpoint.secret_rotated",
    WebhookEndpointDeleted => "webhook_endpoint.deleted",
    ButtonCreated => "button.created",
    ButtonUpdated => "button.updated",
    ButtonDeleted => "button.deleted",
    ConnectionRevoked => "connection.revoked",
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| ValidationError::new("action", "unknown-audit-action"))
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditActor {
    /// A person signed in to amolink (their address at the time).
    User { id: UserId, email: String },
    /// A tenant's backend through an API key (its name at the time).
    ApiKey { id: ApiKeyId, name: String },
    /// amolink itself (housekeeping).
    System,
}

impl AuditActor {
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::ApiKey { .. } => "api_key",
            Self::System => "system",
        }
    }

    #[must_use]
    pub fn id(&self) -> Option<String> {
        match self {
            Self::User { id, .. } => Some(id.to_string()),
            Self::ApiKey { id, .. } => Some(id.to_string()),
            Self::System => None,
        }
    }

    #[must_use]
    pub fn label(&self) -> &str {
        match self {
            Self::User { email, .. } => email,
            Self::ApiKey { name, .. } => name,
            Self::System => "amolink",
        }
    }
}

/// The person or key behind a request, and the client address it came from. Services that
/// change a workspace take one, record it in the audit trail and, for connections, in their
/// history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: AuditActor,
    pub client: Option<IpAddr>,
}

impl Principal {
    #[must_use]
    pub fn member(member: &Member, client: IpAddr) -> Self {
        Self {
            actor: AuditActor::User {
                id: member.user_id,
                email: member.email.to_string(),
            },
            client: Some(client),
        }
    }

    #[must_use]
    pub fn api_key(caller: &Caller, client: Option<IpAddr>) -> Self {
        Self {
            actor: AuditActor::ApiKey {
                id: caller.key,
                name: caller.name.clone(),
            },
            client,
        }
    }

    #[must_use]
    pub const fn system() -> Self {
        Self {
            actor: AuditActor::System,
            client: None,
        }
    }

    /// How a connection's history names this principal.
    #[must_use]
    pub fn event_actor(&self) -> Actor {
        match &self.actor {
            AuditActor::User { email, .. } => Actor::User(email.clone()),
            AuditActor::ApiKey { name, .. } => Actor::ApiKey(name.clone()),
            AuditActor::System => Actor::Amolink,
        }
    }

    /// The user behind this principal, if it is a person.
    #[must_use]
    pub const fn user(&self) -> Option<UserId> {
        match &self.actor {
            AuditActor::User { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// What an action was done to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget {
    /// `user`, `invite`, `api_key`, `webhook_endpoint`, `button`, `connection` or `workspace`.
    pub kind: &'static str,
    pub id: String,
    /// A human handle for the target at the time (an address, a name, a URL); never a secret.
    pub label: String,
}

impl AuditTarget {
    #[must_use]
    pub fn new(kind: &'static str, id: impl fmt::Display, label: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.to_string(),
            label: label.into(),
        }
    }
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// `None` only for the record of a workspace's deletion, which outlives the workspace.
    pub workspace: Option<WorkspaceId>,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub principal: Principal,
    pub target: Option<AuditTarget>,
    pub detail: Option<Map<String, Value>>,
}

/// A recorded entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub action: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub target_label: Option<String>,
    pub client_ip: Option<String>,
    pub detail: Option<Map<String, Value>>,
}

/// What a listing is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    /// The actor's e-mail / key name, or id.
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A keyset position in the trail, newest first.
pub type AuditCursor = crate::paging::TimeCursor;

/// One page of the trail.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next: Option<AuditCursor>,
}

/// Builds a detail object from pairs.
#[must_use]
pub fn detail<const N: usize>(pairs: [(&str, &str); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            assert!(seen.insert(action.as_str()), "{action}");
            assert_eq!(action.as_str().parse::<AuditAction>().ok(), Some(*action));
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = AuditCursor {
            at_ms: 1_764_000_000_000,
            id: uuid::Uuid::new_v4(),
        };
        assert_eq!(AuditCursor::decode(&cursor.encode()).ok(), Some(cursor));
        for bad in ["", "1", "x.y", "1.not-a-uuid"] {
            assert!(AuditCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
