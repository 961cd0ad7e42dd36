//! Connect sessions: a single-use, short-lived hosted URL per end user whose connection carries
//! the end user and metadata through the API and the pages (issue 6, acceptance 5).

use amolink_tests::{Browser, Engine, TestApp, both_engines, captured_logs, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    api::{Api, problem},
    api_keys::tenant_with_key,
    connect::DEMO_ADMIN_ACCOUNT,
};

async fn create_session(api: &Api, body: Value) -> Value {
    let res = api
        .call(Method::POST, "/connect-sessions", Some(body))
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// The whole flow through a session URL; returns the callback's answer status.
async fn connect_through(app: &TestApp, url: &str) -> (Browser, u16) {
    let (customer, answer) = app.connect_account(url, DEMO_ADMIN_ACCOUNT).await;
    (customer, answer.status().as_u16())
}

async fn a_session_connection_carries_the_end_user_everywhere(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    let session = create_session(
        &api,
        json!({"end_user_id": "customer-42", "metadata": {"plan": "pro", "seats": 3}}),
    )
    .await;
    let url = session["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/connect/s/", app.address)),
        "{url}"
    );
    assert_eq!(session["end_user_id"], "customer-42");
    assert!(session["expires_at"].as_str().unwrap().ends_with('Z'));

    let (_, status) = connect_through(&app, url).await;
    assert_eq!(status, 303);
    let token = url.rsplit('/').next().unwrap();
    assert!(
        !captured_logs().contains(token),
        "the URL token is not logged"
    );

    let listed = api.get_json("/connections?end_user_id=customer-42").await;
    let connection = &listed["data"][0];
    assert_eq!(connection["end_user_id"], "customer-42");
    assert_eq!(connection["metadata"], json!({"plan": "pro", "seats": 3}));
    let id = connection["id"].as_str().unwrap();
    assert_eq!(
        api.get_json(&format!("/connections/{id}")).await["metadata"]["plan"],
        "pro"
    );
    let list_page = ann.get_html("/connections").await;
    assert!(list_page.contains("end user customer-42"), "{list_page}");
    let detail = ann.get_html(&format!("/connections/{id}")).await;
    assert!(
        detail.contains("customer-42") && detail.contains("seats"),
        "{detail}"
    );
}

async fn a_session_url_serves_one_browser_and_expires(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    let url = create_session(&api, json!({"end_user_id": "u1"})).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = app.browser();
    assert_eq!(first.client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(
        first.client.get(&url).send().await.unwrap().status(),
        200,
        "the browser that redeemed it may reload"
    );
    let second = app.browser();
    let refused = second.client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 400, "another browser is refused");
    assert!(refused.text().await.unwrap().contains("already used"));

    let later = create_session(&api, json!({"end_user_id": "u2"})).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(chrono::Duration::minutes(31));
    let expired = app.browser().client.get(&later).send().await.unwrap();
    assert_eq!(expired.status(), 400, "expired");
    assert_eq!(
        first.client.get(&url).send().await.unwrap().status(),
        400,
        "even its own browser cannot use it after expiry"
    );
    let forged = format!("{}/connect/s/{}", app.address, "A".repeat(43));
    assert_eq!(
        app.browser()
            .client
            .get(&forged)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

async fn a_completed_session_url_answers_already_used(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    let url = create_session(&api, json!({"end_user_id": "u1"})).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (customer, status) = connect_through(&app, &url).await;
    assert_eq!(status, 303);
    let again = customer.client.get(&url).send().await.unwrap();
    assert_eq!(
        again.status(),
        400,
        "its own browser cannot start another flow"
    );
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("already used: the account is connected")
    );
}

async fn reconnecting_an_end_users_account_keeps_the_connection_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    let first = create_session(&api, json!({"end_user_id": "customer-7"})).await;
    let (_, status) = connect_through(&app, first["url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let id = api.get_json("/connections").await["data"][0]["id"].clone();

    let again = create_session(
        &api,
        json!({"end_user_id": "customer-7", "metadata": {"round": 2}}),
    )
    .await;
    let (_, status) = connect_through(&app, again["url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let all = api.get_json("/connections").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_eq!(all["data"][0]["id"], id, "same connection");
    assert_eq!(all["data"][0]["metadata"], json!({"round": 2}));

    // A reconnect through the plain button keeps what the session attached.
    let link = app.connect_links(&ann).await.into_iter().next().unwrap();
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let all = api.get_json("/connections").await;
    assert_eq!(all["data"][0]["id"], id);
    assert_eq!(all["data"][0]["end_user_id"], "customer-7");
}

async fn session_requests_are_validated(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    for body in [
        json!({}),
        json!({"end_user_id": ""}),
        json!({"end_user_id": 42}),
        json!({"end_user_id": "x".repeat(256)}),
        json!({"end_user_id": "a\u{0}b"}),
        json!({"end_user_id": "u", "metadata": [1, 2]}),
        json!({"end_user_id": "u", "metadata": {"big": "x".repeat(5000)}}),
        json!({"end_user_id": "u", "button_id": "not-a-uuid"}),
        json!({"end_user_id": "u", "extra": true}),
    ] {
        let res = api
            .call(Method::POST, "/connect-sessions", Some(body.clone()))
            .await;
        problem(res, 400).await;
    }
    let null_metadata = create_session(&api, json!({"end_user_id": "u", "metadata": null})).await;
    assert_eq!(null_metadata["metadata"], Value::Null);

    // Another workspace's button is not found, exactly like a random one.
    let (bob, bob_key) = tenant_with_key(&app, "bob@example.com").await;
    drop(bob);
    let bob_api = Api::new(&app, &bob_key);
    let ann_button = create_session(&api, json!({"end_user_id": "u"})).await["button_id"].clone();
    for button in [ann_button.clone(), json!(uuid::Uuid::new_v4().to_string())] {
        let res = bob_api
            .call(
                Method::POST,
                "/connect-sessions",
                Some(json!({"end_user_id": "u", "button_id": button})),
            )
            .await;
        problem(res, 404).await;
    }
    let own = create_session(&api, json!({"end_user_id": "u", "button_id": ann_button})).await;
    assert_eq!(own["button_id"], ann_button);
    drop(ann);
}

both_engines!(
    a_completed_session_url_answers_already_used,
    a_session_connection_carries_the_end_user_everywhere,
    a_session_url_serves_one_browser_and_expires,
    reconnecting_an_end_users_account_keeps_the_connection_id,
    session_requests_are_validated,
);
