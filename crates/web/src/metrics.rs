//! Prometheus metrics on `prometheus-client`: request counts and latency histograms per route,
//! plus the token keeper's counters, in Prometheus' text exposition format (0.0.4).
//!
//! Routes are labelled by the pattern actix matched (`/connections/{id}`), never by the raw
//! path, so the number of series stays bounded whatever clients send. Recording takes a shared
//! read lock on the series map (a write lock only the first time a series appears) and the one
//! series' own lock; requests on different routes never wait for each other.

use std::time::Instant;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text::encode},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        histogram::Histogram,
    },
    registry::Registry,
};

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route a request matched, or `unmatched`.
const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    connection_id: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Process-wide HTTP metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "amolink_http_requests",
            "HTTP requests answered",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "amolink_http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        Self {
            registry,
            requests,
            latency,
        }
    }
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The text exposition of the HTTP metrics.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The token keeper's counters, and the seconds left on the access token closest to expiry
/// (read from the keeper at scrape time, so they are registered per scrape).
#[must_use]
pub fn render_keeper(stats: &domain::keeper::KeeperStats, margin_secs: Option<f64>) -> String {
    let mut registry = Registry::default();
    registry.register(
        "amolink_token_refreshes",
        "Access tokens refreshed by this instance",
        ConstCounter::new(stats.refreshed_total()),
    );
    let failures = Family::<ReasonLabels, Counter>::default();
    for (reason, count) in stats.failures() {
        failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc_by(count);
    }
    registry.register(
        "amolink_token_refresh_failures",
        "Failed refreshes by reason",
        failures,
    );
    registry.register(
        "amolink_refresh_lease_takeovers",
        "Expired leases of other instances taken over",
        ConstCounter::new(stats.takeovers_total()),
    );
    registry.register(
        "amolink_token_refresh_refused_by_policy",
        "Refreshes wanted but not made: amoCRM's token endpoint was called for the connection \
less than the minimum interval ago",
        ConstCounter::new(stats.refused_by_policy_total()),
    );
    let token_calls = Family::<ConnectionLabels, Counter>::default();
    for (connection, calls) in stats.token_calls() {
        token_calls
            .get_or_create(&ConnectionLabels {
                connection_id: connection.to_string(),
            })
            .inc_by(calls);
    }
    registry.register(
        "amolink_connection_token_calls",
        "Calls this instance made to amoCRM's token endpoint, per connection",
        token_calls,
    );
    if let Some(margin) = margin_secs {
        registry.register(
            "amolink_token_margin_seconds",
            "Seconds left on the access token closest to expiry",
            ConstGauge::new(margin),
        );
    }
    let mut out = String::new();
    let _ = encode(&mut out, &registry);
    out
}

/// The activity recorder's counters: entries queued, dropped because the queue was full (the
/// proxy never waits for the database), and lost because storage refused their batch.
#[must_use]
pub fn render_activity(recorder: &domain::activity::ActivityRecorder) -> String {
    let mut registry = Registry::default();
    registry.register(
        "amolink_activity_recorded",
        "Connection activity entries queued for writing",
        ConstCounter::new(recorder.recorded()),
    );
    registry.register(
        "amolink_activity_dropped",
        "Connection activity entries dropped because the write queue was full",
        ConstCounter::new(recorder.dropped()),
    );
    registry.register(
        "amolink_activity_lost",
        "Connection activity entries lost because storage refused their batch",
        ConstCounter::new(recorder.lost()),
    );
    let mut out = String::new();
    let _ = encode(&mut out, &registry);
    out
}

/// Argon2 computations this process made (hashes and verifications, dummy ones included): the
/// work a login flood costs, bounded by the sign-in throttle.
#[must_use]
pub fn render_passwords(computations: u64) -> String {
    let mut registry = Registry::default();
    registry.register(
        "amolink_password_hash_computations",
        "Argon2 password hashes and verifications computed by this instance",
        ConstCounter::new(computations),
    );
    let mut out = String::new();
    let _ = encode(&mut out, &registry);
    out
}

/// Middleware that records every request.
///
/// # Errors
/// Propagates the inner service's error.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        // The pattern is known once routing ran, i.e. after the inner service answered.
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| UNMATCHED.to_owned());
        metrics.record(
            &method,
            &route,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record("GET", "/login", 200, 0.003);
        metrics.record("GET", "/login", 200, 0.3);
        let text = metrics.render();
        assert!(text.contains(
            "amolink_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"0.5\"} 2"));
        assert!(text.contains("_count{route=\"/login\"} 2"));
    }

    #[test]
    fn keeper_metrics_keep_their_names() {
        let text = render_keeper(&domain::keeper::KeeperStats::default(), Some(12.5));
        for name in [
            "amolink_token_refreshes_total 0",
            "amolink_refresh_lease_takeovers_total 0",
            "amolink_token_refresh_refused_by_policy_total 0",
            "amolink_token_margin_seconds 12.5",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
    }

    #[actix_web::test]
    async fn routes_are_labelled_by_their_pattern_never_the_raw_path() {
        use actix_web::{App, HttpResponse, middleware::from_fn, test};
        let metrics = web::Data::new(Metrics::default());
        let app = test::init_service(
            App::new()
                .app_data(metrics.clone())
                .wrap(from_fn(track))
                .route(
                    "/connections/{id}",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                ),
        )
        .await;
        for path in [
            "/connections/a",
            "/connections/b",
            "/elsewhere/secret-token",
        ] {
            let _ = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        }
        let text = metrics.render();
        assert!(
            text.contains(
                "amolink_http_requests_total{method=\"GET\",route=\"/connections/{id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(!text.contains("secret-token"), "{text}");
    }
}
