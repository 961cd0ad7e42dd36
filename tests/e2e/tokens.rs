//! Token vending `POST /api/v1/connections/{id}/token` (issue 6): a token amoCRM accepts, valid
//! for at least the refresh margin, refreshed through the keeper, never cached or logged.

use std::time::Duration;

use amolink_tests::{Engine, TestApp, both_engines, captured_logs, spawn_app};
use reqwest::Method;
use serde_json::Value;

use crate::{
    api::{Api, problem},
    api_keys::create_key,
    proxy::{Setup, refreshes, setup, sim_requests},
};

async fn vend(api: &Api, id: &str) -> reqwest::Response {
    api.call(Method::POST, &format!("/connections/{id}/token"), None)
        .await
}

/// Calls amoCRM (the simulator) directly with `token`, as a tenant's backend would.
async fn account_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/_sim/site/demo.amocrm.ru/api/v4/account",
            app.sim_url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_vended_token_works_at_amocrm_and_is_never_the_api_key(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    let res = vend(&api, &id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty() && !token.contains("alk_") && token != api.key);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["api_base_url"], "https://demo.amocrm.ru");
    assert_eq!(body["account_id"], 31_000_001);
    assert_eq!(body["connection_id"], id.as_str());
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!(expires_in > 7_200 && expires_in <= 86_400, "{expires_in}");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(account_status(&app, &token).await, 200, "amoCRM accepts it");
    assert_eq!(
        account_status(&app, &api.key).await,
        401,
        "and not the API key"
    );
    assert_eq!(refreshes(&app), 0, "a fresh token is handed out as it is");
    assert!(
        !captured_logs().contains(&token),
        "the token never reaches the logs"
    );
}

async fn a_token_within_the_margin_is_refreshed_once_first(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    let old: Value = vend(&api, &id).await.json().await.unwrap();
    // 23 of its 24 hours are gone: less than the 2-hour margin remains.
    let elapsed = Duration::from_secs(23 * 3600);
    app.clock
        .advance(chrono::Duration::from_std(elapsed).unwrap());
    app.sim.advance_clock(elapsed);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (url, key) = (
                format!("{}/api/v1/connections/{id}/token", app.address),
                api.key.clone(),
            );
            tokio::spawn(async move {
                let res = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                res.json::<Value>().await.unwrap()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap());
    }
    assert_eq!(refreshes(&app), 1, "concurrent callers share one refresh");
    for token in &tokens {
        assert_ne!(token["access_token"], old["access_token"]);
        assert_eq!(token["access_token"], tokens[0]["access_token"]);
        assert!(token["expires_in"].as_i64().unwrap() > 23 * 3600);
    }
    let again: Value = vend(&api, &id).await.json().await.unwrap();
    assert_eq!(again["access_token"], tokens[0]["access_token"]);
    assert_eq!(refreshes(&app), 1, "no refresh while the token is fresh");
    assert_eq!(app.sim.stale_refresh_presentations(), 0);
}

async fn scopes_and_workspaces_are_enforced(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { tenant, id, api } = setup(&app).await;
    for scopes in [&["read"][..], &["read", "write", "proxy"]] {
        let key = create_key(&tenant, "limited", scopes).await;
        let body = problem(vend(&Api::new(&app, &key), &id).await, 403).await;
        assert!(
            body["detail"].as_str().unwrap().contains("tokens"),
            "{body}"
        );
    }
    let bob = app.signed_in_browser("bob@example.com", "Bob's").await;
    let bob = Api::new(&app, &create_key(&bob, "bob", &["tokens"]).await);
    let mut answers = Vec::new();
    for target in [id.clone(), uuid::Uuid::new_v4().to_string(), "nope".into()] {
        answers.push(problem(vend(&bob, &target).await, 404).await);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let anonymous = reqwest::Client::new()
        .post(format!("{}/api/v1/connections/{id}/token", app.address))
        .send()
        .await
        .unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    problem(anonymous, 401).await;
    assert_eq!(vend(&api, &id).await.status(), 200, "the owner still can");
}

async fn unusable_connections_answer_409_saying_why(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    // amoCRM refuses the refresh token for good: needs re-auth.
    let integration = app.sim.integrations().into_iter().next().unwrap();
    app.sim.uninstall(&integration.client_id).await.unwrap();
    let elapsed = Duration::from_secs(23 * 3600);
    app.clock
        .advance(chrono::Duration::from_std(elapsed).unwrap());
    app.sim.advance_clock(elapsed);
    let body = problem(vend(&api, &id).await, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("again"), "{body}");
    let before = sim_requests(&app);
    problem(vend(&api, &id).await, 409).await;
    let proxied = format!("/connections/{id}/proxy/api/v4/account");
    problem(api.call(Method::GET, &proxied, None).await, 409).await;
    assert_eq!(sim_requests(&app), before, "amoCRM is not asked again");

    assert_eq!(
        api.call(Method::DELETE, &format!("/connections/{id}"), None)
            .await
            .status(),
        204
    );
    let body = problem(vend(&api, &id).await, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    problem(api.call(Method::POST, &proxied, None).await, 409).await;
}

both_engines!(
    a_vended_token_works_at_amocrm_and_is_never_the_api_key,
    a_token_within_the_margin_is_refreshed_once_first,
    scopes_and_workspaces_are_enforced,
    unusable_connections_answer_409_saying_why,
);
