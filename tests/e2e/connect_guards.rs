//! What the connect flow refuses (issue 4, acceptance 2, 3, 5 and 6; docs/security-requirements.md R14–R19).

use amolink_tests::{Engine, Page, TestApp, both_engines, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement};

use crate::connect::{DEMO_ADMIN_ACCOUNT, tenant};

async fn count(app: &TestApp, sql: &str) -> i64 {
    let db = app.database.connection();
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

/// The callback URL with one query parameter replaced.
fn with_param(callback: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

async fn hostile_referers_are_refused_before_any_byte_leaves(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, link) = tenant(&app, "ann@example.com").await;
    let (customer, _, callback) = app.consent(&link, DEMO_ADMIN_ACCOUNT).await;
    let hostile = amocrm::testing::hostile_referer_samples();
    assert!(
        hostile.len() >= 40,
        "the spec asks for forty hostile values"
    );
    let journal_before = app.sim.journal().len();
    for referer in hostile {
        let res = customer
            .client
            .get(with_param(&callback, "referer", referer))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "referer {referer:?} was not refused");
    }
    assert_eq!(
        app.sim.journal().len(),
        journal_before,
        "a hostile referer reached the network"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM connections").await, 0);
    // The flow was never consumed: the genuine callback still completes.
    let res = customer.client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM connections").await, 1);
}

async fn replayed_callbacks_and_repeated_secrets_create_nothing_new(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant_browser, link) = tenant(&app, "ann@example.com").await;
    let (customer, tag, callback) = app.consent(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(
        customer
            .client
            .get(&callback)
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let replay = customer.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 409, "a replayed callback is refused");

    let integration = app
        .sim
        .integrations()
        .into_iter()
        .next()
        .expect("the simulator created an integration");
    let deliver = |client_id: String, secret: String, state: String| {
        let client = reqwest::Client::new();
        let url = tag.secrets_uri.clone();
        async move {
            client
                .post(url)
                .json(&serde_json::json!({ "client_id": client_id, "client_secret": secret, "state": state }))
                .send()
                .await
                .unwrap()
        }
    };
    let again = deliver(
        integration.client_id.clone(),
        integration.client_secret.clone(),
        tag.state.clone(),
    )
    .await;
    assert_eq!(again.status(), 200, "the same delivery again is accepted");
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["duplicate"],
        true
    );
    let other = deliver(
        uuid::Uuid::new_v4().to_string(),
        "x".repeat(64),
        tag.state.clone(),
    )
    .await;
    assert_eq!(
        other.status(),
        409,
        "another client for a used state is a conflict"
    );
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    let unknown = deliver(
        uuid::Uuid::new_v4().to_string(),
        "x".repeat(64),
        "no-such-state".into(),
    )
    .await;
    assert_eq!(unknown.status(), 400);
    let garbage = reqwest::Client::new()
        .post(&tag.secrets_uri)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let huge = reqwest::Client::new()
        .post(&tag.secrets_uri)
        .header("content-type", "application/json")
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

    assert_eq!(count(&app, "SELECT COUNT(*) FROM connections").await, 1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM connection_events").await,
        2
    );
    assert!(
        tenant_browser
            .get_html("/connections")
            .await
            .contains("Active")
    );
}

async fn twenty_parallel_callbacks_with_one_state_make_one_connection(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, link) = tenant(&app, "ann@example.com").await;
    let (customer, _, callback) = app.consent(&link, DEMO_ADMIN_ACCOUNT).await;
    let journal_before = app.sim.journal().len();
    let answers = futures_join((0..20).map(|_| {
        let client = customer.client.clone();
        let url = callback.clone();
        tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == 303).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|s| **s == 409).count(),
        19,
        "{answers:?}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM connections").await, 1);
    let token_calls = app.sim.journal()[journal_before..]
        .iter()
        .filter(|e| matches!(&e.event, amocrm_sim::Event::Request { path, .. } if path == "/oauth2/access_token"))
        .count();
    assert_eq!(token_calls, 1, "the code was exchanged exactly once");
}

async fn futures_join(handles: impl Iterator<Item = tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

async fn another_workspace_gets_404_for_every_connection_route(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let list = ann.get_html("/connections").await;
    let id = Page::parse(&list).id_after("/connections/").unwrap();
    let bob = app.signed_in_browser("bob@example.com", "Bob Co").await;

    let routes = [
        ("GET", format!("/connections/{id}")),
        ("POST", format!("/connections/{id}/revoke")),
    ];
    for (method, path) in &routes {
        let res = match *method {
            "GET" => bob.get(path).await,
            _ => bob.submit("/dashboard", path, &[]).await,
        };
        assert_eq!(res.status(), 404, "{method} {path}");
        // A random id answers exactly the same.
        let random = path.replace(&id, &uuid::Uuid::new_v4().to_string());
        let res = match *method {
            "GET" => bob.get(&random).await,
            _ => bob.submit("/dashboard", &random, &[]).await,
        };
        assert_eq!(res.status(), 404, "{method} {random}");
    }
    assert!(!bob.get_html("/connections").await.contains("Рога и копыта"));
    let detail = ann.get_html(&format!("/connections/{id}")).await;
    assert!(detail.contains("Active"), "nothing changed for the owner");
}

async fn hostile_account_names_render_as_text(engine: Engine) {
    let app = spawn_app(engine).await;
    app.sim
        .add_account(amocrm_sim::AccountSeed {
            id: 31_000_099,
            platform: amocrm_sim::Platform::Amocrm,
            subdomain: "xss".into(),
            name: "<img src=x onerror=alert(1)>".into(),
            admin: true,
        })
        .unwrap();
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (_, answer) = app.connect_account(&link, 31_000_099).await;
    assert_eq!(answer.status(), 303);
    for page in ["/connections", "/dashboard"] {
        let html = ann.get_html(page).await;
        assert!(
            !html.contains("<img src=x"),
            "{page} renders markup from amoCRM"
        );
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;") || html.contains("&lt;img src=x"),
            "{page}"
        );
    }
}

both_engines!(
    hostile_referers_are_refused_before_any_byte_leaves,
    replayed_callbacks_and_repeated_secrets_create_nothing_new,
    twenty_parallel_callbacks_with_one_state_make_one_connection,
    another_workspace_gets_404_for_every_connection_route,
    hostile_account_names_render_as_text,
);
