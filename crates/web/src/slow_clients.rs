//! Slow clients and bodies (security.md R50, issue 14): a deadline on reading every request
//! body, and a bound on how many requests the public endpoints serve at once.
//!
//! actix's `client_request_timeout` covers only the request head: once the head is in, a client
//! can drip its body a byte at a time and hold a worker's connection (and, on `/amocrm/secrets`,
//! a database-backed handler) for as long as it likes. Here the body stream itself carries a
//! deadline, counted from when the server starts reading it (time the server itself spends
//! before that — waiting for the database under load, say — is not the client's): when it passes, the stream ends with an
//! error, the handler's extractor fails, and the answer is replaced by `408 Request Timeout` with
//! `Connection: close`. Per route: amoCRM's deliveries are tiny and amoCRM gives up after a few
//! seconds itself, so `/amocrm/*` gets the shortest deadline; the tenant proxy (bodies up to
//! 2 MiB) the longest.
//!
//! The public endpoints (amoCRM's webhooks, connect pages, sign-in and sign-up) share a fixed
//! number of in-flight slots; when all are taken the answer is an immediate `503` with
//! `Retry-After`, never a queue: a flood of slow or costly anonymous requests cannot take every
//! worker from signed-in users and the API.

use std::{
    cell::Cell,
    net::IpAddr,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    Error, HttpMessage as _, ResponseError as _,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};
use bytes::Bytes;
use futures_util::Stream;
use tokio::{sync::Semaphore, time::Sleep};

use crate::{
    api::{KeyRateLimiter, RatePolicy},
    client_ip::client_ip,
    error::{ApiError, AppError, PageError},
    state::AppState,
};

/// How long each kind of route may take to deliver its body, and how many public requests may
/// be in flight at once.
#[derive(Debug, Clone, Copy)]
pub struct SlowClientPolicy {
    /// `/amocrm/*`: amoCRM's secrets webhook, event deliveries and hooks.
    pub amocrm_body: Duration,
    /// The tenant proxy `/api/v1/connections/{id}/proxy/…`.
    pub proxy_body: Duration,
    /// Every other route.
    pub default_body: Duration,
    /// In-flight requests the public endpoints may hold together.
    pub public_concurrency: usize,
    /// Requests one client address may make to the sign-in, sign-up and connect pages.
    pub pages_per_address: RatePolicy,
    /// Requests one client address may make to `/amocrm/*` (amoCRM's own servers: generous).
    pub amocrm_per_address: RatePolicy,
    /// Views of one button's connect page `/connect/{key}`, from all addresses together.
    pub connect_per_button: RatePolicy,
}

impl Default for SlowClientPolicy {
    fn default() -> Self {
        Self {
            amocrm_body: Duration::from_secs(5),
            proxy_body: Duration::from_secs(30),
            default_body: Duration::from_secs(10),
            public_concurrency: 256,
            pages_per_address: RatePolicy {
                burst: 120,
                per_second: 2.0,
            },
            amocrm_per_address: RatePolicy {
                burst: 2000,
                per_second: 200.0,
            },
            connect_per_button: RatePolicy {
                burst: 600,
                per_second: 10.0,
            },
        }
    }
}

/// The middleware's shared state: the policy and the public endpoints' slots.
#[derive(Debug, Clone)]
pub struct SlowClients {
    policy: SlowClientPolicy,
    public_slots: Arc<Semaphore>,
    pages: Arc<KeyRateLimiter<IpAddr>>,
    amocrm: Arc<KeyRateLimiter<IpAddr>>,
    buttons: Arc<KeyRateLimiter<String>>,
}

impl SlowClients {
    #[must_use]
    pub fn new(policy: SlowClientPolicy) -> Self {
        Self {
            policy,
            public_slots: Arc::new(Semaphore::new(policy.public_concurrency)),
            pages: Arc::new(KeyRateLimiter::new(policy.pages_per_address)),
            amocrm: Arc::new(KeyRateLimiter::new(policy.amocrm_per_address)),
            buttons: Arc::new(KeyRateLimiter::new(policy.connect_per_button)),
        }
    }

    /// `Err(wait)` when `client` has spent its allowance for this kind of public route.
    fn per_address(&self, path: &str, client: IpAddr) -> Result<(), Duration> {
        if path.starts_with("/amocrm/") {
            return self.amocrm.check(client);
        }
        self.pages.check(client)?;
        match connect_button_key(path) {
            Some(key) => self.buttons.check(key.to_owned()),
            None => Ok(()),
        }
    }

    fn body_deadline(&self, path: &str) -> Duration {
        if path.starts_with("/amocrm/") {
            self.policy.amocrm_body
        } else if path.starts_with("/api/v1/connections/") && path.contains("/proxy/") {
            self.policy.proxy_body
        } else {
            self.policy.default_body
        }
    }
}

/// The button key of a connect page view `/connect/{key}` (not `/connect/s/…` or
/// `/connect/done/…`), capped in length so junk keys cannot grow the limiter's keys.
fn connect_button_key(path: &str) -> Option<&str> {
    let key = path.strip_prefix("/connect/")?;
    (!key.is_empty() && !key.contains('/') && key.len() <= 64).then_some(key)
}

/// The anonymous entry points anyone on the internet can call.
fn is_public(path: &str) -> bool {
    path.starts_with("/amocrm/")
        || path.starts_with("/connect/")
        || path.starts_with("/embed/")
        || path == "/login"
        || path == "/signup"
}

/// Applies the body deadline and the public concurrency bound.
///
/// # Errors
/// Propagates the inner service's error.
pub async fn guard(
    limits: SlowClients,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.path().to_owned();
    if is_public(&path) {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings.trusted_proxies.clone())
            .unwrap_or_default();
        let client = client_ip(req.request(), &trusted);
        if let Err(wait) = limits.per_address(&path, client) {
            tracing::warn!(event = "address_rate_limited", path = %path, %client, "request refused: too many from this address");
            let retry_after = wait.max(Duration::from_secs(1));
            let mut res = error_response(
                &path,
                AppError::Domain(domain::Error::Throttled { retry_after }),
            );
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs()),
            );
            return Ok(req.into_response(res));
        }
    }
    let _slot = if is_public(&path) {
        match limits.public_slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) => {
                tracing::warn!(event = "public_concurrency_exhausted", path = %path, "request refused: every public slot is taken");
                let mut res = error_response(&path, AppError::Domain(domain::Error::Busy));
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return Ok(req.into_response(res));
            }
        }
    } else {
        None
    };
    let timed_out = Rc::new(Cell::new(false));
    let deadline = limits.body_deadline(&path);
    let inner = req.take_payload();
    req.set_payload(Payload::Stream {
        payload: Box::pin(DeadlinePayload {
            inner,
            deadline,
            sleep: None,
            timed_out: timed_out.clone(),
            done: false,
        }),
    });
    let res = next.call(req).await?;
    if timed_out.get() {
        tracing::warn!(event = "request_body_timeout", path = %path, "request body did not arrive in time");
        let mut response = error_response(&path, AppError::RequestTimeout);
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(ServiceResponse::new(res.request().clone(), response));
    }
    Ok(res.map_into_boxed_body())
}

/// The error rendered as the route's kind of answer: problem+json under `/api/`, HTML elsewhere.
fn error_response(path: &str, error: AppError) -> actix_web::HttpResponse {
    if path.starts_with("/api/") || path.starts_with("/amocrm/") {
        ApiError(error).error_response()
    } else {
        PageError(error).error_response()
    }
}

/// A request body that ends with an error once its deadline has passed.
struct DeadlinePayload {
    inner: Payload,
    deadline: Duration,
    /// Started by the first read.
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Rc<Cell<bool>>,
    done: bool,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            self.timed_out.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body deadline passed",
            )))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_by_route() {
        let limits = SlowClients::new(SlowClientPolicy::default());
        let policy = SlowClientPolicy::default();
        assert_eq!(limits.body_deadline("/amocrm/secrets"), policy.amocrm_body);
        assert_eq!(
            limits.body_deadline("/api/v1/connections/x/proxy/api/v4/leads"),
            policy.proxy_body
        );
        assert_eq!(
            limits.body_deadline("/api/v1/connect-sessions"),
            policy.default_body
        );
        assert_eq!(limits.body_deadline("/login"), policy.default_body);
        assert!(policy.amocrm_body < policy.default_body);
    }

    #[test]
    fn public_routes() {
        for path in [
            "/amocrm/secrets",
            "/amocrm/callback",
            "/connect/abc",
            "/connect/s/t",
            "/embed/k.js",
            "/login",
            "/signup",
        ] {
            assert!(is_public(path), "{path}");
        }
        for path in ["/dashboard", "/api/v1/connections", "/healthz", "/logins"] {
            assert!(!is_public(path), "{path}");
        }
    }
}
