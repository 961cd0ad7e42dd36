//! The tenant REST API under `/api/v1` (issue 6, acceptance 1): every route refuses bad keys
//! with 401 problem+json, enforces its scope, and answers another workspace's ids with 404.

use amolink_tests::{Browser, Engine, Page, TestApp, both_engines, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    api_keys::{create_key, tenant_with_key},
    connect::{DEMO_ADMIN_ACCOUNT, KOMMO_ADMIN_ACCOUNT},
};

/// A tenant backend's HTTP client for one key.
pub struct Api {
    pub address: String,
    pub key: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(app: &TestApp, key: &str) -> Self {
        Self {
            address: app.address.clone(),
            key: key.to_owned(),
            // Idle connections are dropped before the server's 5 s keep-alive ends, so a call
            // after a pause never lands on a socket the server is closing.
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The same key against another instance.
    pub fn at(&self, address: &str) -> Self {
        Self {
            address: address.to_owned(),
            key: self.key.clone(),
            client: self.client.clone(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.address))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.call(Method::GET, path, None).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }
}

/// `GET /api/v1/openapi.json` (public).
pub async fn openapi_document(app: &TestApp) -> Value {
    reqwest::get(format!("{}/api/v1/openapi.json", app.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Asserts an RFC 9457 answer with `status`; returns its body.
pub async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status(), status, "{:?}", res.url().path());
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// Connects the demo amoCRM account for `tenant`; returns the connection id.
async fn connect_demo(app: &TestApp, tenant: &Browser) -> String {
    let link = app.connect_links(tenant).await.into_iter().next().unwrap();
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    first_connection_id(tenant).await
}

async fn first_connection_id(tenant: &Browser) -> String {
    let list = tenant.get_html("/connections").await;
    Page::parse(&list).id_after("/connections/").unwrap()
}

/// Every authenticated route, with a connection id to use.
fn routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/connections".into(), None),
        (Method::GET, format!("/connections/{id}"), None),
        (Method::DELETE, format!("/connections/{id}"), None),
        (
            Method::POST,
            "/connect-sessions".into(),
            Some(json!({"end_user_id": "u1"})),
        ),
    ]
}

async fn bad_keys_get_401_problem_json_on_every_route(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, key) = tenant_with_key(&app, "ann@example.com").await;
    let id = connect_demo(&app, &ann).await;
    // Keys are listed newest first: the new key's revoke form comes first.
    app.clock.advance(chrono::Duration::seconds(1));
    let revoked = create_key(&ann, "old", &["read", "write"]).await;
    let page = ann.get_html("/settings/api-keys").await;
    let old_id = Page::parse(&page).id_after("/settings/api-keys/").unwrap();
    assert_eq!(
        ann.submit(
            "/settings/api-keys",
            &format!("/settings/api-keys/{old_id}/revoke"),
            &[]
        )
        .await
        .status(),
        303
    );
    let unknown = format!("alk_{}", "A".repeat(43));
    let client = reqwest::Client::new();
    for (method, path, body) in routes(&id) {
        let url = format!("{}/api/v1{path}", app.address);
        let headers: Vec<Option<String>> = vec![
            None,
            Some(format!("Basic {key}")),
            Some("Bearer".into()),
            Some("Bearer not-a-key".into()),
            Some(format!("Bearer {unknown}")),
            Some(format!("Bearer {revoked}")),
            Some(format!("Bearer {}", &key[..20])),
        ];
        for header in headers {
            let mut request = client.request(method.clone(), &url);
            if let Some(value) = &header {
                request = request.header("authorization", value);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let res = request.send().await.unwrap();
            assert!(
                res.headers().contains_key("www-authenticate"),
                "{method} {path} {header:?}: {}",
                res.status()
            );
            assert!(
                res.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{method} {path} {header:?}"
            );
            let body = problem(res, 401).await.to_string();
            assert!(
                !body.contains(&key[4..]) && !body.contains(&revoked[4..]),
                "no key echoed"
            );
        }
    }
    // Nothing was changed by the refused calls.
    let api = Api::new(&app, &key);
    assert_eq!(
        api.get_json(&format!("/connections/{id}")).await["status"],
        "active"
    );
    // A bearer scheme in any case is accepted (RFC 6750).
    let res = client
        .get(format!("{}/api/v1/connections", app.address))
        .header("authorization", format!("bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn scopes_are_enforced_on_every_route(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, _) = tenant_with_key(&app, "ann@example.com").await;
    let id = connect_demo(&app, &ann).await;
    let reader = Api::new(&app, &create_key(&ann, "reader", &["read"]).await);
    let writer = Api::new(&app, &create_key(&ann, "writer", &["write"]).await);
    let tokens = Api::new(
        &app,
        &create_key(&ann, "tokens", &["tokens", "proxy"]).await,
    );
    for (method, path, body) in routes(&id) {
        let needs_write = method != Method::GET;
        for (api, allowed) in [
            (&reader, !needs_write),
            (&writer, needs_write),
            (&tokens, false),
        ] {
            let res = api.call(method.clone(), &path, body.clone()).await;
            if allowed {
                assert!(
                    res.status().is_success(),
                    "{method} {path}: {}",
                    res.status()
                );
            } else {
                let body = problem(res, 403).await;
                let scope = if needs_write { "write" } else { "read" };
                assert!(body["detail"].as_str().unwrap().contains(scope), "{body}");
            }
        }
    }
}

async fn other_workspaces_ids_answer_404_like_random_ones(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, ann_key) = tenant_with_key(&app, "ann@example.com").await;
    let id = connect_demo(&app, &ann).await;
    let (_, bob_key) = tenant_with_key(&app, "bob@example.com").await;
    let bob = Api::new(&app, &bob_key);
    let random = uuid::Uuid::new_v4().to_string();
    let mut answers = Vec::new();
    for target in [id.as_str(), random.as_str(), "not-a-uuid"] {
        for method in [Method::GET, Method::DELETE] {
            let res = bob
                .call(method.clone(), &format!("/connections/{target}"), None)
                .await;
            let mut body = problem(res, 404).await;
            body["instance"] = Value::Null;
            answers.push(body);
        }
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "identical: {answers:?}"
    );
    let listed = bob.get_json("/connections").await;
    assert_eq!(listed["data"], json!([]), "bob lists nothing of ann's");
    let ann = Api::new(&app, &ann_key);
    assert_eq!(
        ann.get_json(&format!("/connections/{id}")).await["status"],
        "active",
        "bob's DELETE changed nothing"
    );
}

async fn listing_pages_and_filters_and_shows_metadata_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, key) = tenant_with_key(&app, "ann@example.com").await;
    connect_demo(&app, &ann).await;
    // Buttons are listed oldest first; a later button is the last link.
    app.clock.advance(chrono::Duration::seconds(1));
    crate::connect::add_kommo_button(&ann).await;
    let kommo_link = app.connect_links(&ann).await.pop().unwrap();
    app.clock.advance(chrono::Duration::seconds(5));
    let (_, answer) = app.connect_account(&kommo_link, KOMMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);

    let api = Api::new(&app, &key);
    let all = api.get_json("/connections").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(all["data"][0]["platform"], "kommo", "newest first");
    let first = api.get_json("/connections?limit=1").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = api
        .get_json(&format!("/connections?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);
    assert_eq!(second["data"][0]["host"], "demo.amocrm.ru");

    let kommo = api.get_json("/connections?platform=kommo").await;
    assert_eq!(kommo["data"].as_array().unwrap().len(), 1);
    assert_eq!(kommo["data"][0]["account_name"], "Kommo Demo");
    let active = api.get_json("/connections?status=active").await;
    assert_eq!(active["data"].as_array().unwrap().len(), 2);
    let revoked = api.get_json("/connections?status=revoked").await;
    assert_eq!(revoked["data"], json!([]));
    let nobody = api.get_json("/connections?end_user_id=nobody").await;
    assert_eq!(nobody["data"], json!([]));

    let one = &all["data"][1];
    let keys: Vec<&str> = one
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in [
        "id",
        "platform",
        "account_id",
        "host",
        "status",
        "connected_at",
        "end_user_id",
        "metadata",
    ] {
        assert!(keys.contains(&field), "{field} in {keys:?}");
    }
    let text = all.to_string();
    for secret_field in ["token", "secret", "client_id", "v1:t1:"] {
        assert!(
            !text.contains(secret_field),
            "{secret_field} leaked: {text}"
        );
    }

    for bad in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "status=bogus",
        "platform=bitrix",
        "cursor=garbage",
        "end_user_id=",
        "limit=1&limit=2",
    ] {
        let res = api
            .call(Method::GET, &format!("/connections?{bad}"), None)
            .await;
        problem(res, 400).await;
    }
}

async fn revoking_through_the_api_records_the_key_as_actor(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let key = create_key(&ann, "cleanup job", &["read", "write"]).await;
    let id = connect_demo(&app, &ann).await;
    let api = Api::new(&app, &key);
    let res = api
        .call(Method::DELETE, &format!("/connections/{id}"), None)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        api.get_json(&format!("/connections/{id}")).await["status"],
        "revoked"
    );
    let res = api
        .call(Method::DELETE, &format!("/connections/{id}"), None)
        .await;
    assert_eq!(res.status(), 204, "idempotent");
    let page = ann.get_html(&format!("/connections/{id}")).await;
    assert!(page.contains("API key cleanup job"), "{page}");
}

async fn the_api_describes_itself_and_refuses_what_it_does_not_offer(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    let doc = openapi_document(&app).await;
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, method) in [
        ("/connections", "get"),
        ("/connections/{id}", "get"),
        ("/connections/{id}", "delete"),
        ("/connect-sessions", "post"),
        ("/openapi.json", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let docs = reqwest::get(format!("{}/api/docs", app.address))
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("/api/v1/connections/{id}") && html.contains("/static/app.css"));
    assert!(!html.contains("cdn"), "no third-party assets");

    let res = api.call(Method::PATCH, "/connections", None).await;
    assert_eq!(res.headers()["allow"].to_str().unwrap(), "GET");
    problem(res, 405).await;
    let res = api.call(Method::PUT, "/connections/x", None).await;
    assert_eq!(res.headers()["allow"].to_str().unwrap(), "GET, DELETE");
    problem(res, 405).await;
    problem(api.call(Method::GET, "/nothing-here", None).await, 404).await;

    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/connect-sessions", app.address);
    let malformed = client
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(malformed, 400).await;
    let form = client
        .post(&url)
        .bearer_auth(&key)
        .form(&[("end_user_id", "u1")])
        .send()
        .await
        .unwrap();
    problem(form, 400).await;
    let huge = client
        .post(&url)
        .bearer_auth(&key)
        .json(&json!({"end_user_id": "u1", "metadata": {"x": "y".repeat(100_000)}}))
        .send()
        .await
        .unwrap();
    problem(huge, 413).await;
}

both_engines!(
    bad_keys_get_401_problem_json_on_every_route,
    scopes_are_enforced_on_every_route,
    other_workspaces_ids_answer_404_like_random_ones,
    listing_pages_and_filters_and_shows_metadata_only,
    revoking_through_the_api_records_the_key_as_actor,
    the_api_describes_itself_and_refuses_what_it_does_not_offer,
);
