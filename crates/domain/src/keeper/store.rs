use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    StoreError,
    connections::{ConnectionRecord, StatusChange},
    ids::ConnectionId,
};

/// A connection reserved for one refresher.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The lease had been held by another instance and expired (that instance likely died).
    pub takeover: bool,
    /// The row as the claim left it (`UPDATE … RETURNING`): the refresh reads nothing again.
    /// Nothing else writes the row's tokens while the lease is held, and whatever takes the
    /// lease away (a reconnect, a revoke) makes the journal write before the call fail.
    pub record: ConnectionRecord,
}

/// The journal row written before calling amoCRM.
#[derive(Debug, Clone)]
pub struct RefreshAttempt {
    pub id: Uuid,
    pub connection: ConnectionId,
    pub owner: String,
    /// SHA-256 hex of the refresh token presented: tells later whether it is still current.
    pub refresh_token_hash: String,
    pub started_at: DateTime<Utc>,
    /// amoCRM had refused the connection's access token just before (see
    /// [`super::RefreshCause::Refusal`]).
    pub after_refusal: bool,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AttemptOutcome {
    Refreshed,
    /// amoCRM may have rotated the token, but no answer arrived (timeout, dropped connection).
    ResponseLost,
    /// Another instance rotated the token meanwhile; nothing to do.
    Superseded,
    /// The tokens arrived but the connection had been revoked: they were discarded.
    Discarded,
    /// amoCRM refused; the connection needs a new authorization.
    Refused,
    /// A transient failure (5xx, 429, block); retried later.
    Failed,
    /// Its instance died before finishing; resolved by another.
    Abandoned,
}

impl AttemptOutcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The new token pair, sealed, ready to store.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The journal row of the attempt that obtained the pair; finished in the same transaction.
    pub attempt: Uuid,
    pub access_token: String,
    /// `None` keeps the stored refresh token (amoCRM omitted a new one).
    pub refresh_token: Option<String>,
    pub access_expires_at: DateTime<Utc>,
    /// The lifetime amoCRM stated for the new access token (zero: nothing credible).
    pub access_lifetime: Duration,
    pub next_refresh_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// A failed refresh to record.
#[derive(Debug, Clone)]
pub struct RefreshFailure {
    pub failures: i32,
    /// `None` stops the keeper from trying again (needs re-auth).
    pub next_refresh_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// What the keeper needs from storage. These methods cross workspaces by design: the keeper is
/// a system job acting on connection ids it claimed, never on ids from a request.
#[async_trait]
pub trait KeeperStore: Send + Sync {
    /// Claims up to `limit` usable connections due by `due_by` whose lease is free (by database
    /// time), reserving each for `lease`.
    async fn claim_due(
        &self,
        owner: &str,
        due_by: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Claims one connection now, due or not, if its lease is free.
    async fn claim_one(
        &self,
        id: ConnectionId,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Claimed>, StoreError>;

    /// Gives a lease back untouched.
    async fn release(&self, id: ConnectionId, owner: &str) -> Result<(), StoreError>;

    async fn connection_for_keeper(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError>;

    /// Writes the journal row and stamps the connection's latest token call (time and cause)
    /// in one transaction, before amoCRM is called; only while `attempt.owner` holds the lease.
    async fn begin_attempt(&self, attempt: &RefreshAttempt) -> Result<(), StoreError>;

    /// Releases the lease and moves the next scheduled refresh to `until` (a refresh the
    /// interval rule does not allow yet).
    async fn defer(
        &self,
        id: ConnectionId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn finish_attempt(
        &self,
        attempt: Uuid,
        outcome: AttemptOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The outcome of the latest finished attempt for this connection.
    async fn last_outcome(&self, id: ConnectionId) -> Result<Option<String>, StoreError>;

    /// Attempts still open that started before `before`: their instance died.
    async fn abandoned_attempts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<RefreshAttempt>, StoreError>;

    /// Makes a connection due now (after an abandoned attempt).
    async fn make_due(&self, id: ConnectionId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Stores the new pair ([`Transition::Refresh`](crate::connections::Transition::Refresh)),
    /// releases the lease and finishes the attempt's journal row (refreshed, or discarded when
    /// the row was not ours any more) in one transaction — only if `owner` still holds the lease
    /// and the connection is still usable (a revoked row is never revived).
    async fn store_refreshed(
        &self,
        id: ConnectionId,
        owner: &str,
        refreshed: &Refreshed,
        change: &StatusChange,
    ) -> Result<bool, StoreError>;

    /// Records a failure and releases the lease, under the same conditions. The status moves
    /// by `change` (and its event is recorded) only when it differs from the current one.
    async fn store_failure(
        &self,
        id: ConnectionId,
        owner: &str,
        failure: &RefreshFailure,
        change: &StatusChange,
    ) -> Result<bool, StoreError>;

    /// Moves the connection to a renamed account host.
    async fn store_host(
        &self,
        id: ConnectionId,
        owner: &str,
        host: &str,
    ) -> Result<bool, StoreError>;

    /// The earliest access-token expiry among usable connections.
    async fn earliest_expiry(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The earliest scheduled refresh among usable connections (the background loop sleeps
    /// until then, or its interval, whichever comes first).
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}
