//! Activity per connection: batched inserts, keyset listing, per-day totals in SQL, retention
//! in bounded batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    activity::{
        ActivityCursor, ActivityEntry, ActivityFilter, ActivityKind, ActivityPage, ActivityStore,
        DailyRow, NewActivity, ProxySample,
    },
    ids::{ConnectionId, WorkspaceId},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
    sea_query::{Expr, Query},
};

use crate::{
    Database,
    database::store_error,
    entities::{
        connection_activity::{self, Column},
        connections,
    },
    time::{from_millis, to_millis},
};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn to_entry(row: connection_activity::Model) -> ActivityEntry {
    ActivityEntry {
        id: row.id,
        at: from_millis(row.at),
        kind: row.kind,
        method: row.method,
        path: row.path,
        status: row.status.and_then(|s| u16::try_from(s).ok()),
        outcome: row.outcome,
        latency_ms: row.latency_ms.and_then(|l| u32::try_from(l).ok()),
        request_bytes: row.request_bytes.and_then(|b| u64::try_from(b).ok()),
        response_bytes: row.response_bytes.and_then(|b| u64::try_from(b).ok()),
    }
}

fn to_row(entry: &NewActivity) -> connection_activity::ActiveModel {
    let bytes = |b: Option<u64>| b.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    connection_activity::ActiveModel {
        // Time-ordered (UUIDv7): entries of the same millisecond list in the order recorded.
        id: Set(uuid::Uuid::now_v7()),
        workspace_id: Set(entry.workspace.as_uuid()),
        connection_id: Set(entry.connection.as_uuid()),
        at: Set(to_millis(entry.at)),
        kind: Set(entry.kind.as_str().to_owned()),
        method: Set(entry.method.as_ref().map(|m| m.chars().take(8).collect())),
        path: Set(entry.path.as_ref().map(|p| p.chars().take(255).collect())),
        status: Set(entry.status.map(i32::from)),
        outcome: Set(entry.outcome.chars().take(24).collect()),
        latency_ms: Set(entry
            .latency_ms
            .map(|l| i32::try_from(l).unwrap_or(i32::MAX))),
        request_bytes: Set(bytes(entry.request_bytes)),
        response_bytes: Set(bytes(entry.response_bytes)),
    }
}

/// `SUM(CASE WHEN … THEN 1 ELSE 0 END)`: the same text on SQLite and PostgreSQL.
fn count_where(condition: &str) -> Expr {
    Expr::cust(format!("SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"))
}

#[async_trait]
impl ActivityStore for Database {
    async fn insert_activity(&self, batch: &[NewActivity]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        connection_activity::Entity::insert_many(batch.iter().map(to_row))
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn activity(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        filter: &ActivityFilter,
        after: Option<ActivityCursor>,
        limit: u64,
    ) -> Result<ActivityPage, StoreError> {
        let mut query = connection_activity::Entity::find()
            .filter(Column::ConnectionId.eq(connection.as_uuid()))
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()));
        if let Some(kind) = filter.kind {
            query = query.filter(Column::Kind.eq(kind.as_str()));
        }
        if let Some(class) = filter.status {
            let (low, high) = class.range();
            query = query
                .filter(Column::Status.gte(i32::from(low)))
                .filter(Column::Status.lt(i32::from(high)));
        }
        if let Some(from) = filter.from {
            query = query.filter(Column::At.gte(to_millis(from)));
        }
        if let Some(to) = filter.to {
            query = query.filter(Column::At.lt(to_millis(to)));
        }
        if let Some(cursor) = after {
            query = query.filter(
                Condition::any().add(Column::At.lt(cursor.at_ms)).add(
                    Condition::all()
                        .add(Column::At.eq(cursor.at_ms))
                        .add(Column::Id.lt(cursor.id)),
                ),
            );
        }
        let mut rows = query
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .all(&self.reads)
            .await
            .map_err(store_error)?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more
            .then(|| rows.last())
            .flatten()
            .map(|last| ActivityCursor {
                at_ms: last.at,
                id: last.id,
            });
        Ok(ActivityPage {
            items: rows.into_iter().map(to_entry).collect(),
            next,
        })
    }

    async fn purge_activity(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        // One bounded DELETE: the oldest `limit` rows before the cut (by the retention index).
        let oldest = Query::select()
            .column(Column::Id)
            .from(connection_activity::Entity)
            .and_where(Column::At.lt(to_millis(before)))
            .order_by(Column::At, sea_orm::Order::Asc)
            .limit(limit)
            .to_owned();
        let result = connection_activity::Entity::delete_many()
            .filter(Column::Id.in_subquery(oldest))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }

    async fn daily_activity(
        &self,
        workspace: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyRow>, StoreError> {
        let day = Expr::cust(format!("(at / {DAY_MS})"));
        let proxy = "kind = 'proxy_call'";
        let rows: Vec<(i64, Option<i64>, Option<i64>, Option<i64>)> =
            connection_activity::Entity::find()
                .select_only()
                .column_as(day.clone(), "day")
                .column_as(count_where(proxy), "proxy_calls")
                .column_as(
                    count_where(&format!("{proxy} AND (status IS NULL OR status >= 400)")),
                    "proxy_errors",
                )
                .column_as(count_where("kind = 'refresh'"), "refreshes")
                .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
                .filter(Column::At.gte(to_millis(from)))
                .filter(Column::At.lt(to_millis(to)))
                .group_by(day)
                .into_tuple()
                .all(&self.reads)
                .await
                .map_err(store_error)?;
        let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|(day, calls, errors, refreshes)| DailyRow {
                day,
                proxy_calls: count(calls),
                proxy_errors: count(errors),
                refreshes: count(refreshes),
            })
            .collect())
    }

    async fn proxy_samples(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ProxySample>, StoreError> {
        let rows: Vec<(i64, Option<i32>, Option<i32>)> = connection_activity::Entity::find()
            .select_only()
            .columns([Column::At, Column::Status, Column::LatencyMs])
            .filter(Column::ConnectionId.eq(connection.as_uuid()))
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::Kind.eq(ActivityKind::ProxyCall.as_str()))
            .filter(Column::At.gte(to_millis(from)))
            .filter(Column::At.lt(to_millis(to)))
            .order_by_desc(Column::At)
            .limit(limit)
            .into_tuple()
            .all(&self.reads)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(at, status, latency)| ProxySample {
                at: from_millis(at),
                status: status.and_then(|s| u16::try_from(s).ok()),
                latency_ms: latency.and_then(|l| u32::try_from(l).ok()),
            })
            .collect())
    }

    async fn connection_status_counts(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = connections::Entity::find()
            .select_only()
            .column(connections::Column::Status)
            .column_as(connections::Column::Id.count(), "n")
            .filter(connections::Column::WorkspaceId.eq(workspace.as_uuid()))
            .group_by(connections::Column::Status)
            .into_tuple()
            .all(&self.reads)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(status, n)| (status, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}
