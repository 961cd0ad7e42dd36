//! Operational endpoints: liveness, readiness and metrics.

use actix_web::{HttpResponse, web};

use crate::{metrics::Metrics, state::AppState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// `GET /healthz`: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers too; 503 otherwise.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = tokio::time::timeout(std::time::Duration::from_secs(2), state.health.ping()).await;
    match check {
        Ok(Ok(())) => {
            HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": "ok" }))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            not_ready()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            not_ready()
        }
    }
}

fn not_ready() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(metrics: web::Data<Metrics>, state: web::Data<AppState>) -> HttpResponse {
    let mut text = metrics.render();
    let earliest = state.keeper.earliest_expiry().await.ok().flatten();
    let margin = earliest.map(|at| (at - state.clock.now()).num_milliseconds() as f64 / 1000.0);
    text.push_str(&crate::metrics::render_keeper(
        &state.keeper.stats(),
        margin,
    ));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
