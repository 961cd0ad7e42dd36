//! The rate governor's shared ledger (`integration_rate_limits`, one row per amoCRM
//! integration) and the proxy's connection-health changes.
//!
//! A ledger update is one short transaction that starts with a write, so the lock comes first on
//! both engines: SQLite takes its single write lock at that statement (a transaction that read
//! first could not upgrade once another writer committed), and PostgreSQL then locks the row with
//! `FOR UPDATE`. The time handed to the governor is the database's, read inside the lock.

use async_trait::async_trait;
use domain::{
    StoreError,
    access::ConnectionHealthStore,
    connections::StatusChange,
    governor::{Budget, Integration, RateBudgetStore},
    ids::{ConnectionId, WorkspaceId},
};
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _,
    Value, sea_query::Expr,
};

use crate::{
    Database, Engine,
    database::store_error,
    entities::connections::Column,
    lifecycle::{self, Target},
};

fn corrupt() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("stored rate budget is malformed"))
}

impl Database {
    /// `sql` with `$n` placeholders, rewritten to `?` for SQLite.
    pub(crate) fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
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
impl RateBudgetStore for Database {
    async fn update_budget(
        &self,
        integration: &Integration,
        change: &mut (dyn for<'b> FnMut(&'b mut Budget, i64) -> bool + Send),
    ) -> Result<(), StoreError> {
        let id = Value::from(integration.as_str());
        let txn = self.conn.begin().await.map_err(store_error)?;
        // The write that takes the lock (and creates the row on first use).
        txn.execute_raw(self.statement(
            "INSERT INTO integration_rate_limits (integration, budget, updated_at) \
             VALUES ($1, '{}', 0) ON CONFLICT (integration) DO NOTHING",
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
                    "SELECT budget, {} AS now_ms FROM integration_rate_limits \
                     WHERE integration = $1{lock}",
                    self.now_ms_sql()
                ),
                vec![id.clone()],
            ))
            .await
            .map_err(store_error)?
            .ok_or_else(corrupt)?;
        let text: String = row.try_get("", "budget").map_err(store_error)?;
        let mut budget: Budget = serde_json::from_str(&text).map_err(|_| corrupt())?;
        let now: i64 = row.try_get("", "now_ms").map_err(store_error)?;
        if change(&mut budget, now) {
            let text = serde_json::to_string(&budget).map_err(|_| corrupt())?;
            txn.execute_raw(self.statement(
                "UPDATE integration_rate_limits SET budget = $1, updated_at = $2 \
                 WHERE integration = $3",
                vec![text.into(), now.into(), id],
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
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let reason = change.reason.clone();
        let target = Target {
            with: &move |update| update.col_expr(Column::LastError, Expr::value(reason.clone())),
            ..Target::in_workspace(workspace, id)
        };
        let txn = self.conn.begin().await.map_err(store_error)?;
        let moved = lifecycle::apply(&txn, &target, change).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(moved)
    }

    async fn clear_rate_limited(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let target = Target {
            // A failing refresh owns the status; the keeper clears it when a refresh succeeds.
            also: Condition::all().add(Column::RefreshFailures.eq(0)),
            with: &|update| update.col_expr(Column::LastError, Expr::value(Option::<String>::None)),
            ..Target::in_workspace(workspace, id)
        };
        let txn = self.conn.begin().await.map_err(store_error)?;
        let moved = lifecycle::apply(&txn, &target, change).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(moved)
    }
}
