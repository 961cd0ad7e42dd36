//! Activity entries and how listings are narrowed.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};

use crate::{
    ValidationError,
    ids::{ConnectionId, WorkspaceId},
};

/// What kind of thing happened. The codes are stable: they are stored and returned by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    /// A tenant's call through the proxy.
    ProxyCall,
    /// An attempt to refresh the connection's tokens at amoCRM.
    Refresh,
    /// An access token handed to the tenant (or refused).
    TokenVended,
    /// An attempt to deliver a webhook about the connection to a tenant endpoint.
    WebhookDelivery,
}

impl ActivityKind {
    pub const ALL: [Self; 4] = [
        Self::ProxyCall,
        Self::Refresh,
        Self::TokenVended,
        Self::WebhookDelivery,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProxyCall => "proxy_call",
            Self::Refresh => "refresh",
            Self::TokenVended => "token_vended",
            Self::WebhookDelivery => "webhook_delivery",
        }
    }
}

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActivityKind {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ValidationError::new("kind", "unknown-activity-kind"))
    }
}

/// A class of HTTP statuses a listing can be narrowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub const ALL: [Self; 3] = [Self::Success, Self::ClientError, Self::ServerError];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        }
    }

    /// The statuses of the class, `[low, high)`.
    #[must_use]
    pub const fn range(self) -> (u16, u16) {
        match self {
            Self::Success => (200, 300),
            Self::ClientError => (400, 500),
            Self::ServerError => (500, 600),
        }
    }
}

impl FromStr for StatusClass {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|class| class.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", "status-class-unknown"))
    }
}

/// The longest path stored; longer ones are cut (amoCRM's own paths are far shorter).
const MAX_PATH: usize = 255;

/// A request path as activity stores it: without the query (its values may be personal data or
/// secrets) and at most 255 characters.
#[must_use]
pub fn path_without_query(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.chars().take(MAX_PATH).collect()
}

/// An entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub workspace: WorkspaceId,
    pub connection: ConnectionId,
    pub at: DateTime<Utc>,
    pub kind: ActivityKind,
    /// The HTTP method of a proxied call.
    pub method: Option<String>,
    /// The path of a proxied call (see [`path_without_query`]), or the event type of a webhook.
    pub path: Option<String>,
    /// The HTTP status: amoCRM's (relayed) or amolink's own answer for a proxied call or a
    /// vended token, the endpoint's for a webhook; none for a refresh or a failed connection.
    pub status: Option<u16>,
    /// A short stable code: `relayed`, `refused`, `refreshed`, `needs_reauth`, `delivered`…
    pub outcome: &'static str,
    /// Until amoCRM's (or the endpoint's) answer started.
    pub latency_ms: Option<u32>,
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
}

impl NewActivity {
    /// An entry with only the essentials; the rest is filled in by the caller.
    #[must_use]
    pub fn new(
        workspace: WorkspaceId,
        connection: ConnectionId,
        at: DateTime<Utc>,
        kind: ActivityKind,
        outcome: &'static str,
    ) -> Self {
        Self {
            workspace,
            connection,
            at,
            kind,
            method: None,
            path: None,
            status: None,
            outcome,
            latency_ms: None,
            request_bytes: None,
            response_bytes: None,
        }
    }
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub outcome: String,
    pub latency_ms: Option<u32>,
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
}

/// What a listing is narrowed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    pub kind: Option<ActivityKind>,
    pub status: Option<StatusClass>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
}

/// A keyset position in the activity, newest first.
pub type ActivityCursor = crate::paging::TimeCursor;

/// One page of a connection's activity.
#[derive(Debug, Clone, Default)]
pub struct ActivityPage {
    pub items: Vec<ActivityEntry>,
    pub next: Option<ActivityCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for kind in ActivityKind::ALL {
            assert_eq!(kind.as_str().parse::<ActivityKind>().ok(), Some(kind));
        }
        for class in StatusClass::ALL {
            assert_eq!(class.as_str().parse::<StatusClass>().ok(), Some(class));
        }
        assert!("3xx".parse::<StatusClass>().is_err());
        assert!("proxy".parse::<ActivityKind>().is_err());
    }

    #[test]
    fn paths_lose_their_query_and_fragment() {
        assert_eq!(
            path_without_query("/api/v4/leads?query=secret&x=1"),
            "/api/v4/leads"
        );
        assert_eq!(path_without_query("/api/v4/leads#frag"), "/api/v4/leads");
        assert_eq!(path_without_query(&"a".repeat(400)).len(), 255);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = ActivityCursor {
            at_ms: 1_764_000_000_000,
            id: uuid::Uuid::new_v4(),
        };
        assert_eq!(ActivityCursor::decode(&cursor.encode()).ok(), Some(cursor));
        for bad in ["", "1", "x.y", "1.not-a-uuid"] {
            assert!(ActivityCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
