//! Housekeeping that every instance runs now and then: expired connect flows (with any
//! integration secret they still hold, R23 in
//! `docs/security-requirements.md`), expired connect sessions, amoCRM event
//! deliveries and events past their retention, expired web sessions, audit entries past their
//! retention, connection activity past its retention (in bounded batches), ended invitations,
//! used or expired password reset links, old development mail,
//! and the last step of deleting workspaces. Each purge is an idempotent DELETE (or, for
//! deletions, a sequence that can be repeated), so instances need not coordinate.

use std::{sync::Arc, time::Duration};

use domain::ports::SessionRepository;
use persistence::Database;

use crate::state::AppState;

/// How often to purge.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How long an ended invitation stays listed on the team page.
const INVITE_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long the development outbox keeps a message.
const OUTBOX_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// One instance's housekeeping; tests run a round with [`Housekeeping::run_once`].
#[derive(Clone)]
pub struct Housekeeping {
    state: AppState,
    database: Arc<Database>,
}

impl Housekeeping {
    #[must_use]
    pub fn new(state: AppState, database: Arc<Database>) -> Self {
        Self { state, database }
    }

    /// This instance's activity recorder (flushed at shutdown).
    #[must_use]
    pub fn activity_recorder(&self) -> domain::activity::ActivityRecorder {
        self.state.activity.recorder().clone()
    }

    /// Runs one round; failures are logged and retried next round.
    pub async fn run_once(&self) {
        let sessions: Arc<dyn SessionRepository> = self.database.clone();
        purge_once(&self.state, &sessions).await;
        // After the purges: what they freed is in the WAL, and the checkpoint moves it into
        // the database file and truncates the WAL (SQLite; nothing to do on PostgreSQL).
        if let Err(e) = self.database.checkpoint().await {
            tracing::warn!(error = %e, "housekeeping failed: WAL checkpoint");
        }
    }

    /// Runs a round every [`INTERVAL`], forever.
    pub async fn run(self) {
        loop {
            self.run_once().await;
            tokio::time::sleep(INTERVAL).await;
        }
    }
}

fn report(what: &str, outcome: Result<u64, domain::Error>) {
    match outcome {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "{what}"),
        Err(e) => tracing::warn!(error = %e, "housekeeping failed: {what}"),
    }
}

/// Runs one purge round; failures are logged and retried next round.
pub async fn purge_once(state: &AppState, sessions: &Arc<dyn SessionRepository>) {
    report(
        "expired connect flows purged",
        state.connect.purge_expired_flows().await,
    );
    report(
        "expired connect sessions purged",
        state.api.sessions.purge_expired().await,
    );
    report(
        "expired amoCRM deliveries and events purged",
        state.relay.relay.purge_expired().await,
    );
    match sessions.purge_expired(state.clock.now()).await {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "expired web sessions purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge web sessions"),
    }
    report(
        "deleted workspaces finished",
        state.teams.finish_deletions().await,
    );
    let retention = Duration::from_secs(
        state
            .settings
            .audit_retention_days
            .saturating_mul(24 * 3600),
    );
    report(
        "audit entries past retention purged",
        state.audit.purge(retention).await,
    );
    let activity_retention = Duration::from_secs(
        state
            .settings
            .activity_retention_days
            .saturating_mul(24 * 3600),
    );
    report(
        "connection activity past retention purged",
        state.activity.purge(activity_retention).await,
    );
    report(
        "ended invitations purged",
        state.teams.purge_invites(INVITE_KEEP).await,
    );
    report(
        "expired password reset links purged",
        state.passwords.purge_resets().await,
    );
    report(
        "quiet sign-in throttle entries purged",
        state.accounts.prune_throttle().await,
    );
    let outbox_before = state.clock.now()
        - chrono::Duration::from_std(OUTBOX_KEEP).unwrap_or(chrono::Duration::days(7));
    report(
        "old development mail purged",
        state
            .outbox
            .purge_outbox(outbox_before)
            .await
            .map_err(domain::Error::from),
    );
}

/// Purges every [`INTERVAL`], forever.
pub async fn run(state: AppState, database: Arc<Database>) {
    Housekeeping::new(state, database).run().await;
}
