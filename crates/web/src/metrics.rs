//! Prometheus metrics: request counts and latency histograms per route, in the text format.
//!
//! Routes are labelled by their pattern (`/connections/{id}`), never by the raw path, so the
//! number of series stays bounded whatever clients send.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Mutex, PoisonError},
    time::Instant,
};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Cumulative counts per bucket bound, then the total.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, bucket) in BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → count
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route → latency
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.to_owned())
            .or_default()
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP amolink_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE amolink_http_requests_total counter\n");
        for ((method, route, status), count) in self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "amolink_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP amolink_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE amolink_http_request_duration_seconds histogram\n");
        for (route, histogram) in self
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let route = escape(route);
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "amolink_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "amolink_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "amolink_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "amolink_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        out
    }
}

/// The token keeper's counters, and the seconds left on the access token closest to expiry.
#[must_use]
pub fn render_keeper(stats: &domain::keeper::KeeperStats, margin_secs: Option<f64>) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP amolink_token_refreshes_total Access tokens refreshed by this instance.\n",
    );
    out.push_str("# TYPE amolink_token_refreshes_total counter\n");
    let _ = writeln!(
        out,
        "amolink_token_refreshes_total {}",
        stats.refreshed_total()
    );
    out.push_str("# HELP amolink_token_refresh_failures_total Failed refreshes by reason.\n");
    out.push_str("# TYPE amolink_token_refresh_failures_total counter\n");
    for (reason, count) in stats.failures() {
        let _ = writeln!(
            out,
            "amolink_token_refresh_failures_total{{reason=\"{}\"}} {count}",
            escape(reason)
        );
    }
    out.push_str("# HELP amolink_refresh_lease_takeovers_total Expired leases of other instances taken over.\n");
    out.push_str("# TYPE amolink_refresh_lease_takeovers_total counter\n");
    let _ = writeln!(
        out,
        "amolink_refresh_lease_takeovers_total {}",
        stats.takeovers_total()
    );
    if let Some(margin) = margin_secs {
        out.push_str("# HELP amolink_token_margin_seconds Seconds left on the access token closest to expiry.\n");
        out.push_str("# TYPE amolink_token_margin_seconds gauge\n");
        let _ = writeln!(out, "amolink_token_margin_seconds {margin}");
    }
    out
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
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
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
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
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.5\"} 2"));
        assert!(text.contains("_count{route=\"/login\"} 2"));
    }
}
