//! Stopping without dropping a request: drain first, then stop.
//!
//! An orchestrator (Docker, systemd, Kubernetes) stops an instance with SIGTERM while a load
//! balancer is still sending it requests. On SIGTERM amolink first **drains**: `/readyz`
//! answers 503 so the balancer's health checks take the instance out of rotation, and every
//! response carries `Connection: close` so the balancer stops reusing kept-alive connections.
//! Requests keep being served normally meanwhile. After the drain period
//! (`AMOLINK_SHUTDOWN_DRAIN_MS`, long enough for the balancer's checks to notice), the HTTP
//! server stops gracefully: it finishes what is in flight — by then little or nothing — and
//! the process ends. SIGINT (Ctrl-C at a terminal) skips the drain.
//!
//! Stopping at once was not enough: actix-web stops each HTTP worker (a thread with its own
//! Tokio runtime) as soon as it is idle, while a busier one still serves requests that arrived
//! on kept-alive connections, and database connections opened on the stopped worker's runtime
//! fail under the busy one ("the runtime is being shut down" → 503). With the drain, no request
//! is in flight when the workers stop.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::ConnectionType,
    middleware::Next,
    web,
};

/// Whether this instance is draining (shared by the signal handler, the middleware and
/// `/readyz`).
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How the process was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM: an orchestrator; drain first.
    Terminate,
    /// SIGINT: a person at a terminal; stop now.
    Interrupt,
}

/// Waits for SIGTERM or SIGINT. If the handlers cannot be installed (no signal support), it
/// never returns, and the server runs until stopped through its handle.
pub async fn stop_signal() -> StopSignal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for stop signals; stop the server through its handle");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => StopSignal::Terminate,
        _ = interrupt.recv() => StopSignal::Interrupt,
    }
}

/// While draining, asks the client (the load balancer) to close the connection after this
/// response instead of sending more requests on it.
///
/// # Errors
/// Passes on the inner service's errors.
pub async fn close_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<Draining>>()
        .is_some_and(|d| d.is_on());
    let mut res = next.call(req).await?;
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// The drain period's default: two failed checks of `deploy/haproxy.cfg` (`inter 1s fall 2`)
/// and a margin.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(3);
