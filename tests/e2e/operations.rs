//! Operational endpoints (issue 2, acceptance 8).

use amolink_tests::{Engine, both_engines, spawn_app, spawn_app_with};
use sea_orm::ConnectionTrait as _;

async fn health_readiness_and_metrics_answer(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();
    let res = browser.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let res = browser.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let _ = browser.get("/login").await;
    let res = browser.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            "amolink_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE amolink_http_request_duration_seconds histogram"));
    assert!(
        text.contains(
            "amolink_http_request_duration_seconds_bucket{route=\"/login\",le=\"+Inf\"} 1"
        )
    );
}

async fn readiness_fails_when_the_database_is_gone(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();
    assert_eq!(browser.get("/readyz").await.status(), 200);
    match engine {
        Engine::Postgres => {
            let (admin_url, name) = app.database_url.rsplit_once('/').unwrap();
            let admin = sea_orm::Database::connect(format!("{admin_url}/postgres"))
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .await
                .unwrap();
        }
        Engine::Sqlite => app.database.clone().close().await.unwrap(),
    }
    let res = browser.get("/readyz").await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        browser.get("/healthz").await.status(),
        200,
        "the process is still up"
    );
}

async fn a_metrics_token_guards_the_metrics(engine: Engine) {
    let app = spawn_app_with(engine, &[("metrics_token", "scrape-secret")], |_| {}).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", app.address);
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let wrong = client.get(&url).bearer_auth("scrape").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("amolink_http_requests_total")
    );
}

/// Demo mode mounts the simulator beside amolink's own routes; requests are still labelled by
/// their route's pattern, not `unmatched` — also those answered before routing (a 429 from the
/// per-address limit), which is how most of a flood is answered.
async fn demo_mode_metrics_name_the_routes(engine: Engine) {
    let app = spawn_app_with(engine, &[("demo", "true")], |overrides| {
        overrides.slow_clients.pages_per_address = web::api::RatePolicy {
            burst: 1,
            per_second: 0.001,
        };
    })
    .await;
    let browser = app.browser();
    assert_eq!(browser.get("/login").await.status(), 200);
    assert_eq!(browser.get("/login").await.status(), 429);
    // The simulator is mounted (demo mode is on).
    assert_ne!(
        browser
            .get("/_sim/site/demo.amocrm.ru/api/v4/account")
            .await
            .status(),
        404
    );
    let id = uuid::Uuid::new_v4();
    let _ = browser.get(&format!("/connections/{id}")).await;
    let text = browser.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(
            "amolink_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "amolink_http_requests_total{method=\"GET\",route=\"/login\",status=\"429\"} 1"
        ),
        "a request refused before routing: {text}"
    );
    assert!(
        text.contains("route=\"/connections/{id}\""),
        "a parameterised route by its pattern: {text}"
    );
    assert!(!text.contains(&id.to_string()), "never the raw path");
}

both_engines!(
    demo_mode_metrics_name_the_routes,
    a_metrics_token_guards_the_metrics,
    health_readiness_and_metrics_answer,
    readiness_fails_when_the_database_is_gone
);
