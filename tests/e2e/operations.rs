//! Operational endpoints (issue 2, acceptance 8).

use amolink_tests::{Engine, both_engines, spawn_app};
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

both_engines!(
    health_readiness_and_metrics_answer,
    readiness_fails_when_the_database_is_gone
);
