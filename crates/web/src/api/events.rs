//! `/api/v1/events` and `/api/v1/event-settings`: the relayed amoCRM events for tenants who poll
//! rather than receive webhooks, and the workspace's choice of which events to relay.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{
    api_keys::ApiScope,
    relay::{AmoEvent, MAX_FEED_PAGE, RelaySelection, StoredEvent},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{
    caller::ApiCaller,
    connections::timestamp,
    input::{Query, json_body},
    openapi::{ApiMethod, ApiRoute, Operation, Param, Reply},
    schema::{Components, Schema, string_enum},
};
use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

const DEFAULT_LIMIT: u64 = 100;
const CURSOR_PATTERN: &str = "^[0-9]{1,18}$";

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute {
            method: ApiMethod::Get,
            path: "/events",
            scope: Some(ApiScope::Read),
            attach: |route| route.to(list),
            describe: describe_list,
        },
        ApiRoute {
            method: ApiMethod::Get,
            path: "/event-settings",
            scope: Some(ApiScope::Read),
            attach: |route| route.to(get_settings),
            describe: describe_get_settings,
        },
        ApiRoute {
            method: ApiMethod::Put,
            path: "/event-settings",
            scope: Some(ApiScope::Write),
            attach: |route| route.to(put_settings),
            describe: describe_put_settings,
        },
    ]
}

/// A relayed amoCRM event: the JSON delivered to webhook endpoints, with its id, and the item
/// as amoCRM sent it on request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Event)]
pub struct EventBody {
    /// Also the `webhook-id` of its webhook deliveries.
    #[schema(example = "msg_2f6c0e1b9a7d4c3e8f5a6b7c8d9e0f1a")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = event_type_schema)]
    pub kind: String,
    /// When amoCRM delivered it to amolink.
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[schema(format = Uuid)]
    pub connection_id: String,
    /// As in the webhook: account_id, account_subdomain, host, entity, action, entity_id,
    /// fields (amoCRM's values; integers typed where certain) and custom_fields.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// The item exactly as amoCRM sent it (with `include_raw=true`).
    #[schema(value_type = Option<Object>, required = true)]
    pub raw: Option<Value>,
}

impl EventBody {
    fn new(event: &StoredEvent, include_raw: bool) -> Self {
        let mut payload: Map<String, Value> =
            serde_json::from_str(&event.payload).unwrap_or_default();
        let data = match payload.remove("data") {
            Some(Value::Object(data)) => data,
            _ => Map::new(),
        };
        Self {
            id: event.id.to_string(),
            kind: event.event.as_str().to_owned(),
            timestamp: timestamp(event.received_at),
            connection_id: event.connection.to_string(),
            data,
            raw: include_raw.then(|| serde_json::from_str(&event.raw_item).unwrap_or(Value::Null)),
        }
    }
}

fn event_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    string_enum(AmoEvent::all().map(AmoEvent::as_str))
}

fn event_types_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(event_type_schema())
        .description(Some(
            "The amoCRM events relayed from every connected account of the workspace. Accounts \
are subscribed again with the new choice within a minute.",
        ))
        .into()
}

/// One page of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventList {
    #[schema(value_type = Vec<Event>)]
    pub data: Vec<EventBody>,
    /// Pass as `cursor` next time; it moves only past events you have seen, so poll with it
    /// forever. Null only before the first event.
    #[schema(pattern = "^[0-9]{1,18}$", required = true)]
    pub next_cursor: Option<String>,
}

/// The workspace's relay choice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EventSettings)]
pub struct EventSettingsBody {
    #[schema(schema_with = event_types_schema)]
    pub events: Vec<String>,
}

impl From<&RelaySelection> for EventSettingsBody {
    fn from(selection: &RelaySelection) -> Self {
        Self {
            events: selection.names().map(str::to_owned).collect(),
        }
    }
}

fn describe_list(c: &mut Components) -> Operation {
    // The list refers to the event schema: both are components.
    c.reference::<EventBody>();
    let query = Param::optional_query;
    Operation {
        id: "listEvents",
        summary: "Poll relayed amoCRM events",
        description: "The workspace's relayed amoCRM events, oldest first, each once (amoCRM's \
retries and duplicates are removed). Keep the `next_cursor` of each answer and pass it as \
`cursor` next time. Events are kept for 30 days.",
        params: vec![
            query(
                "cursor",
                "`next_cursor` of the previous answer.",
                Schema::string().pattern(CURSOR_PATTERN),
            ),
            query(
                "limit",
                "Page size.",
                Schema::integer()
                    .range(1, i64::try_from(MAX_FEED_PAGE).unwrap_or(i64::MAX))
                    .default_value(json!(DEFAULT_LIMIT)),
            ),
            query(
                "include_raw",
                "Also return each item exactly as amoCRM sent it.",
                Schema::boolean().default_value(json!(false)),
            ),
        ],
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "One page of events.",
            body: Some(c.reference::<EventList>()),
        }],
        errors: Vec::new(),
    }
}

fn describe_get_settings(c: &mut Components) -> Operation {
    Operation {
        id: "getEventSettings",
        summary: "Which amoCRM events are relayed",
        description: "The amoCRM events the workspace relays from its connected accounts.",
        params: Vec::new(),
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "The current choice.",
            body: Some(c.reference::<EventSettingsBody>()),
        }],
        errors: Vec::new(),
    }
}

fn describe_put_settings(c: &mut Components) -> Operation {
    Operation {
        id: "putEventSettings",
        summary: "Choose which amoCRM events are relayed",
        description: "Replaces the choice. An empty list relays nothing (accounts are \
unsubscribed at amoCRM).",
        params: Vec::new(),
        body: Some(c.reference::<EventSettingsBody>()),
        replies: vec![Reply {
            status: 200,
            description: "The saved choice.",
            body: Some(c.reference::<EventSettingsBody>()),
        }],
        errors: Vec::new(),
    }
}

fn invalid(detail: &str) -> ApiError {
    AppError::BadRequest(detail.to_owned()).into()
}

/// `GET /api/v1/events`
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut query = Query::of(&req)?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_FEED_PAGE)?;
    let include_raw = match query.take("include_raw").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(invalid("include_raw: must be true or false")),
    };
    let cursor = query.take("cursor");
    let (events, next) = state
        .relay
        .relay
        .events(caller.workspace, cursor.as_deref(), limit)
        .await?;
    Ok(HttpResponse::Ok().json(EventList {
        data: events
            .iter()
            .map(|e| EventBody::new(e, include_raw))
            .collect(),
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// `GET /api/v1/event-settings`
async fn get_settings(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let selection = state.relay.relay.selection(caller.workspace).await?;
    Ok(HttpResponse::Ok().json(EventSettingsBody::from(&selection)))
}

/// `PUT /api/v1/event-settings`
async fn put_settings(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = json_body::<EventSettingsBody>(&req, payload).await?;
    let selection = state
        .relay
        .relay
        .choose(caller.workspace, body.events.iter().map(String::as_str))
        .await?;
    Ok(HttpResponse::Ok().json(EventSettingsBody::from(&selection)))
}
