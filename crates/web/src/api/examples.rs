//! Examples for the API reference, made from the same schemas and code that serve the API: a
//! request body or response is an instance of its documented schema, a curl line is built from
//! the route table, and a webhook payload is what the outbox or the relay would send.
//!
//! Hand-written because no maintained crate instantiates an OpenAPI 3.0 schema (the example
//! generators that exist target JSON Schema 2020-12 or need a running mock server); the subset
//! handled is the one `schema.rs` and utoipa's derives produce.

use chrono::{DateTime, Utc};
use domain::{
    amo::Platform,
    connections::{ConnectionStatus, EventKind},
    ids::ConnectionId,
    webhooks::{ConnectionSnapshot, EventType, OutgoingMessage},
};
use serde_json::{Map, Value, json};
use strum::VariantArray as _;

use super::openapi::{ApiMethod, In, Param};

/// One fixed moment, so the page does not change between loads.
fn example_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T09:30:00.000Z")
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_default()
}

const EXAMPLE_UUID: &str = "0b6c5a8e-3f5d-4a63-9d0e-6f1c2b7a9e41";

/// An instance of `schema`; `$ref`s are looked up in `schemas` (the document's components).
#[must_use]
pub fn instance(schema: &Value, schemas: &Map<String, Value>) -> Value {
    instance_at(schema, schemas, 0)
}

fn instance_at(schema: &Value, schemas: &Map<String, Value>, depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return schemas
            .get(name)
            .map_or(Value::Null, |s| instance_at(s, schemas, depth + 1));
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return first.clone();
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(combinator)
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return instance_at(first, schemas, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // `["string", "null"]`: the first type that is not null.
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    let value = named(name, property)
                        .unwrap_or_else(|| instance_at(property, schemas, depth + 1));
                    object.insert(name.clone(), value);
                }
            }
            Value::Object(object)
        }
        "array" => schema.get("items").map_or_else(
            || json!([]),
            |items| json!([instance_at(items, schemas, depth + 1)]),
        ),
        "string" => Value::from(string_instance(schema)),
        "integer" => schema
            .get("minimum")
            .cloned()
            .filter(|m| m.as_i64().is_some_and(|m| m > 0))
            .unwrap_or_else(|| json!(1)),
        "number" => json!(1.5),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

/// Realistic values for the fields whose name says more than their schema.
fn named(name: &str, schema: &Value) -> Option<Value> {
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    Some(match name {
        "host" => json!("acme.amocrm.ru"),
        "account_name" => json!("Acme"),
        "account_id" => json!(29_847_561),
        "expires_in" => json!(86_400),
        "api_base_url" => json!("https://acme.amocrm.ru"),
        "access_token" => json!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiIw…"),
        "metadata" => json!({"plan": "pro"}),
        "actor" => json!("ann@example.com"),
        "path" => json!("/api/v4/leads"),
        "last_error" | "status_reason" | "reason" if nullable => Value::Null,
        _ => return None,
    })
}

fn string_instance(schema: &Value) -> String {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let pattern = schema.get("pattern").and_then(Value::as_str).unwrap_or("");
    match format {
        "uuid" => return EXAMPLE_UUID.to_owned(),
        "date-time" => return "2026-12-01T09:30:00Z".to_owned(),
        "uri" => return "https://acme.amocrm.ru".to_owned(),
        _ => {}
    }
    if pattern.starts_with("^msg_") {
        return "msg_2f6c0e1b9a7d4c3e8f5a6b7c8d9e0f1a".to_owned();
    }
    // The keyset cursors: `{millis}.{uuid}`.
    if pattern.starts_with(r"^[0-9]{1,15}\.") {
        return format!("1764581400000.{EXAMPLE_UUID}");
    }
    if pattern.starts_with("^[0-9]+$") || pattern.starts_with(r"^[0-9]{1,") {
        return "42".to_owned();
    }
    "customer-42".to_owned()
}

/// A curl command for one route: its method, an example URL with path parameters filled and
/// required query parameters set, the key header when the route needs one, and `body`.
#[must_use]
pub fn curl(
    base_url: &str,
    method: ApiMethod,
    path: &str,
    params: &[Param],
    needs_key: bool,
    body: Option<&Value>,
) -> String {
    let mut url = format!("{base_url}{path}");
    for param in params.iter().filter(|p| p.location == In::Path) {
        // The proxy's `{path}` is an amoCRM API path; every other path parameter is an id.
        let value = if param.name == "path" {
            "api/v4/leads"
        } else {
            EXAMPLE_UUID
        };
        url = url.replace(&format!("{{{}}}", param.name), value);
    }
    let query: Vec<String> = params
        .iter()
        .filter(|p| p.location == In::Query && p.required)
        .map(|p| format!("{}={}", p.name, string_instance(&p.schema.0)))
        .collect();
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let mut lines = vec![match method {
        ApiMethod::Get => format!("curl '{url}'"),
        other => format!("curl -X {} '{url}'", other.as_str()),
    }];
    if needs_key {
        lines.push("  -H \"Authorization: Bearer $AMOLINK_API_KEY\"".to_owned());
    }
    if let Some(body) = body {
        lines.push("  -H 'Content-Type: application/json'".to_owned());
        let text = serde_json::to_string(body).unwrap_or_default();
        lines.push(format!("  -d '{}'", text.replace('\'', r"'\''")));
    }
    lines.join(" \\\n")
}

/// One event a tenant webhook endpoint can receive, with a payload as amolink sends it.
#[derive(Debug)]
pub struct EventExample {
    pub name: &'static str,
    /// Pretty-printed JSON body.
    pub payload: String,
}

fn pretty(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| raw.to_owned())
}

/// The connection every connection-event example is about.
fn example_connection() -> ConnectionSnapshot {
    ConnectionSnapshot {
        id: ConnectionId::from_uuid(uuid::Uuid::parse_str(EXAMPLE_UUID).unwrap_or_default()),
        platform: Platform::AmoCrm,
        account_id: 29_847_561,
        account_name: "Acme".to_owned(),
        host: "acme.amocrm.ru".to_owned(),
        status: ConnectionStatus::Active,
        end_user_id: Some("customer-42".to_owned()),
        metadata: Some(r#"{"plan":"pro"}"#.to_owned()),
    }
}

/// A lead moved to another stage, in amoCRM's wire format (amocrm-webhooks.md §2.4).
const STATUS_CHANGE: &[(&str, &str)] = &[
    ("account[subdomain]", "acme"),
    ("account[id]", "29847561"),
    ("account[_links][self]", "https://acme.amocrm.ru"),
    ("leads[status][0][id]", "33812045"),
    ("leads[status][0][name]", "Order #1182"),
    ("leads[status][0][status_id]", "142"),
    ("leads[status][0][old_status_id]", "61457203"),
    ("leads[status][0][price]", "25000"),
    ("leads[status][0][responsible_user_id]", "8120331"),
    ("leads[status][0][pipeline_id]", "7211390"),
    ("leads[status][0][account_id]", "29847561"),
    ("leads[status][0][custom_fields][0][id]", "1118164"),
    ("leads[status][0][custom_fields][0][name]", "Source"),
    (
        "leads[status][0][custom_fields][0][values][0][value]",
        "Website",
    ),
    ("leads[status][0][created_at]", "1760950012"),
    ("leads[status][0][updated_at]", "1761037455"),
];

/// Every event type with an example payload: connection events and the test event as the
/// outbox builds them, and one relayed amoCRM event as the relay normalises it (every
/// `amocrm.<entity>.<action>` has that shape).
#[must_use]
pub fn events() -> Vec<EventExample> {
    let at = example_time();
    let connection = example_connection();
    let mut out = Vec::new();
    for kind in EventKind::VARIANTS {
        let detail = (*kind == EventKind::EventsPaused)
            .then_some("amoCRM switched the account's webhook off after repeated failures");
        if let Some(message) = OutgoingMessage::for_event_with(*kind, at, &connection, detail)
            && !out
                .iter()
                .any(|e: &EventExample| e.name == message.event_type.as_str())
        {
            out.push(EventExample {
                name: message.event_type.as_str(),
                payload: pretty(&message.payload),
            });
        }
    }
    let test = OutgoingMessage::test(EXAMPLE_UUID, at);
    out.push(EventExample {
        name: EventType::Test.as_str(),
        payload: pretty(&test.payload),
    });
    let pairs: Vec<(String, String)> = STATUS_CHANGE
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let body = domain::relay::form::encode(&pairs);
    if let Ok(normalised) = domain::relay::normalise(body.as_bytes())
        && let Some(event) = normalised.events.first()
    {
        out.push(EventExample {
            name: event.event.as_str(),
            payload: pretty(&domain::relay::tenant_payload(
                connection.id,
                at,
                &normalised,
                event,
            )),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_of_a_connection_has_an_example() {
        let names: Vec<&str> = events().iter().map(|e| e.name).collect();
        for expected in [
            "connection.created",
            "connection.revoked",
            "connection.needs_reauth",
            "connection.events_paused",
            "webhook.test",
            "amocrm.lead.status_changed",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
    }

    #[test]
    fn curl_fills_the_path_and_quotes_the_body() {
        let line = curl(
            "https://amolink.example",
            ApiMethod::Post,
            "/api/v1/connect-sessions",
            &[],
            true,
            Some(&json!({"end_user_id": "it's"})),
        );
        assert!(line.starts_with("curl -X POST 'https://amolink.example/api/v1/connect-sessions'"));
        assert!(line.contains(r#"-d '{"end_user_id":"it'\''s"}'"#), "{line}");
    }
}
