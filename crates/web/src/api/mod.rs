//! The tenant API under `/api/v1`: authenticated by API keys, answered in JSON, errors as
//! `application/problem+json`, described by an OpenAPI document built from the route table.

mod access;
mod caller;
mod connect_sessions;
mod connections;
mod docs;
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
    clock::Clock,
    connect::ConnectService,
    connect_sessions::{ConnectSessionRepository, ConnectSessions},
    crypto::Keyring,
    ports::ButtonRepository,
};

pub use access::access_services;
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
    ) -> Self
    where
        S: ApiKeyRepository + ConnectSessionRepository + ButtonRepository + 'static,
    {
        Self {
            keys: ApiKeys::new(
                store.clone(),
                Arc::new(ApiKeyHasher::new(keyring)),
                clock.clone(),
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
        connect_sessions::SessionBody,
        connections::{ConnectionBody, ConnectionList},
        openapi::{ProblemBody, document},
        schema::validate,
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
        let problem = ProblemBody {
            kind: "about:blank".into(),
            title: "Not found".into(),
            status: 404,
            detail: "There is nothing here.".into(),
        };
        let value = serde_json::to_value(&problem).expect("serializes");
        validate(&value, &component(&doc, "Problem"), &components).expect("problem");
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
