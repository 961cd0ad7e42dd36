//! What the relay stores and shows.

use std::{fmt, str::FromStr};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::AmoEvent;
use crate::{
    ValidationError,
    ids::{ConnectionId, InboundId, WorkspaceId},
    webhooks::MessageId,
};

/// The unguessable part of a connection's events URL (`/amocrm/events/{token}`): 256 random bits,
/// base64url. Only its SHA-256 is stored; the token itself exists in amoCRM's subscription.
pub struct DestinationToken(SecretString);

impl fmt::Debug for DestinationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DestinationToken(..)")
    }
}

/// The length of a token's text.
const TOKEN_CHARS: usize = 43;

impl DestinationToken {
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts only what [`DestinationToken::generate`] makes, so junk never reaches storage.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == TOKEN_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(SecretString::from(raw.to_owned())))
    }

    /// The stored form: lowercase hex SHA-256.
    #[must_use]
    pub fn hash(&self) -> String {
        token_hash(self.0.expose_secret())
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// SHA-256 hex of a token's text.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The connection a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    pub connection: ConnectionId,
    pub workspace: WorkspaceId,
    pub account_id: i64,
}

/// A delivery to store, raw.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub id: InboundId,
    pub owner: TokenOwner,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
    /// `X-Amocrm-Requestid`, clipped.
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

/// A stored delivery under this processor's lease.
#[derive(Debug, Clone)]
pub struct ClaimedInbound {
    pub id: InboundId,
    pub lease: String,
    pub owner: TokenOwner,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
    pub attempts: u32,
}

/// One tenant event, ready to store and announce.
#[derive(Debug, Clone)]
pub struct RelayRecord {
    /// Derived from the connection and the dedup key, so processing a delivery twice cannot
    /// make two events (and the id doubles as the `webhook-id`).
    pub id: MessageId,
    pub event: AmoEvent,
    pub entity_id: Option<i64>,
    pub dedup_key: String,
    /// The exact JSON delivered to endpoints and served by the API.
    pub payload: String,
    /// The item as amoCRM sent it, as JSON text.
    pub raw_item: String,
}

/// What processing a delivery came to.
#[derive(Debug, Clone)]
pub enum InboundOutcome {
    /// Its events (possibly none new); stored with their dedup keys and announced in one go.
    Processed(Vec<RelayRecord>),
    /// Not an event body; kept for inspection, never retried.
    Rejected(String),
}

/// The result of processing one claimed delivery.
#[derive(Debug, Clone)]
pub struct ProcessedInbound {
    pub id: InboundId,
    pub lease: String,
    pub owner: TokenOwner,
    pub received_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub outcome: InboundOutcome,
}

/// A stored tenant event, as the API serves it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: MessageId,
    pub connection: ConnectionId,
    pub event: AmoEvent,
    pub entity_id: Option<i64>,
    pub payload: String,
    pub raw_item: String,
    pub received_at: DateTime<Utc>,
}

/// A position in the event feed: the `seq` of the last event seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor(pub i64);

impl EventCursor {
    #[must_use]
    pub fn encode(self) -> String {
        self.0.to_string()
    }

    /// # Errors
    /// When the cursor was not produced by [`EventCursor::encode`].
    pub fn decode(raw: &str) -> Result<Self, ValidationError> {
        raw.parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .map(Self)
            .ok_or_else(|| ValidationError::new("cursor", "cursor-invalid"))
    }
}

/// Where an account's subscription at amoCRM stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// To be (re)subscribed by the subscription worker.
    Pending,
    /// amoCRM has the hook and it is enabled.
    Subscribed,
    /// amoCRM switched the hook off; amolink re-arms it.
    Paused,
    /// amoCRM refused the subscription for a reason retrying does not fix (no admin rights, a
    /// plan without API webhooks). Checked again rarely, and at every reconnect.
    Failed,
    /// Removed at amoCRM (revoked, disconnected, or nothing chosen to relay).
    Unsubscribed,
}

impl SubscriptionStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Subscribed,
        Self::Paused,
        Self::Failed,
        Self::Unsubscribed,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Subscribed => "subscribed",
            Self::Paused => "paused",
            Self::Failed => "failed",
            Self::Unsubscribed => "unsubscribed",
        }
    }
}

impl FromStr for SubscriptionStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", "unknown-subscription-status"))
    }
}

/// A connection's subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub connection: ConnectionId,
    pub workspace: WorkspaceId,
    pub status: SubscriptionStatus,
    pub reason: Option<String>,
    pub token_hash: Option<String>,
    /// The `settings` codes last subscribed.
    pub settings: Vec<String>,
    pub amocrm_webhook_id: Option<i64>,
    pub failures: u32,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub next_check_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub gap_from: Option<DateTime<Utc>>,
    pub gap_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscription under the worker's lease.
#[derive(Debug, Clone)]
pub struct ClaimedSubscription {
    pub lease: String,
    pub subscription: Subscription,
}

/// Counts from one drain of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Deliveries (or subscriptions) handled.
    pub handled: usize,
    /// New tenant events.
    pub events: usize,
    /// Deliveries that were not event bodies.
    pub rejected: usize,
}

impl RelayRecord {
    /// The event id for `dedup_key` on `connection`.
    #[must_use]
    pub fn id_for(connection: ConnectionId, dedup_key: &str) -> MessageId {
        let mut hasher = Sha256::new();
        hasher.update(connection.as_uuid().as_bytes());
        hasher.update(dedup_key.as_bytes());
        let digest = hex::encode(hasher.finalize());
        MessageId::from_stored(format!("msg_{}", &digest[..32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_strict_and_hash_stably() {
        let token = DestinationToken::generate();
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        let again = DestinationToken::parse(token.expose()).expect("round-trips");
        assert_eq!(again.hash(), token.hash());
        assert_eq!(token.hash().len(), 64);
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(21),
        ] {
            assert!(DestinationToken::parse(bad).is_none(), "{bad}");
        }
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn event_ids_are_per_connection_and_key() {
        let (a, b) = (ConnectionId::random(), ConnectionId::random());
        assert_eq!(RelayRecord::id_for(a, "k"), RelayRecord::id_for(a, "k"));
        assert_ne!(RelayRecord::id_for(a, "k"), RelayRecord::id_for(b, "k"));
        assert_ne!(RelayRecord::id_for(a, "k"), RelayRecord::id_for(a, "l"));
        assert!(RelayRecord::id_for(a, "k").as_str().starts_with("msg_"));
    }

    #[test]
    fn cursors_refuse_garbage() {
        assert_eq!(EventCursor::decode("42"), Ok(EventCursor(42)));
        for bad in ["", "-1", "x", "1.5"] {
            assert!(EventCursor::decode(bad).is_err());
        }
    }
}
