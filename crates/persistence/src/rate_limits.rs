//! The rate governor's shared ledger (`rate_limits`) and the proxy's connection-health changes.
//!
//! A ledger update is one short transaction that starts with a write, so the lock comes first on
//! both engines: SQLite takes its single write lock at that statement (a transaction that read
//! first could not upgrade once another writer committed), and PostgreSQL then locks the row with
//! `FOR UPDATE`. The time handed to the governor is the database's, read inside the lock.

use async_trait::async_trait;
use domain::{
    StoreError,
    access::ConnectionHealthStore,
    connections::{ConnectionStatus, NewEvent},
    governor::{Ledger, RateLedgerStore},
    ids::{ConnectionId, WorkspaceId},
};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DbBackend, EntityTrait as _, QueryFilter as _,
    Statement, TransactionTrait as _, Value, sea_query::Expr,
};

use crate::{
    Database, Engine,
    connections::insert_events,
    database::store_error,
    entities::connections::{self, Column},
    time::to_millis,
};

fn corrupt() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("stored rate ledger is malformed"))
}

/// `"t1,t2,…"` → ascending send times.
fn decode_sends(text: &str) -> Result<Vec<i64>, StoreError> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().map_err(|_| corrupt()))
        .collect()
}

fn encode_sends(sends: &[i64]) -> String {
    sends
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Database {
    /// `sql` with `$n` placeholders, rewritten to `?` for SQLite.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let (backend, sql) = match self.engine() {
            Engine::Postgres => (DbBackend::Postgres, sql.to_owned()),
            Engine::Sqlite => (DbBackend::Sqlite, {
                let mut rewritten = String::with_capacity(sql.len());
                let mut chars = sql.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                        while chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                        rewritten.push('?');
                    } else {
                        rewritten.push(c);
                    }
                }
                rewritten
            }),
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// The database clock in unix milliseconds, as SQL.
    const fn now_ms_sql(&self) -> &'static str {
        match self.engine() {
            Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

#[async_trait]
impl RateLedgerStore for Database {
    async fn update_ledger(
        &self,
        connection: ConnectionId,
        change: &mut (dyn for<'l> FnMut(&'l mut Ledger, i64) -> bool + Send),
    ) -> Result<(), StoreError> {
        let id = Value::from(connection.as_uuid());
        let txn = self.conn.begin().await.map_err(store_error)?;
        // The write that takes the lock (and creates the row on first use).
        txn.execute_raw(self.statement(
            "INSERT INTO rate_limits (connection_id, sends, paused_until, updated_at) \
             VALUES ($1, '', 0, 0) ON CONFLICT (connection_id) DO NOTHING",
            vec![id.clone()],
        ))
        .await
        .map_err(store_error)?;
        let lock = if self.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = txn
            .query_one_raw(self.statement(
                &format!(
                    "SELECT sends, paused_until, {} AS now_ms FROM rate_limits \
                     WHERE connection_id = $1{lock}",
                    self.now_ms_sql()
                ),
                vec![id.clone()],
            ))
            .await
            .map_err(store_error)?
            .ok_or_else(corrupt)?;
        let sends: String = row.try_get("", "sends").map_err(store_error)?;
        let mut ledger = Ledger {
            sends: decode_sends(&sends)?,
            paused_until: row.try_get("", "paused_until").map_err(store_error)?,
        };
        let now: i64 = row.try_get("", "now_ms").map_err(store_error)?;
        if change(&mut ledger, now) {
            txn.execute_raw(self.statement(
                "UPDATE rate_limits SET sends = $1, paused_until = $2, updated_at = $3 \
                 WHERE connection_id = $4",
                vec![
                    encode_sends(&ledger.sends).into(),
                    ledger.paused_until.into(),
                    now.into(),
                    id,
                ],
            ))
            .await
            .map_err(store_error)?;
        }
        txn.commit().await.map_err(store_error)
    }
}

#[async_trait]
impl ConnectionHealthStore for Database {
    async fn mark_rate_limited(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        reason: &str,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let at = to_millis(event.at);
        let result = connections::Entity::update_many()
            .col_expr(
                Column::Status,
                Expr::value(ConnectionStatus::RateLimited.as_str()),
            )
            .col_expr(Column::StatusReason, Expr::value(reason))
            .col_expr(Column::LastError, Expr::value(reason))
            .col_expr(Column::StatusAt, Expr::value(at))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::Status.is_in([
                ConnectionStatus::Active.as_str(),
                ConnectionStatus::Degraded.as_str(),
            ]))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let changed = result.rows_affected == 1;
        if changed {
            insert_events(&txn, workspace, id, std::slice::from_ref(event)).await?;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(changed)
    }

    async fn clear_rate_limited(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let at = to_millis(event.at);
        let result = connections::Entity::update_many()
            .col_expr(
                Column::Status,
                Expr::value(ConnectionStatus::Active.as_str()),
            )
            .col_expr(Column::StatusReason, Expr::value(Option::<String>::None))
            .col_expr(Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(Column::StatusAt, Expr::value(at))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::Status.eq(ConnectionStatus::RateLimited.as_str()))
            // A failing refresh owns the status; the keeper clears it when a refresh succeeds.
            .filter(Column::RefreshFailures.eq(0))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let changed = result.rows_affected == 1;
        if changed {
            insert_events(&txn, workspace, id, std::slice::from_ref(event)).await?;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_times_round_trip_through_text() {
        for sends in [vec![], vec![1], vec![1_764_000_000_000, 1_764_000_000_143]] {
            assert_eq!(decode_sends(&encode_sends(&sends)).ok(), Some(sends));
        }
        assert!(decode_sends("1,x").is_err());
    }
}
