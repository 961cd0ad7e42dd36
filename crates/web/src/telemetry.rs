//! Logging and request spans.
//!
//! The access log records the path, never the query string: OAuth codes and states travel there
//! (docs/security-requirements.md R28), and neither does it record `Referer` headers.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage as _,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::settings::LogFormat;

/// Installs the global subscriber. Safe to call twice (the second call does nothing).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).try_init(),
    };
}

/// The path as logged: a connect session's URL token (`/connect/s/{token}`) and an events
/// destination's token (`/amocrm/events/{token}`) are credentials, so they are replaced by `…`.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/connect/s/") {
        "/connect/s/…"
    } else if path.starts_with("/amocrm/events/") {
        "/amocrm/events/…"
    } else {
        path
    }
}

/// Builds each request's root span with a request id and the path only.
pub struct AccessLog;

#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl RootSpanBuilder for AccessLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        request.extensions_mut().insert(Started(Instant::now()));
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %loggable_path(request.path()),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, elapsed) = match outcome {
            Ok(res) => (
                res.status().as_u16(),
                res.request()
                    .extensions()
                    .get::<Started>()
                    .map(|s| s.0.elapsed()),
            ),
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        span.record("status", status);
        let millis = elapsed.map_or(0, |d| d.as_millis());
        span.in_scope(|| {
            tracing::info!(
                elapsed_ms = u64::try_from(millis).unwrap_or(u64::MAX),
                "request served"
            )
        });
    }
}
