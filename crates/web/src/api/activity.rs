//! `GET /api/v1/connections/{id}/activity`: what a connection did — proxied calls, refresh
//! attempts, vended tokens, webhook delivery attempts — newest first, in keyset pages.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{
    activity::{
        ActivityEntry, ActivityFilter, ActivityKind, ActivityPage, MAX_ACTIVITY_PAGE, StatusClass,
    },
    api_keys::ApiScope,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    caller::ApiCaller,
    connections::{connection_id, timestamp},
    input::Query,
    openapi::{ApiMethod, ApiRoute, In, Operation, Param, Reply},
    schema::{Components, Schema, string_enum},
};
use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

const DEFAULT_LIMIT: u64 = 50;
/// The keyset cursor's text form (`{millis}.{uuid}`).
const CURSOR_PATTERN: &str =
    "^[0-9]{1,15}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// The query parameters the route knows.
const KNOWN: [&str; 6] = ["kind", "status", "from", "to", "cursor", "limit"];

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute {
        method: ApiMethod::Get,
        path: "/connections/{id}/activity",
        scope: Some(ApiScope::Read),
        attach: |route| route.to(list),
        describe: describe_list,
    }]
}

/// One thing a connection did. Metadata only: never a query value, a body, a token or a secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ActivityEntry)]
pub struct ActivityBody {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// `proxy_call`, `refresh`, `token_vended` or `webhook_delivery`.
    #[schema(schema_with = kind_schema)]
    pub kind: String,
    /// The HTTP method of a proxied call.
    #[schema(required = true)]
    pub method: Option<String>,
    /// A proxied call's path without its query, or a webhook delivery's event type.
    #[schema(required = true)]
    pub path: Option<String>,
    /// The HTTP status: amoCRM's (relayed) or amolink's own answer for a proxied call or a
    /// vended token, the endpoint's for a webhook delivery; null for a refresh.
    #[schema(required = true, minimum = 100, maximum = 599)]
    pub status: Option<u16>,
    /// What came of it: `relayed` or `refused` (proxy), `refreshed`, `retrying`,
    /// `needs_reauth`, `superseded` or `discarded` (refresh), `vended` or `refused` (token),
    /// `delivered`, `retrying` or `failed` (webhook).
    pub outcome: String,
    /// Milliseconds until amoCRM's (or the endpoint's) answer began.
    #[schema(required = true, minimum = 0)]
    pub latency_ms: Option<u32>,
    #[schema(required = true, minimum = 0)]
    pub request_bytes: Option<u64>,
    #[schema(required = true, minimum = 0)]
    pub response_bytes: Option<u64>,
}

fn kind_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    string_enum(ActivityKind::ALL.iter().map(|k| k.as_str()))
}

impl From<&ActivityEntry> for ActivityBody {
    fn from(e: &ActivityEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: timestamp(e.at),
            kind: e.kind.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            outcome: e.outcome.clone(),
            latency_ms: e.latency_ms,
            request_bytes: e.request_bytes,
            response_bytes: e.response_bytes,
        }
    }
}

/// One page of a connection's activity.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ActivityList)]
pub struct ActivityList {
    #[schema(value_type = Vec<ActivityEntry>)]
    pub data: Vec<ActivityBody>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(
        pattern = r"^[0-9]{1,15}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        required = true
    )]
    pub next_cursor: Option<String>,
}

impl From<&ActivityPage> for ActivityList {
    fn from(page: &ActivityPage) -> Self {
        Self {
            data: page.items.iter().map(ActivityBody::from).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        }
    }
}

fn describe_list(c: &mut Components) -> Operation {
    let kinds: Vec<&str> = ActivityKind::ALL.iter().map(|k| k.as_str()).collect();
    let classes: Vec<&str> = StatusClass::ALL.iter().map(|k| k.as_str()).collect();
    c.reference::<ActivityBody>();
    let query = Param::optional_query;
    Operation {
        id: "listConnectionActivity",
        summary: "List a connection's activity",
        description: "Every proxied call (method, path without its query, status, latency, \
request and response size), every refresh attempt and its outcome, every vended token and every \
webhook delivery attempt about the connection, newest first, in pages. Follow `next_cursor` \
until it is null. Query values, bodies, tokens and secrets are never recorded. Entries appear \
within a second of the call and are kept for the server's retention period \
(`AMOLINK_ACTIVITY_RETENTION_DAYS`, 14 days by default).",
        params: vec![
            Param {
                name: "id",
                location: In::Path,
                required: true,
                description: "The connection id.",
                schema: Schema::uuid(),
            },
            query("kind", "Only entries of this kind.", Schema::one_of(&kinds)),
            query(
                "status",
                "Only entries whose HTTP status is in this class.",
                Schema::one_of(&classes),
            ),
            query(
                "from",
                "Only entries at or after this time (RFC 3339).",
                Schema::date_time(),
            ),
            query(
                "to",
                "Only entries before this time (RFC 3339).",
                Schema::date_time(),
            ),
            query(
                "limit",
                "Page size.",
                Schema::integer()
                    .range(1, i64::try_from(MAX_ACTIVITY_PAGE).unwrap_or(i64::MAX))
                    .default_value(json!(DEFAULT_LIMIT)),
            ),
            query(
                "cursor",
                "`next_cursor` of the previous page.",
                Schema::string().pattern(CURSOR_PATTERN),
            ),
        ],
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "One page of the connection's activity.",
            body: Some(c.reference::<ActivityList>()),
        }],
        errors: vec![(400, "A filter, the cursor or the limit is not valid.")],
    }
}

fn invalid(detail: &str) -> ApiError {
    AppError::BadRequest(detail.to_owned()).into()
}

/// `GET /api/v1/connections/{id}/activity`
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = connection_id(&id)?;
    let mut query = Query::of(&req)?;
    if let Some(unknown) = query.unknown(&KNOWN) {
        return Err(invalid(&format!(
            "`{}` is not a filter of this listing (use kind, status, from, to, cursor, limit)",
            unknown.chars().take(40).collect::<String>()
        )));
    }
    let kind = query.parsed::<ActivityKind>(
        "kind",
        "must be proxy_call, refresh, token_vended or webhook_delivery",
    )?;
    let status = query.parsed::<StatusClass>("status", "must be 2xx, 4xx or 5xx")?;
    let from = query.instant("from")?;
    let to = query.instant("to")?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_ACTIVITY_PAGE)?;
    let filter = ActivityFilter {
        kind,
        status,
        from,
        to,
    };
    let page = state
        .activity
        .list(
            caller.workspace,
            id,
            &filter,
            query.take("cursor").as_deref(),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ActivityList::from(&page)))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::api::{
        openapi::document,
        routes,
        schema::{name_of, validate},
    };

    #[test]
    fn the_body_matches_its_schema() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .expect("time");
        let page = ActivityPage {
            items: vec![
                ActivityEntry {
                    id: uuid::Uuid::now_v7(),
                    at,
                    kind: "proxy_call".into(),
                    method: Some("GET".into()),
                    path: Some("/api/v4/leads".into()),
                    status: Some(200),
                    outcome: "relayed".into(),
                    latency_ms: Some(12),
                    request_bytes: Some(0),
                    response_bytes: Some(512),
                },
                ActivityEntry {
                    id: uuid::Uuid::now_v7(),
                    at,
                    kind: "refresh".into(),
                    method: None,
                    path: None,
                    status: None,
                    outcome: "refreshed".into(),
                    latency_ms: Some(40),
                    request_bytes: None,
                    response_bytes: None,
                },
            ],
            next: None,
        };
        let body = serde_json::to_value(ActivityList::from(&page)).expect("serializes");
        let doc = document(&routes());
        let components = doc["components"]["schemas"].clone();
        validate(&body, &components[name_of::<ActivityList>()], &components).expect("valid");
    }
}
