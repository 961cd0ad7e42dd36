//! Reading a connection's activity, the chart numbers, and retention.

use std::{sync::Arc, time::Duration};

use chrono::DateTime;

use super::{
    ActivityCursor, ActivityFilter, ActivityPage, ActivityRecorder, ActivityStore, DayTotals,
    HourStats, daily_totals, hourly_stats,
};
use crate::{
    Error,
    clock::Clock,
    ids::{ConnectionId, WorkspaceId},
    ports::ConnectionRepository,
};

/// The largest page a listing returns.
pub const MAX_ACTIVITY_PAGE: u64 = 200;
/// Rows deleted per statement when purging, so a purge never holds long locks.
const PURGE_BATCH: u64 = 5_000;
/// Statements per purge round at most; the rest waits for the next round.
const PURGE_ROUNDS: u64 = 20;
/// Proxied calls read for a connection's 24-hour statistics at most.
const SAMPLE_LIMIT: u64 = 50_000;

/// Activity of every connection.
#[derive(Clone)]
pub struct Activity {
    store: Arc<dyn ActivityStore>,
    connections: Arc<dyn ConnectionRepository>,
    clock: Arc<dyn Clock>,
    recorder: ActivityRecorder,
}

impl Activity {
    #[must_use]
    pub fn new(
        store: Arc<dyn ActivityStore>,
        connections: Arc<dyn ConnectionRepository>,
        clock: Arc<dyn Clock>,
        recorder: ActivityRecorder,
    ) -> Self {
        Self {
            store,
            connections,
            clock,
            recorder,
        }
    }

    /// The handle that records.
    #[must_use]
    pub fn recorder(&self) -> &ActivityRecorder {
        &self.recorder
    }

    async fn ensure_owned(&self, workspace: WorkspaceId, id: ConnectionId) -> Result<(), Error> {
        self.connections
            .connection(workspace, id)
            .await?
            .map(|_| ())
            .ok_or(Error::NotFound)
    }

    /// One page of the connection's activity, newest first.
    ///
    /// # Errors
    /// [`Error::NotFound`] outside the workspace; [`Error::Invalid`] for a malformed cursor;
    /// storage failures.
    pub async fn list(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        filter: &ActivityFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<ActivityPage, Error> {
        let after = cursor.map(ActivityCursor::decode).transpose()?;
        // A range that ends before it starts is valid and empty (every schema-valid query is
        // answered, never refused).
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to < from
        {
            self.ensure_owned(workspace, id).await?;
            return Ok(ActivityPage::default());
        }
        self.ensure_owned(workspace, id).await?;
        Ok(self
            .store
            .activity(
                workspace,
                id,
                filter,
                after,
                limit.clamp(1, MAX_ACTIVITY_PAGE),
            )
            .await?)
    }

    /// The workspace's proxied calls, errors and refreshes for each of the last `days` days.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn daily(&self, workspace: WorkspaceId, days: u32) -> Result<Vec<DayTotals>, Error> {
        let now = self.clock.now();
        let totals = daily_totals(&[], now, days);
        let from = totals.first().map_or(now, |d| d.day);
        let rows = self
            .store
            .daily_activity(workspace, from, now + chrono::Duration::days(1))
            .await?;
        Ok(daily_totals(&rows, now, days))
    }

    /// The connection's calls, errors and latency for each of the last `hours` hours.
    ///
    /// # Errors
    /// [`Error::NotFound`] outside the workspace; storage failures.
    pub async fn hourly(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        hours: u32,
    ) -> Result<Vec<HourStats>, Error> {
        let now = self.clock.now();
        let from = hourly_stats(&[], now, hours)
            .first()
            .map_or(now, |h| h.hour);
        let samples = self
            .store
            .proxy_samples(
                workspace,
                id,
                from,
                now + chrono::Duration::hours(1),
                SAMPLE_LIMIT,
            )
            .await?;
        Ok(hourly_stats(&samples, now, hours))
    }

    /// How many connections of the workspace are in each status.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn status_counts(&self, workspace: WorkspaceId) -> Result<Vec<(String, u64)>, Error> {
        Ok(self.store.connection_status_counts(workspace).await?)
    }

    /// Deletes entries older than `retention`, in bounded batches; answers how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge(&self, retention: Duration) -> Result<u64, Error> {
        let keep = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(14));
        let before = self.clock.now() - keep;
        let before = DateTime::max(before, DateTime::UNIX_EPOCH);
        let mut purged = 0;
        for _ in 0..PURGE_ROUNDS {
            let deleted = self.store.purge_activity(before, PURGE_BATCH).await?;
            purged += deleted;
            if deleted < PURGE_BATCH {
                break;
            }
        }
        Ok(purged)
    }
}
