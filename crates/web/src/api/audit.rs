//! `GET /api/v1/audit-events`: the workspace's audit trail, newest first, in keyset pages.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{
    api_keys::ApiScope,
    audit::{AuditAction, AuditEntry, AuditFilter, AuditPage, MAX_AUDIT_PAGE},
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{
    caller::ApiCaller,
    connections::timestamp,
    input::Query,
    openapi::{ApiMethod, ApiRoute, Operation, Param, Reply},
    schema::{Components, PRINTABLE_PATTERN, Schema, string_enum},
};
use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

const DEFAULT_LIMIT: u64 = 50;
/// The keyset cursor's text form (`{millis}.{uuid}`).
const CURSOR_PATTERN: &str =
    "^[0-9]{1,15}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute {
        method: ApiMethod::Get,
        path: "/audit-events",
        scope: Some(ApiScope::Read),
        attach: |route| route.to(list),
        describe: describe_list,
    }]
}

/// One entry of the workspace's audit trail.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditEvent)]
pub struct AuditEventBody {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened (a stable code).
    #[schema(schema_with = action_schema)]
    pub action: String,
    /// Who did it: `type` (`user`, `api_key` or `system`), `id` (the user's or API key's id, or
    /// null) and `label` (the user's e-mail or the key's name then).
    #[schema(value_type = Object)]
    pub actor: ActorBody,
    /// What it was done to: `type` (`user`, `invite`, `api_key`, `webhook_endpoint`, `button`,
    /// `connection` or `workspace`), `id` and `label` (an address, name or URL; never a secret).
    #[schema(value_type = Option<Object>, required = true)]
    pub target: Option<TargetBody>,
    /// The address the request came from.
    #[schema(required = true)]
    pub client_ip: Option<String>,
    /// Facts about the action, e.g. the old and new role. Never a secret.
    #[schema(value_type = Object)]
    pub detail: Map<String, Value>,
}

fn action_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    string_enum(AuditAction::ALL.iter().map(|a| a.as_str()))
}

#[derive(Debug, Serialize)]
pub struct ActorBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct TargetBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub label: String,
}

impl From<&AuditEntry> for AuditEventBody {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: timestamp(e.at),
            action: e.action.clone(),
            actor: ActorBody {
                kind: e.actor_kind.clone(),
                id: e.actor_id.clone(),
                label: e.actor_label.clone(),
            },
            target: match (&e.target_kind, &e.target_id, &e.target_label) {
                (Some(kind), Some(id), Some(label)) => Some(TargetBody {
                    kind: kind.clone(),
                    id: id.clone(),
                    label: label.clone(),
                }),
                _ => None,
            },
            client_ip: e.client_ip.clone(),
            detail: e.detail.clone().unwrap_or_default(),
        }
    }
}

/// One page of audit events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditEventList)]
pub struct AuditEventList {
    #[schema(value_type = Vec<AuditEvent>)]
    pub data: Vec<AuditEventBody>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(
        pattern = r"^[0-9]{1,15}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        required = true
    )]
    pub next_cursor: Option<String>,
}

impl From<&AuditPage> for AuditEventList {
    fn from(page: &AuditPage) -> Self {
        Self {
            data: page.items.iter().map(AuditEventBody::from).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        }
    }
}

fn describe_list(c: &mut Components) -> Operation {
    let actions: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    // The list refers to the event schema: both are components.
    c.reference::<AuditEventBody>();
    let query = Param::optional_query;
    Operation {
        id: "listAuditEvents",
        summary: "List audit events",
        description: "Who did what in the workspace — sign-ins, members invited, joined, removed \
or given another role, API keys and webhook endpoints created or changed, buttons added, \
connections revoked, passwords changed — newest first, in pages. Follow `next_cursor` until it is \
null. Entries are kept for the server's retention period (`AMOLINK_AUDIT_RETENTION_DAYS`).",
        params: vec![
            query(
                "action",
                "Only entries with this action.",
                Schema::one_of(&actions),
            ),
            query(
                "actor",
                "Only entries by this actor: a user's e-mail, an API key's name, or either's id.",
                Schema::string().length(1, 320).pattern(PRINTABLE_PATTERN),
            ),
            query(
                "since",
                "Only entries at or after this time.",
                Schema::date_time(),
            ),
            query(
                "until",
                "Only entries before this time.",
                Schema::date_time(),
            ),
            query(
                "limit",
                "Page size.",
                Schema::integer()
                    .range(1, i64::try_from(MAX_AUDIT_PAGE).unwrap_or(i64::MAX))
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
            description: "One page of audit events.",
            body: Some(c.reference::<AuditEventList>()),
        }],
        errors: Vec::new(),
    }
}

fn invalid(detail: &str) -> ApiError {
    AppError::BadRequest(detail.to_owned()).into()
}

/// `GET /api/v1/audit-events`
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut query = Query::of(&req)?;
    let action = query.parsed::<AuditAction>("action", "unknown audit action")?;
    let actor = query.take("actor");
    if actor.as_deref().is_some_and(|a| {
        a.is_empty() || a.chars().count() > 320 || a.chars().any(|c| c.is_ascii_control())
    }) {
        return Err(invalid("actor: 1 to 320 printable characters"));
    }
    let since = query.instant("since")?;
    let until = query.instant("until")?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_AUDIT_PAGE)?;
    let filter = AuditFilter {
        action,
        actor,
        since,
        until,
    };
    let page = state
        .audit
        .list(
            caller.workspace,
            &filter,
            query.take("cursor").as_deref(),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(AuditEventList::from(&page)))
}
