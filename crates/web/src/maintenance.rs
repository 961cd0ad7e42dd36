//! Housekeeping that every instance runs now and then: expired connect flows (with any
//! integration secret they still hold, security.md R23), expired connect sessions, and expired
//! web sessions. Each purge is a single idempotent DELETE, so instances need not coordinate.

use std::{sync::Arc, time::Duration};

use domain::ports::SessionRepository;

use crate::state::AppState;

/// How often to purge.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Runs one purge round; failures are logged and retried next round.
pub async fn purge_once(state: &AppState, sessions: &Arc<dyn SessionRepository>) {
    match state.connect.purge_expired_flows().await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "expired connect flows purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge connect flows"),
    }
    match state.api.sessions.purge_expired().await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "expired connect sessions purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge connect sessions"),
    }
    match sessions.purge_expired(state.clock.now()).await {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "expired web sessions purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge web sessions"),
    }
}

/// Purges every [`INTERVAL`], forever.
pub async fn run(state: AppState, sessions: Arc<dyn SessionRepository>) {
    loop {
        purge_once(&state, &sessions).await;
        tokio::time::sleep(INTERVAL).await;
    }
}
