//! What a webhook says: its event type, its id, and the exact JSON bytes.
//!
//! The payload carries the connection's metadata only — never a token or secret — and is built
//! once, when the event is recorded, so every attempt and every endpoint sends the same bytes.

use std::{fmt, str::FromStr};

use amocrm::Platform;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::{
    ValidationError,
    connections::{ConnectionStatus, EventKind},
    ids::ConnectionId,
    relay::AmoEvent,
};

/// The event types a tenant can subscribe to: what happens to connections, and the amoCRM
/// events relayed from connected accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Created,
    Reconnected,
    NeedsReauth,
    Disconnected,
    Revoked,
    /// amoCRM switched the account's event subscription off (or refused it); see the reason.
    EventsPaused,
    /// A relayed amoCRM event, `amocrm.<entity>.<action>`.
    AmoCrm(AmoEvent),
    /// `webhook.test`: sent on request from the endpoint's page to that endpoint alone, whatever
    /// it subscribed to. Not subscribable, so not in [`EventType::all`].
    Test,
}

impl EventType {
    /// The connection event types, in the order pages list them.
    pub const CONNECTION: [Self; 6] = [
        Self::Created,
        Self::Reconnected,
        Self::NeedsReauth,
        Self::Disconnected,
        Self::Revoked,
        Self::EventsPaused,
    ];

    /// Every type: the connection ones, then the relayed amoCRM ones.
    pub fn all() -> impl Iterator<Item = Self> {
        Self::CONNECTION
            .into_iter()
            .chain(AmoEvent::all().map(Self::AmoCrm))
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "connection.created",
            Self::Reconnected => "connection.reconnected",
            Self::NeedsReauth => "connection.needs_reauth",
            Self::Disconnected => "connection.disconnected",
            Self::Revoked => "connection.revoked",
            Self::EventsPaused => "connection.events_paused",
            Self::AmoCrm(event) => event.as_str(),
            Self::Test => "webhook.test",
        }
    }

    /// A short explanation for the settings page.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::Created => "an account was connected for the first time",
            Self::Reconnected => "an account was connected again",
            Self::NeedsReauth => "amoCRM refused the credentials; an admin must reconnect",
            Self::Disconnected => "amoCRM reported the integration disabled or uninstalled",
            Self::Revoked => "someone in your workspace revoked the connection",
            Self::EventsPaused => {
                "amoCRM stopped sending the account's events (amolink re-arms them)"
            }
            Self::AmoCrm(_) => "relayed from the connected amoCRM account",
            Self::Test => "a test someone in your workspace sent from the endpoint's page",
        }
    }

    /// The webhook announcing a connection event, if that kind is announced at all (token
    /// refreshes and the like are internal).
    #[must_use]
    pub const fn for_event(kind: EventKind) -> Option<Self> {
        match kind {
            EventKind::Connected => Some(Self::Created),
            EventKind::Reconnected => Some(Self::Reconnected),
            EventKind::NeedsReauth => Some(Self::NeedsReauth),
            EventKind::Disconnected => Some(Self::Disconnected),
            EventKind::Revoked => Some(Self::Revoked),
            EventKind::EventsPaused => Some(Self::EventsPaused),
            _ => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(found) = Self::CONNECTION.into_iter().find(|t| t.as_str() == s) {
            return Ok(found);
        }
        if s == Self::Test.as_str() {
            return Ok(Self::Test);
        }
        s.parse::<AmoEvent>()
            .map(Self::AmoCrm)
            .map_err(|_| ValidationError::new("events", "unknown-event-type"))
    }
}

/// A non-empty set of event types, kept in [`EventType::all`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventType>);

impl EventTypes {
    /// Parses the names a tenant ticked.
    ///
    /// # Errors
    /// When none is given or a name is unknown.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ValidationError> {
        let mut chosen = Vec::new();
        for name in names {
            match name.trim().parse::<EventType>()? {
                EventType::Test => {
                    return Err(ValidationError::new("events", "unknown-event-type"));
                }
                event => chosen.push(event),
            }
        }
        let types: Vec<EventType> = EventType::all().filter(|t| chosen.contains(t)).collect();
        if types.is_empty() {
            return Err(ValidationError::new("events", "event-types-missing"));
        }
        Ok(Self(types))
    }

    /// Reads the stored comma-separated form.
    ///
    /// # Errors
    /// As [`EventTypes::parse`].
    pub fn from_stored(raw: &str) -> Result<Self, ValidationError> {
        Self::parse(raw.split(',').filter(|s| !s.is_empty()))
    }

    /// The stored form: `connection.created,connection.revoked`.
    #[must_use]
    pub fn to_stored(&self) -> String {
        self.names().collect::<Vec<_>>().join(",")
    }

    #[must_use]
    pub fn contains(&self, event: EventType) -> bool {
        self.0.contains(&event)
    }

    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|t| t.as_str())
    }
}

/// The `webhook-id` of one message: `msg_` and 128 random bits. It stays the same across retries
/// and replays, so receivers can deduplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    #[must_use]
    pub fn random() -> Self {
        Self(format!("msg_{}", uuid::Uuid::new_v4().simple()))
    }

    /// Wraps an id read back from storage.
    #[must_use]
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a webhook tells about a connection: metadata only.
#[derive(Debug, Clone)]
pub struct ConnectionSnapshot {
    pub id: ConnectionId,
    pub platform: Platform,
    pub account_id: i64,
    pub account_name: String,
    pub host: String,
    pub status: ConnectionStatus,
    pub end_user_id: Option<String>,
    /// The tenant's own metadata as stored (JSON text), if any.
    pub metadata: Option<String>,
}

/// A message ready to store in the outbox.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub id: MessageId,
    pub event_type: EventType,
    /// The exact bytes every attempt signs and sends.
    pub payload: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    id: String,
    platform: String,
    account_id: i64,
    account_name: &'a str,
    host: &'a str,
    status: &'static str,
    end_user_id: Option<&'a str>,
    metadata: serde_json::Value,
    /// Why, for `connection.events_paused` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct TestEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: TestData<'a>,
}

#[derive(Serialize)]
struct TestData<'a> {
    endpoint_id: &'a str,
    message: &'static str,
}

impl OutgoingMessage {
    /// A `webhook.test` message for one endpoint: signed and delivered like any other, about no
    /// connection.
    #[must_use]
    pub fn test(endpoint_id: &str, at: DateTime<Utc>) -> Self {
        let envelope = TestEnvelope {
            kind: EventType::Test.as_str(),
            timestamp: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            data: TestData {
                endpoint_id,
                message: "A test event from amolink: your endpoint receives and verifies webhooks.",
            },
        };
        Self {
            id: MessageId::random(),
            event_type: EventType::Test,
            // Serialising plain strings cannot fail.
            payload: serde_json::to_string(&envelope).unwrap_or_default(),
        }
    }

    /// The message announcing `kind` for `connection`, or `None` for kinds that are not
    /// announced.
    #[must_use]
    pub fn for_event(
        kind: EventKind,
        at: DateTime<Utc>,
        connection: &ConnectionSnapshot,
    ) -> Option<Self> {
        Self::for_event_with(kind, at, connection, None)
    }

    /// [`OutgoingMessage::for_event`] with the event's detail, which `connection.events_paused`
    /// carries as `reason`.
    #[must_use]
    pub fn for_event_with(
        kind: EventKind,
        at: DateTime<Utc>,
        connection: &ConnectionSnapshot,
        detail: Option<&str>,
    ) -> Option<Self> {
        let event_type = EventType::for_event(kind)?;
        // Metadata is the tenant's JSON; text that is somehow not JSON is passed on as a string
        // rather than dropped.
        let metadata = connection
            .metadata
            .as_deref()
            .map_or(serde_json::Value::Null, |raw| {
                serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.into()))
            });
        let envelope = Envelope {
            kind: event_type.as_str(),
            timestamp: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            data: Data {
                id: connection.id.to_string(),
                platform: connection.platform.to_string(),
                account_id: connection.account_id,
                account_name: &connection.account_name,
                host: &connection.host,
                status: connection.status.as_str(),
                end_user_id: connection.end_user_id.as_deref(),
                metadata,
                reason: detail.filter(|_| event_type == EventType::EventsPaused),
            },
        };
        // Serialising plain strings and numbers cannot fail.
        let payload = serde_json::to_string(&envelope).ok()?;
        Some(Self {
            id: MessageId::random(),
            event_type,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> ConnectionSnapshot {
        ConnectionSnapshot {
            id: ConnectionId::from_uuid(uuid::Uuid::from_u128(7)),
            platform: Platform::AmoCrm,
            account_id: 31_000_001,
            account_name: "Рога и копыта".into(),
            host: "demo.amocrm.ru".into(),
            status: ConnectionStatus::Active,
            end_user_id: None,
            metadata: Some(r#"{"plan":"pro"}"#.into()),
        }
    }

    #[test]
    fn payload_has_the_contract_shape() {
        let at = DateTime::from_timestamp(1_764_000_000, 0).expect("valid");
        let message =
            OutgoingMessage::for_event(EventKind::Connected, at, &snapshot()).expect("announced");
        assert!(message.id.as_str().starts_with("msg_"));
        assert_eq!(message.event_type, EventType::Created);
        let json: serde_json::Value = serde_json::from_str(&message.payload).expect("json");
        assert_eq!(json["type"], "connection.created");
        assert_eq!(json["timestamp"], "2025-11-24T16:00:00.000Z");
        let data = &json["data"];
        assert_eq!(data["id"], "00000000-0000-0000-0000-000000000007");
        assert_eq!(data["platform"], "amocrm");
        assert_eq!(data["account_id"], 31_000_001);
        assert_eq!(data["account_name"], "Рога и копыта");
        assert_eq!(data["host"], "demo.amocrm.ru");
        assert_eq!(data["status"], "active");
        assert!(data["end_user_id"].is_null());
        assert_eq!(data["metadata"]["plan"], "pro");
        assert!(
            message
                .payload
                .starts_with(r#"{"type":"connection.created","#)
        );
    }

    #[test]
    fn only_lifecycle_events_are_announced() {
        let at = Utc::now();
        let announced: Vec<EventType> = [
            EventKind::SecretsReceived,
            EventKind::Connected,
            EventKind::Reconnected,
            EventKind::Refreshed,
            EventKind::RefreshFailed,
            EventKind::NeedsReauth,
            EventKind::Disconnected,
            EventKind::Revoked,
        ]
        .into_iter()
        .filter_map(|kind| OutgoingMessage::for_event(kind, at, &snapshot()))
        .map(|m| m.event_type)
        .collect();
        assert_eq!(announced, EventType::CONNECTION[..5].to_vec());
    }

    #[test]
    fn event_type_sets_parse_dedupe_and_round_trip() {
        let set = EventTypes::parse([
            "connection.revoked",
            "connection.created",
            "connection.revoked",
        ])
        .expect("valid");
        assert_eq!(set.to_stored(), "connection.created,connection.revoked");
        assert_eq!(EventTypes::from_stored(&set.to_stored()), Ok(set.clone()));
        assert!(set.contains(EventType::Revoked) && !set.contains(EventType::NeedsReauth));
        assert!(EventTypes::parse([]).is_err());
        assert!(EventTypes::parse(["connection.refreshed"]).is_err());
    }
}
