//! Endpoints and deliveries as stored and as shown.

use chrono::{DateTime, Utc};

use super::{EndpointUrl, EventType, EventTypes, MessageId};
use crate::{
    ValidationError,
    ids::{ConnectionId, WorkspaceId},
    text::text_enum,
};

pub use crate::ids::{DeliveryId, EndpointId};

/// The sealed secret columns; each name is part of its ciphertext's AEAD binding, so a secret
/// cannot be moved between columns, rows or workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    Current,
    Previous,
}

impl SecretColumn {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Current => "webhook_endpoints.secret",
            Self::Previous => "webhook_endpoints.previous_secret",
        }
    }
}

/// An endpoint as stored: secrets still sealed.
#[derive(Debug, Clone)]
pub struct EndpointRecord {
    pub id: EndpointId,
    pub workspace: WorkspaceId,
    pub url: EndpointUrl,
    pub events: EventTypes,
    /// Sealed `whsec_…` text.
    pub secret: String,
    /// The secret before the last rotation, sealed, and until when it still signs.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl EndpointRecord {
    /// The previous secret, if it still signs at `now`.
    #[must_use]
    pub fn overlapping_secret(&self, now: DateTime<Utc>) -> Option<&str> {
        match (&self.previous_secret, self.previous_secret_until) {
            (Some(sealed), Some(until)) if until > now => Some(sealed),
            _ => None,
        }
    }
}

/// An endpoint as the settings pages show it: no secret at all.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: String,
    pub events: EventTypes,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When a rotation's overlap ends (the old secret stops signing), if one is running.
    pub rotation_ends_at: Option<DateTime<Utc>>,
}

impl Endpoint {
    #[must_use]
    pub fn from_record(record: &EndpointRecord, now: DateTime<Utc>) -> Self {
        Self {
            id: record.id,
            url: record.url.as_str().to_owned(),
            events: record.events.clone(),
            enabled: record.enabled,
            disabled_reason: record.disabled_reason.clone(),
            last_success_at: record.last_success_at,
            created_at: record.created_at,
            rotation_ends_at: record
                .overlapping_secret(now)
                .and(record.previous_secret_until),
        }
    }
}

/// A new secret replacing the current one; the old one keeps signing until `previous_until`.
#[derive(Debug, Clone)]
pub struct SecretRotation {
    pub secret: String,
    pub previous_secret: String,
    pub previous_until: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt.
        Pending,
        /// The endpoint answered 2xx.
        Delivered,
        /// Every attempt failed, or the endpoint answered 410 Gone.
        Failed,
    }
    unknown(_text) => ValidationError::new("status", "unknown-delivery-status");
}

/// One row of an endpoint's delivery log.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub message_id: MessageId,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer; `None` when none came (timeout, refused, …).
    pub last_response_status: Option<u16>,
    /// Why the last attempt failed, in a few words (never the response body).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The log as shown (the same data; a separate name keeps pages independent of storage).
pub type DeliveryView = DeliveryRecord;

/// Deliveries reserved for one worker, and the database's clock at the time.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Used as `webhook-timestamp`: receivers compare it with real time (±5 min), so it comes
    /// from the database every instance shares rather than from an instance's own clock.
    pub database_now: DateTime<Utc>,
    pub deliveries: Vec<ClaimedDelivery>,
}

/// A delivery under this worker's lease, with what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    /// The lease token; finishing the attempt is a compare-and-set on it.
    pub lease: String,
    pub message_id: MessageId,
    pub event_type: EventType,
    pub payload: String,
    /// The connection the message is about (its activity records the attempt).
    pub connection: Option<ConnectionId>,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub endpoint: EndpointRecord,
}

/// What an attempt changes about its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChange {
    None,
    /// Record the success time.
    Succeeded,
    /// Stop sending to it (410 Gone, or a day of failures), with the reason shown to the tenant.
    Disable(String),
}

/// The result of one attempt, to store.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    pub delivery: DeliveryId,
    pub lease: String,
    pub workspace: WorkspaceId,
    pub endpoint: EndpointId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    pub endpoint_change: EndpointChange,
}
