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
};

/// The event types a tenant can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Created,
    Reconnected,
    NeedsReauth,
    Disconnected,
    Revoked,
}

impl EventType {
    pub const ALL: [Self; 5] = [
        Self::Created,
        Self::Reconnected,
        Self::NeedsReauth,
        Self::Disconnected,
        Self::Revoked,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "connection.created",
            Self::Reconnected => "connection.reconnected",
            Self::NeedsReauth => "connection.needs_reauth",
            Self::Disconnected => "connection.disconnected",
            Self::Revoked => "connection.revoked",
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
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ValidationError::new("events", "unknown event type"))
    }
}

/// A non-empty set of event types, kept in [`EventType::ALL`] order.
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
            chosen.push(name.trim().parse::<EventType>()?);
        }
        let types: Vec<EventType> = EventType::ALL
            .into_iter()
            .filter(|t| chosen.contains(t))
            .collect();
        if types.is_empty() {
            return Err(ValidationError::new(
                "events",
                "Choose at least one event type.",
            ));
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
}

impl OutgoingMessage {
    /// The message announcing `kind` for `connection`, or `None` for kinds that are not
    /// announced.
    #[must_use]
    pub fn for_event(
        kind: EventKind,
        at: DateTime<Utc>,
        connection: &ConnectionSnapshot,
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
        assert_eq!(announced, EventType::ALL.to_vec());
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
