//! The tenant API under `/api/v1`: authenticated by API keys, answered in JSON, errors as
//! `application/problem+json`, described by an OpenAPI document built from the route table.

mod activity;
mod audit;
mod caller;
mod connect_sessions;
mod connections;
mod docs;
mod events;
mod examples;
mod input;
pub mod openapi;
mod proxy;
mod rate_limit;
pub mod schema;
mod tokens;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, guard, web};
use domain::{
    api_keys::{ApiKeyHasher, ApiKeyRepository, ApiKeys},
    audit::Audit,
    clock::Clock,
    connect::ConnectService,
    connect_sessions::{ConnectSessionRepository, ConnectSessions},
    crypto::Keyring,
    ports::ButtonRepository,
};

pub use caller::{ApiCaller, RequiredScope};
use openapi::{ApiMethod, ApiRoute, BASE, Operation, Reply};
pub use rate_limit::{KeyRateLimiter, RatePolicy};
use schema::{Components, Schema};

use crate::error::{ApiError, AppError};

/// What the API needs beyond the shared services.
#[derive(Clone)]
pub struct ApiState {
    pub keys: ApiKeys,
    pub sessions: ConnectSessions,
    pub limiter: Arc<KeyRateLimiter>,
}

impl ApiState {
    /// Wires the API-key and connect-session services over one storage handle.
    #[must_use]
    pub fn new<S>(
        store: &Arc<S>,
        keyring: &Keyring,
        connect: ConnectService,
        clock: Arc<dyn Clock>,
        audit: Audit,
    ) -> Self
    where
        S: ApiKeyRepository + ConnectSessionRepository + ButtonRepository + 'static,
    {
        Self {
            keys: ApiKeys::new(
                store.clone(),
                Arc::new(ApiKeyHasher::new(keyring)),
                clock.clone(),
                audit,
            ),
            sessions: ConnectSessions::new(store.clone(), store.clone(), connect, clock),
            limiter: Arc::new(KeyRateLimiter::new(RatePolicy::default())),
        }
    }
}

/// Every API route: the one list the router and the OpenAPI document are built from.
#[must_use]
pub fn routes() -> Vec<ApiRoute> {
    let mut all = vec![ApiRoute {
        method: ApiMethod::Get,
        path: "/openapi.json",
        scope: None,
        attach: |route| route.to(openapi_json),
        describe: describe_openapi,
    }];
    all.extend(connections::routes());
    all.extend(connect_sessions::routes());
    all.extend(tokens::routes());
    all.extend(proxy::routes());
    all.extend(audit::routes());
    all.extend(activity::routes());
    all.extend(events::routes());
    all
}

/// Mounts `/api/v1` from [`routes`], a `405` with `Allow` for other methods on known paths, and
/// the human docs page `/api/docs`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let routes = routes();
    let mut scope = web::scope(BASE);
    let mut allowed: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for route in &routes {
        let mut resource = web::resource(route.path).guard(guard::Method(route.method.http()));
        if let Some(required) = route.scope {
            resource = resource.app_data(RequiredScope(required));
        }
        scope = scope.service(resource.route((route.attach)(web::route())));
        match allowed.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, methods)) => methods.push(route.method.as_str()),
            None => allowed.push((route.path, vec![route.method.as_str()])),
        }
    }
    for (path, methods) in allowed {
        let allow = AllowList(methods.join(", "));
        scope = scope.service(web::resource(path).app_data(allow).to(method_not_allowed));
    }
    cfg.service(scope)
        .route("/api/docs", web::get().to(docs::page));
}

#[derive(Debug, Clone)]
struct AllowList(String);

/// Any other method on a known API path.
async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .app_data::<AllowList>()
        .map(|a| a.0.clone())
        .unwrap_or_default();
    Err(AppError::MethodNotAllowed(allow).into())
}

/// `GET /api/v1/openapi.json`
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::document(&routes()).to_string())
}

fn describe_openapi(_: &mut Components) -> Operation {
    Operation {
        id: "getOpenApiDocument",
        summary: "This document",
        description: "The OpenAPI 3.0 description of this API, generated from amolink's route \
table. Public: it holds no workspace data.",
        params: Vec::new(),
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "The OpenAPI document.",
            body: Some(Schema::free_object()),
        }],
        errors: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{
        activity::{ActivityBody, ActivityList},
        audit::{AuditEventBody, AuditEventList},
        connect_sessions::CreateSessionBody,
        connect_sessions::SessionBody,
        connections::{ConnectionBody, ConnectionList},
        events::{EventBody, EventList, EventSettingsBody},
        openapi::{ProblemBody, document},
        schema::{derived, name_of, validate},
        tokens::TokenBody,
        *,
    };

    fn component(doc: &Value, name: &str) -> Value {
        doc["components"]["schemas"][name].clone()
    }

    #[test]
    fn every_route_is_documented_with_its_scope_and_errors() {
        let doc = document(&routes());
        assert_eq!(doc["openapi"], "3.0.3");
        for route in routes() {
            let op = &doc["paths"][route.openapi_path()][route.method.as_str().to_lowercase()];
            assert!(op.is_object(), "{} {}", route.method.as_str(), route.path);
            let responses = op["responses"].as_object().expect("responses");
            match route.scope {
                Some(scope) => {
                    assert_eq!(op["x-required-scope"], scope.as_str());
                    for status in ["401", "403", "429"] {
                        assert!(responses.contains_key(status), "{} {status}", route.path);
                    }
                    assert!(
                        responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                        "401 declares its challenge"
                    );
                }
                None => assert_eq!(op["security"], json!([])),
            }
            if route.path.contains('{') {
                assert!(responses.contains_key("404"));
            }
        }
    }

    /// Every schema in the document is the one `utoipa` derives from the serde type the
    /// handlers send or read, and every such type is in the document.
    #[test]
    fn every_component_is_the_derived_schema() {
        let doc = document(&routes());
        let documented = doc["components"]["schemas"]
            .as_object()
            .expect("components");
        let derived: Vec<(&str, Value)> = vec![
            (name_of::<ConnectionBody>(), derived::<ConnectionBody>()),
            (name_of::<ConnectionList>(), derived::<ConnectionList>()),
            (
                name_of::<CreateSessionBody>(),
                derived::<CreateSessionBody>(),
            ),
            (name_of::<SessionBody>(), derived::<SessionBody>()),
            (name_of::<TokenBody>(), derived::<TokenBody>()),
            (name_of::<ProblemBody>(), derived::<ProblemBody>()),
            (
                name_of::<openapi::FieldProblem>(),
                derived::<openapi::FieldProblem>(),
            ),
            (name_of::<AuditEventBody>(), derived::<AuditEventBody>()),
            (name_of::<AuditEventList>(), derived::<AuditEventList>()),
            (name_of::<ActivityBody>(), derived::<ActivityBody>()),
            (name_of::<ActivityList>(), derived::<ActivityList>()),
            (name_of::<EventBody>(), derived::<EventBody>()),
            (name_of::<EventList>(), derived::<EventList>()),
            (
                name_of::<EventSettingsBody>(),
                derived::<EventSettingsBody>(),
            ),
        ];
        assert_eq!(documented.len(), derived.len(), "{:?}", documented.keys());
        for (name, schema) in derived {
            assert_eq!(documented.get(name), Some(&schema), "{name}");
        }
        // Every body a route answers with or reads is a `$ref` to one of them.
        for (path, methods) in doc["paths"].as_object().expect("paths") {
            for (method, op) in methods.as_object().expect("methods") {
                let bodies = op["responses"]
                    .as_object()
                    .expect("responses")
                    .values()
                    .chain(op.get("requestBody"))
                    .filter_map(|r| r.get("content"))
                    .flat_map(|c| c.as_object().expect("content").values());
                for body in bodies {
                    let schema = &body["schema"];
                    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                        let name = reference.trim_start_matches("#/components/schemas/");
                        assert!(documented.contains_key(name), "{method} {path}: {name}");
                    } else {
                        assert_eq!(
                            (path.as_str(), method.as_str()),
                            ("/openapi.json", "get"),
                            "only the document itself answers with an inline schema"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn derived_constraints_match_the_domain() {
        let doc = document(&routes());
        let request = &doc["components"]["schemas"]["CreateConnectSession"]["properties"];
        assert_eq!(
            request["end_user_id"]["maxLength"],
            domain::end_user::MAX_END_USER_ID_CHARS
        );
        assert_eq!(request["end_user_id"]["pattern"], schema::PRINTABLE_PATTERN);
        let list = &doc["components"]["schemas"]["ConnectionList"]["properties"];
        assert_eq!(list["next_cursor"]["pattern"], connections::CURSOR_PATTERN);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document(&routes());
        let text = doc.to_string();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(
                component(&doc, name).is_object(),
                "missing component {name}"
            );
        }
    }

    #[test]
    fn serialized_bodies_match_their_schemas() {
        let doc = document(&routes());
        let components = doc["components"]["schemas"].clone();
        let connection = ConnectionBody {
            id: uuid::Uuid::new_v4().to_string(),
            platform: "amocrm".into(),
            account_id: 31_000_001,
            account_name: "Рога и копыта".into(),
            host: "demo.amocrm.ru".into(),
            status: "active",
            status_reason: None,
            connected_at: "2026-11-26T10:00:00.000Z".into(),
            access_expires_at: Some("2026-11-27T10:00:00.000Z".into()),
            last_refresh_at: None,
            last_error: None,
            end_user_id: Some("user-1".into()),
            metadata: json!({"plan": "pro"}).as_object().cloned(),
        };
        let value = serde_json::to_value(&connection).expect("serializes");
        validate(&value, &component(&doc, "Connection"), &components).expect("connection");
        let list = ConnectionList {
            data: vec![connection],
            next_cursor: Some(format!("1764000000000.{}", uuid::Uuid::new_v4())),
        };
        let value = serde_json::to_value(&list).expect("serializes");
        validate(&value, &component(&doc, "ConnectionList"), &components).expect("list");
        let session = SessionBody {
            id: uuid::Uuid::new_v4().to_string(),
            url: "http://127.0.0.1:8080/connect/s/abc".into(),
            expires_at: "2026-11-26T10:30:00.000Z".into(),
            end_user_id: "user-1".into(),
            metadata: None,
            button_id: uuid::Uuid::new_v4().to_string(),
        };
        let value = serde_json::to_value(&session).expect("serializes");
        validate(&value, &component(&doc, "ConnectSession"), &components).expect("session");
        let entry = domain::audit::AuditEntry {
            id: uuid::Uuid::new_v4(),
            at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            action: "member.role_changed".into(),
            actor_kind: "user".into(),
            actor_id: Some(uuid::Uuid::new_v4().to_string()),
            actor_label: "ann@example.com".into(),
            target_kind: Some("user".into()),
            target_id: Some(uuid::Uuid::new_v4().to_string()),
            target_label: Some("bob@example.com".into()),
            client_ip: Some("127.0.0.1".into()),
            detail: json!({"from": "viewer", "to": "admin"})
                .as_object()
                .cloned(),
        };
        let events = audit::AuditEventList::from(&domain::audit::AuditPage {
            items: vec![entry],
            next: Some(domain::audit::AuditCursor {
                at_ms: 1_764_000_000_000,
                id: uuid::Uuid::new_v4(),
            }),
        });
        let value = serde_json::to_value(&events).expect("serializes");
        validate(&value, &component(&doc, "AuditEventList"), &components).expect("audit events");
        let problem = ProblemBody {
            kind: "about:blank".into(),
            title: "Not found".into(),
            status: 404,
            detail: "There is nothing here.".into(),
            code: "not-found".into(),
            errors: Vec::new(),
        };
        let value = serde_json::to_value(&problem).expect("serializes");
        validate(&value, &component(&doc, "Problem"), &components).expect("problem");
        let problem = ProblemBody {
            kind: "about:blank".into(),
            title: "Invalid input".into(),
            status: 400,
            detail: "email: An email address needs an @.".into(),
            code: "email-missing-at".into(),
            errors: vec![openapi::FieldProblem {
                field: "email".into(),
                code: "email-missing-at".into(),
                detail: "An email address needs an @.".into(),
            }],
        };
        let value = serde_json::to_value(&problem).expect("serializes");
        validate(&value, &component(&doc, "Problem"), &components).expect("problem");
        let event = events::EventBody {
            id: "msg_0123456789abcdef0123456789abcdef".into(),
            kind: "amocrm.lead.status_changed".into(),
            timestamp: "2026-11-26T10:00:00.000Z".into(),
            connection_id: uuid::Uuid::new_v4().to_string(),
            data: json!({"entity": "lead", "entity_id": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            raw: Some(json!({"id": "1"})),
        };
        let feed = events::EventList {
            data: vec![event],
            next_cursor: Some("42".into()),
        };
        let value = serde_json::to_value(&feed).expect("serializes");
        validate(&value, &component(&doc, "EventList"), &components).expect("event list");
        let settings = events::EventSettingsBody {
            events: vec!["amocrm.lead.added".into()],
        };
        let value = serde_json::to_value(&settings).expect("serializes");
        validate(&value, &component(&doc, "EventSettings"), &components).expect("settings");
        assert!(
            validate(
                &json!({"id": 1}),
                &component(&doc, "Connection"),
                &components
            )
            .is_err(),
            "the validator does reject"
        );
    }
}
