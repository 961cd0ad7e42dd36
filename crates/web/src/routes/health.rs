//! Operational endpoints: liveness, readiness and metrics.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

use crate::{metrics::Metrics, shutdown::Draining, state::AppState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// `GET /healthz`: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers too, and the instance is not draining before a stop
/// (`crate::shutdown`); 503 otherwise. Load balancers check this one.
async fn readyz(state: web::Data<AppState>, draining: Option<web::Data<Draining>>) -> HttpResponse {
    if draining.is_some_and(|d| d.is_on()) {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "draining" }));
    }
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

/// What `/metrics` answers a request.
#[derive(Debug, PartialEq, Eq)]
enum Scrape {
    Allowed,
    /// 401 with `WWW-Authenticate: Bearer`.
    Denied,
    /// 404: production without `AMOLINK_METRICS_TOKEN` does not serve metrics publicly
    /// (contract.md).
    NotServed,
}

/// With `AMOLINK_METRICS_TOKEN` set, only `Authorization: Bearer {token}` (compared in constant
/// time) may read; without it, anyone in development and no one in production.
fn scrape(production: bool, token: Option<&str>, authorization: Option<&str>) -> Scrape {
    let Some(token) = token else {
        return if production {
            Scrape::NotServed
        } else {
            Scrape::Allowed
        };
    };
    let matches = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())));
    if matches {
        Scrape::Allowed
    } else {
        Scrape::Denied
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let access = scrape(
        state.settings.is_production(),
        state
            .settings
            .metrics_token
            .as_ref()
            .map(|t| t.expose_secret()),
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok()),
    );
    match access {
        Scrape::Allowed => {}
        Scrape::NotServed => return HttpResponse::NotFound().finish(),
        Scrape::Denied => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .finish();
        }
    }
    let mut text = metrics.render();
    let earliest = state.keeper.earliest_expiry().await.ok().flatten();
    let margin = earliest.map(|at| (at - state.clock.now()).num_milliseconds() as f64 / 1000.0);
    text.push_str(&crate::metrics::render_keeper(
        &state.keeper.stats(),
        margin,
    ));
    text.push_str(&crate::metrics::render_activity(state.activity.recorder()));
    text.push_str(&crate::metrics::render_passwords(
        state.accounts.password_computations(),
    ));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_without_a_metrics_token_does_not_serve_metrics() {
        assert_eq!(scrape(true, None, None), Scrape::NotServed);
        assert_eq!(scrape(true, None, Some("Bearer x")), Scrape::NotServed);
        assert_eq!(scrape(false, None, None), Scrape::Allowed);
        assert_eq!(scrape(true, Some("s3cret"), None), Scrape::Denied);
        assert_eq!(
            scrape(true, Some("s3cret"), Some("Bearer s3cre")),
            Scrape::Denied
        );
        assert_eq!(
            scrape(true, Some("s3cret"), Some("Bearer s3cret")),
            Scrape::Allowed
        );
    }
}
