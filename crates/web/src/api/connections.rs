//! `/api/v1/connections`: list, read and revoke the workspace's connections. Metadata only:
//! no route here ever returns a secret or token (R29 in `docs/security-requirements.md`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{
    amo::Platform,
    api_keys::ApiScope,
    connections::{ConnectionFilter, ConnectionStatus, ConnectionSummary, Page, PageCursor},
    end_user::{EndUserId, MAX_END_USER_ID_CHARS},
    ids::ConnectionId,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{ToSchema, openapi::RefOr};

use super::{
    caller::ApiCaller,
    input::Query,
    openapi::{ApiMethod, ApiRoute, In, Operation, Param, Reply},
    schema::{Components, PRINTABLE_PATTERN, Schema, string_enum},
};
use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

/// Default and largest page sizes of the listing.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;
/// The keyset cursor's text form (`{millis}.{uuid}`), as a pattern clients can check.
pub(super) const CURSOR_PATTERN: &str =
    "^[0-9]{1,15}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute {
            method: ApiMethod::Get,
            path: "/connections",
            scope: Some(ApiScope::Read),
            attach: |route| route.to(list),
            describe: describe_list,
        },
        ApiRoute {
            method: ApiMethod::Get,
            path: "/connections/{id}",
            scope: Some(ApiScope::Read),
            attach: |route| route.to(get),
            describe: describe_get,
        },
        ApiRoute {
            method: ApiMethod::Delete,
            path: "/connections/{id}",
            scope: Some(ApiScope::Write),
            attach: |route| route.to(revoke),
            describe: describe_revoke,
        },
    ]
}

/// RFC 3339 with milliseconds, always UTC (`Z`).
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A connected amoCRM / Kommo account. Metadata only: never a secret or token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Connection)]
pub struct ConnectionBody {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(schema_with = platform_schema)]
    pub platform: String,
    /// amoCRM account id
    pub account_id: i64,
    pub account_name: String,
    /// The account host, e.g. `acme.amocrm.ru`.
    pub host: String,
    #[schema(schema_with = status_schema)]
    pub status: &'static str,
    #[schema(required = true)]
    pub status_reason: Option<String>,
    #[schema(format = DateTime)]
    pub connected_at: String,
    #[schema(format = DateTime, required = true)]
    pub access_expires_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub last_refresh_at: Option<String>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// Your end user's id, from the connect session that made it.
    #[schema(required = true)]
    pub end_user_id: Option<String>,
    /// Your metadata for the end user, from the connect session.
    #[schema(value_type = Option<Object>, required = true)]
    pub metadata: Option<Map<String, Value>>,
}

fn platform_schema() -> RefOr<utoipa::openapi::Schema> {
    string_enum([Platform::AmoCrm, Platform::Kommo].map(<&'static str>::from))
}

fn status_schema() -> RefOr<utoipa::openapi::Schema> {
    string_enum(ConnectionStatus::ALL.iter().map(|s| s.as_str()))
}

impl From<&ConnectionSummary> for ConnectionBody {
    fn from(c: &ConnectionSummary) -> Self {
        Self {
            id: c.id.to_string(),
            platform: c.platform.to_string(),
            account_id: c.account_id,
            account_name: c.account_name.clone(),
            host: c.host.clone(),
            status: c.status.as_str(),
            status_reason: c.status_reason.clone(),
            connected_at: timestamp(c.connected_at),
            access_expires_at: c.access_expires_at.map(timestamp),
            last_refresh_at: c.last_refresh_at.map(timestamp),
            last_error: c.last_error.clone(),
            end_user_id: c.end_user_id.clone(),
            metadata: c.metadata.as_ref().map(|m| m.as_map().clone()),
        }
    }
}

/// One page of connections.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectionList)]
pub struct ConnectionList {
    #[schema(value_type = Vec<Connection>)]
    pub data: Vec<ConnectionBody>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(
        pattern = r"^[0-9]{1,15}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        required = true
    )]
    pub next_cursor: Option<String>,
}

impl From<&Page<ConnectionSummary>> for ConnectionList {
    fn from(page: &Page<ConnectionSummary>) -> Self {
        Self {
            data: page.items.iter().map(ConnectionBody::from).collect(),
            next_cursor: page.next.as_ref().map(PageCursor::encode),
        }
    }
}

fn id_param() -> Param {
    Param {
        name: "id",
        location: In::Path,
        required: true,
        description: "The connection id.",
        schema: Schema::uuid(),
    }
}

fn describe_list(c: &mut Components) -> Operation {
    let statuses: Vec<&str> = ConnectionStatus::ALL.iter().map(|s| s.as_str()).collect();
    // The list refers to the connection schema: both are components.
    c.reference::<ConnectionBody>();
    let query = Param::optional_query;
    Operation {
        id: "listConnections",
        summary: "List connections",
        description: "The workspace's connections, newest first, in pages. Follow `next_cursor` \
until it is null; the order is stable under inserts (keyset pagination).",
        params: vec![
            query(
                "status",
                "Only connections in this status.",
                Schema::one_of(&statuses),
            ),
            query(
                "platform",
                "Only connections on this platform.",
                Schema::one_of(&["amocrm", "kommo"]),
            ),
            query(
                "end_user_id",
                "Only connections made for this end user.",
                Schema::string()
                    .length(1, MAX_END_USER_ID_CHARS)
                    .pattern(PRINTABLE_PATTERN),
            ),
            query(
                "limit",
                "Page size.",
                Schema::integer()
                    .range(1, i64::try_from(MAX_LIMIT).unwrap_or(i64::MAX))
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
            description: "One page of connections.",
            body: Some(c.reference::<ConnectionList>()),
        }],
        errors: Vec::new(),
    }
}

fn describe_get(c: &mut Components) -> Operation {
    Operation {
        id: "getConnection",
        summary: "Get a connection",
        description: "One connection of the workspace.",
        params: vec![id_param()],
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "The connection.",
            body: Some(c.reference::<ConnectionBody>()),
        }],
        errors: Vec::new(),
    }
}

fn describe_revoke(_: &mut Components) -> Operation {
    Operation {
        id: "revokeConnection",
        summary: "Revoke a connection",
        description: "Destroys the connection's client secret and tokens at once; amolink never \
calls amoCRM for it again. Idempotent. The history records the API key's name as the actor. \
The connection stays readable with status `revoked` (its history and end user remain auditable, \
and connecting the same account again revives the same id).",
        params: vec![id_param()],
        body: None,
        replies: vec![Reply {
            status: 204,
            description: "Revoked (or already revoked).",
            body: None,
        }],
        errors: Vec::new(),
    }
}

/// A filter and page request, validated.
struct ListParams {
    filter: ConnectionFilter,
    cursor: Option<String>,
    limit: u64,
}

impl ListParams {
    fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut query = Query::of(req)?;
        let status = query.parsed::<ConnectionStatus>("status", "unknown connection status")?;
        let platform = query.parsed::<Platform>("platform", "must be amocrm or kommo")?;
        let end_user_id = query
            .take("end_user_id")
            .map(|raw| EndUserId::parse(&raw))
            .transpose()
            .map_err(domain::Error::from)?
            .map(EndUserId::into_string);
        let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        Ok(Self {
            filter: ConnectionFilter {
                status,
                platform,
                search: None,
                end_user_id,
            },
            cursor: query.take("cursor"),
            limit,
        })
    }
}

/// An id from the path; anything that is not a UUID is simply not found.
pub(super) fn connection_id(raw: &str) -> Result<ConnectionId, ApiError> {
    raw.parse().map_err(|_| AppError::NotFound.into())
}

/// `GET /api/v1/connections`
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = ListParams::parse(&req)?;
    let page = state
        .connections
        .list(
            caller.workspace,
            &params.filter,
            params.cursor.as_deref(),
            params.limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConnectionList::from(&page)))
}

/// `GET /api/v1/connections/{id}`
async fn get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = connection_id(&id)?;
    let (summary, _) = state.connections.detail(caller.workspace, id).await?;
    Ok(HttpResponse::Ok().json(ConnectionBody::from(&summary)))
}

/// `DELETE /api/v1/connections/{id}`
async fn revoke(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = connection_id(&id)?;
    state
        .connections
        .revoke(caller.workspace, id, &caller.principal(&req, &state))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
