//! What activity needs from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ActivityCursor, ActivityFilter, ActivityPage, NewActivity};
use crate::{
    StoreError,
    ids::{ConnectionId, WorkspaceId},
};

/// One UTC day's totals of a workspace, counted in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyRow {
    /// Days since the unix epoch (UTC).
    pub day: i64,
    pub proxy_calls: u64,
    /// Proxied calls answered with 4xx/5xx (by amoCRM or amolink).
    pub proxy_errors: u64,
    pub refreshes: u64,
}

/// One proxied call, for the per-hour statistics of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySample {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub latency_ms: Option<u32>,
}

#[async_trait]
pub trait ActivityStore: Send + Sync {
    /// Inserts a batch in one statement.
    async fn insert_activity(&self, batch: &[NewActivity]) -> Result<(), StoreError>;

    /// The connection's entries, newest first.
    async fn activity(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        filter: &ActivityFilter,
        after: Option<ActivityCursor>,
        limit: u64,
    ) -> Result<ActivityPage, StoreError>;

    /// Deletes at most `limit` entries recorded before `before`; answers how many.
    async fn purge_activity(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError>;

    /// Per-day totals of the workspace in `[from, to)`, days with no activity left out.
    async fn daily_activity(
        &self,
        workspace: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyRow>, StoreError>;

    /// The connection's proxied calls in `[from, to)`, newest first, at most `limit`.
    async fn proxy_samples(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ProxySample>, StoreError>;

    /// How many of the workspace's connections are in each status (`(status code, count)`).
    async fn connection_status_counts(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<(String, u64)>, StoreError>;
}
