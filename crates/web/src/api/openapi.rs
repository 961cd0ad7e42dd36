//! The API's route table and the OpenAPI 3.0 document built from it.
//!
//! Every `/api/v1` route is one [`ApiRoute`]: its method, path, required scope, handler and
//! description sit side by side, and both the router ([`super::configure`]) and this document
//! are built from the same list, so a route cannot exist undocumented, and the scope the docs
//! promise is the scope the extractor enforces. Standard error answers (401/403/404/429/…) are
//! added here from each route's properties rather than repeated by hand.

use actix_web::http::Method;
use domain::api_keys::ApiScope;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::schema::{Components, Schema};

/// The methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "UPPERCASE")]
pub enum ApiMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl ApiMethod {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    #[must_use]
    pub fn http(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Head => Method::HEAD,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum In {
    Path,
    Query,
}

impl In {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub description: &'static str,
    pub schema: Schema,
}

impl Param {
    /// An optional query parameter (the filters and paging of the list operations).
    #[must_use]
    pub const fn optional_query(
        name: &'static str,
        description: &'static str,
        schema: Schema,
    ) -> Self {
        Self {
            name,
            location: In::Query,
            required: false,
            description,
            schema,
        }
    }
}

/// A successful answer (errors are added by [`ApiRoute::responses`]).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub description: &'static str,
    /// `application/json` body, if any.
    pub body: Option<Schema>,
}

/// What a route does, for people and for the document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub params: Vec<Param>,
    /// `application/json` request body (required when present).
    pub body: Option<Schema>,
    pub replies: Vec<Reply>,
    /// Problem answers particular to this route, beyond those every route of its kind has.
    pub errors: Vec<(u16, &'static str)>,
}

/// One API route.
pub struct ApiRoute {
    pub method: ApiMethod,
    /// Relative to `/api/v1`; `{name}` segments are path parameters in both actix and OpenAPI.
    pub path: &'static str,
    /// The scope the caller's key must carry; `None` for public routes.
    pub scope: Option<ApiScope>,
    /// Attaches the handler: `|route| route.to(handler)`.
    pub attach: fn(actix_web::Route) -> actix_web::Route,
    pub describe: fn(&mut Components) -> Operation,
}

/// The mount point of the API.
pub const BASE: &str = "/api/v1";

/// An RFC 9457 problem; every error under /api/ has this shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Problem)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable code to branch on: the specific reason when there is one (`api-keys-at-cap`,
    /// `email-missing-at`), else the problem's kind (`not-found`, `rate-limit-exceeded`).
    pub code: String,
    /// For invalid input: each refused field with its own code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One refused field of an invalid request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    pub detail: String,
}

/// A response with its status, as the document and the docs page show it.
#[derive(Debug, Clone)]
pub struct DocumentedResponse {
    pub status: u16,
    pub description: &'static str,
    pub content_type: Option<&'static str>,
    pub body: Option<Schema>,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl ApiRoute {
    /// The path as OpenAPI spells it: actix's `{name:regex}` segments become `{name}`.
    #[must_use]
    pub fn openapi_path(&self) -> String {
        let mut out = String::with_capacity(self.path.len());
        let (mut in_param, mut in_regex) = (false, false);
        for c in self.path.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push(c);
                }
                '}' => {
                    (in_param, in_regex) = (false, false);
                    out.push(c);
                }
                ':' if in_param => in_regex = true,
                _ if in_regex => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// The successful replies plus the errors this route can answer with.
    pub fn responses(&self, op: &Operation, c: &mut Components) -> Vec<DocumentedResponse> {
        let mut out: Vec<DocumentedResponse> = op
            .replies
            .iter()
            .map(|r| DocumentedResponse {
                status: r.status,
                description: r.description,
                content_type: r.body.as_ref().map(|_| "application/json"),
                body: r.body.clone(),
                headers: Vec::new(),
            })
            .collect();
        c.reference::<FieldProblem>();
        let mut problem = |status, description, headers: Vec<(&'static str, &'static str)>| {
            out.push(DocumentedResponse {
                status,
                description,
                content_type: Some("application/problem+json"),
                body: Some(c.reference::<ProblemBody>()),
                headers,
            });
        };
        let takes_input = op.body.is_some() || op.params.iter().any(|p| p.location == In::Query);
        if takes_input {
            problem(
                400,
                "The request is malformed or a value is invalid.",
                vec![],
            );
        }
        if self.scope.is_some() {
            problem(
                401,
                "The API key is missing, malformed, unknown or revoked.",
                vec![("WWW-Authenticate", "Bearer challenge")],
            );
            problem(
                403,
                "The API key lacks the scope this route requires.",
                vec![],
            );
        }
        if self.path.contains('{') {
            problem(
                404,
                "No such resource in the caller's workspace (another workspace's id looks the same).",
                vec![],
            );
        }
        if op.body.is_some() {
            problem(413, "The request body is too large.", vec![]);
        }
        for (status, description) in &op.errors {
            problem(*status, description, vec![]);
        }
        if self.scope.is_some() {
            problem(
                429,
                "This API key sent too many requests; wait for Retry-After seconds.",
                vec![("Retry-After", "Seconds to wait")],
            );
            problem(
                503,
                "amolink cannot serve this right now; retry shortly.",
                vec![],
            );
        }
        out.sort_by_key(|r| r.status);
        out
    }
}

fn operation_json(route: &ApiRoute, c: &mut Components) -> Value {
    let op = (route.describe)(c);
    let mut object = Map::new();
    object.insert("operationId".into(), op.id.into());
    object.insert("summary".into(), op.summary.into());
    let mut description = op.description.to_owned();
    match route.scope {
        Some(scope) => {
            description.push_str(&format!(
                "\n\nRequires an API key with the `{scope}` scope."
            ));
            object.insert("x-required-scope".into(), scope.as_str().into());
        }
        None => {
            object.insert("security".into(), json!([]));
        }
    }
    object.insert("description".into(), description.into());
    if !op.params.is_empty() {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": p.location.as_str(),
                    "required": p.required,
                    "description": p.description,
                    "schema": p.schema.0,
                })
            })
            .collect();
        object.insert("parameters".into(), params.into());
    }
    if let Some(body) = &op.body {
        object.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": { "application/json": { "schema": body.0 } },
            }),
        );
    }
    let mut responses = Map::new();
    for response in route.responses(&op, c) {
        let mut entry = Map::new();
        entry.insert("description".into(), response.description.into());
        if let (Some(content_type), Some(body)) = (response.content_type, &response.body) {
            entry.insert(
                "content".into(),
                json!({ content_type: { "schema": body.0 } }),
            );
        }
        if !response.headers.is_empty() {
            let headers: Map<String, Value> = response
                .headers
                .iter()
                .map(|(name, description)| {
                    let schema = if *name == "Retry-After" {
                        json!({ "type": "integer", "minimum": 1 })
                    } else {
                        json!({ "type": "string" })
                    };
                    (
                        (*name).to_owned(),
                        json!({ "description": description, "required": true, "schema": schema }),
                    )
                })
                .collect();
            entry.insert("headers".into(), headers.into());
        }
        responses.insert(response.status.to_string(), entry.into());
    }
    object.insert("responses".into(), responses.into());
    object.into()
}

/// The OpenAPI 3.0 document for `routes`.
#[must_use]
pub fn document(routes: &[ApiRoute]) -> Value {
    let mut components = Components::default();
    let mut paths = Map::new();
    for route in routes {
        let operation = operation_json(route, &mut components);
        let entry = paths
            .entry(route.openapi_path())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(route.method.as_str().to_lowercase(), operation);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "amolink API",
            "version": "1",
            "description": "Use your workspace's amoCRM / Kommo connections from your own backend. \
    Authenticate with an API key from /settings/api-keys as `Authorization: Bearer alk_…`. \
    Errors are application/problem+json (RFC 9457). Responses never contain secrets or tokens \
    except where a route says so.",
        },
        "servers": [{ "url": BASE }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": components.into_value(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "alk_ API key",
                    "description": "An API key created on /settings/api-keys.",
                },
            },
        },
    })
}
