//! The OpenAPI document and the router come from one route table (issue 10, acceptance 2):
//! every route the server mounts is in the document under the scope it really enforces, and the
//! document names nothing the server does not mount.

use amolink_tests::{Engine, both_engines, spawn_app};
use reqwest::Method;
use serde_json::Value;

use crate::{api::openapi_document, api_keys::create_key};

/// A concrete URL path for a route pattern: a random (absent) id, an amoCRM API path.
fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{path:.*}", "api/v4/account")
}

async fn every_registered_route_enforces_the_scope_the_document_names(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.signed_in_browser("ann@example.com", "Acme").await;
    let mut single = Vec::new();
    for scope in ["read", "write", "tokens", "proxy"] {
        single.push((scope, create_key(&tenant, scope, &[scope]).await));
    }
    let doc: Value = openapi_document(&app).await;
    let client = reqwest::Client::new();
    let routes = web::api::routes();
    let mut documented = 0;
    for route in &routes {
        let method = route.method.as_str();
        let op = &doc["paths"][route.openapi_path()][method.to_lowercase()];
        assert!(op.is_object(), "{method} {} is not documented", route.path);
        let url = format!("{}/api/v1{}", app.address, concrete(route.path));
        let http = Method::from_bytes(method.as_bytes()).unwrap();
        match route.scope {
            None => {
                assert_eq!(
                    op["security"],
                    serde_json::json!([]),
                    "{method} {}",
                    route.path
                );
                let res = client.request(http, &url).send().await.unwrap();
                assert_eq!(res.status(), 200, "{method} {} is public", route.path);
            }
            Some(required) => {
                assert_eq!(
                    op["x-required-scope"],
                    required.as_str(),
                    "{method} {}",
                    route.path
                );
                let anonymous = client.request(http.clone(), &url).send().await.unwrap();
                assert_eq!(
                    anonymous.status(),
                    401,
                    "{method} {} without a key",
                    route.path
                );
                for (scope, key) in &single {
                    let res = client
                        .request(http.clone(), &url)
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body("{}")
                        .send()
                        .await
                        .unwrap();
                    if *scope == required.as_str() {
                        assert!(
                            ![401, 403].contains(&res.status().as_u16()),
                            "{method} {} refused its own scope `{scope}`: {}",
                            route.path,
                            res.status()
                        );
                    } else {
                        assert_eq!(
                            res.status(),
                            403,
                            "{method} {} let `{scope}` through",
                            route.path
                        );
                    }
                }
            }
        }
        documented += 1;
    }
    // Nothing in the document that the router does not mount.
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|methods| methods.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, documented);
    assert!(
        routes.iter().any(|r| r.path.contains("{path:.*}")),
        "the proxy route is in the table"
    );
}

both_engines!(every_registered_route_enforces_the_scope_the_document_names);
