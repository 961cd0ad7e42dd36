//! The token keeper's storage: leases claimed against database time, and the refresh journal.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    connections::{ConnectionRecord, ConnectionStatus, NewEvent},
    ids::ConnectionId,
    keeper::{AttemptOutcome, Claimed, KeeperStore, RefreshAttempt, RefreshFailure, Refreshed},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, TransactionTrait as _,
    sea_query::{Expr, ExprTrait as _, LockBehavior, LockType},
};
use uuid::Uuid;

use crate::{
    Database, Engine,
    connections::{insert_events, to_record},
    database::store_error,
    entities::{
        connections::{self, Column},
        refresh_attempts,
    },
    time::{from_millis, to_millis},
};

const USABLE: [ConnectionStatus; 3] = [
    ConnectionStatus::Active,
    ConnectionStatus::Degraded,
    ConnectionStatus::RateLimited,
];

fn usable() -> impl Iterator<Item = &'static str> {
    USABLE.iter().map(|s| s.as_str())
}

impl Database {
    /// The database's own clock in unix milliseconds, so leases do not depend on the clocks of
    /// the instances that share them.
    fn db_now(&self) -> Expr {
        Expr::cust(match self.engine() {
            Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        })
    }

    fn lease_until(&self, lease: Duration) -> Expr {
        let millis = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        self.db_now().add(millis)
    }

    fn lease_is_free(&self) -> Condition {
        Condition::any()
            .add(Column::LeaseUntil.is_null())
            .add(Expr::col(Column::LeaseUntil).lt(self.db_now()))
    }

    /// Takes the lease of one candidate row if it is still free; answers whether it did.
    async fn take_lease(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        id: Uuid,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let result = connections::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(owner))
            .col_expr(Column::LeaseUntil, self.lease_until(lease))
            .filter(Column::Id.eq(id))
            .filter(Column::Status.is_in(usable()))
            .filter(self.lease_is_free())
            .exec(db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    /// `UPDATE connections … WHERE id = ? AND lease_owner = ? AND status is usable`.
    fn owned(id: ConnectionId, owner: &str) -> Condition {
        Condition::all()
            .add(Column::Id.eq(id.as_uuid()))
            .add(Column::LeaseOwner.eq(owner))
            .add(Column::Status.is_in(usable()))
    }
}

#[async_trait]
impl KeeperStore for Database {
    async fn claim_due(
        &self,
        owner: &str,
        due_by: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let mut candidates = connections::Entity::find()
            .select_only()
            .columns([Column::Id, Column::LeaseOwner])
            .filter(Column::Status.is_in(usable()))
            .filter(Column::NextRefreshAt.lte(to_millis(due_by)))
            .filter(self.lease_is_free())
            .order_by_asc(Column::NextRefreshAt)
            .limit(limit);
        if self.engine() == Engine::Postgres {
            // Other instances skip the rows this one is claiming instead of queueing behind them.
            candidates = candidates.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let candidates: Vec<(Uuid, Option<String>)> = candidates
            .into_tuple()
            .all(&txn)
            .await
            .map_err(store_error)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for (id, previous_owner) in candidates {
            if self.take_lease(&txn, id, owner, lease).await? {
                claimed.push(Claimed {
                    id: ConnectionId::from_uuid(id),
                    takeover: previous_owner.is_some_and(|p| p != owner),
                });
            }
        }
        txn.commit().await.map_err(store_error)?;
        Ok(claimed)
    }

    async fn claim_one(
        &self,
        id: ConnectionId,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Claimed>, StoreError> {
        Ok(self
            .take_lease(&self.conn, id.as_uuid(), owner, lease)
            .await?
            .then_some(Claimed {
                id,
                takeover: false,
            }))
    }

    async fn release(&self, id: ConnectionId, owner: &str) -> Result<(), StoreError> {
        connections::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn connection_for_keeper(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        connections::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_record)
            .transpose()
    }

    async fn begin_attempt(&self, attempt: &RefreshAttempt) -> Result<(), StoreError> {
        refresh_attempts::Entity::insert(refresh_attempts::ActiveModel {
            id: Set(attempt.id),
            connection_id: Set(attempt.connection.as_uuid()),
            owner: Set(attempt.owner.clone()),
            refresh_token_hash: Set(attempt.refresh_token_hash.clone()),
            started_at: Set(to_millis(attempt.started_at)),
            finished_at: Set(None),
            outcome: Set(None),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn finish_attempt(
        &self,
        attempt: Uuid,
        outcome: AttemptOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        refresh_attempts::Entity::update_many()
            .col_expr(
                refresh_attempts::Column::FinishedAt,
                Expr::value(to_millis(at)),
            )
            .col_expr(
                refresh_attempts::Column::Outcome,
                Expr::value(outcome.as_str()),
            )
            .filter(refresh_attempts::Column::Id.eq(attempt))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn last_outcome(&self, id: ConnectionId) -> Result<Option<String>, StoreError> {
        let outcome: Option<Option<String>> = refresh_attempts::Entity::find()
            .select_only()
            .column(refresh_attempts::Column::Outcome)
            .filter(refresh_attempts::Column::ConnectionId.eq(id.as_uuid()))
            .filter(refresh_attempts::Column::FinishedAt.is_not_null())
            .order_by_desc(refresh_attempts::Column::StartedAt)
            .into_tuple()
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(outcome.flatten())
    }

    async fn abandoned_attempts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<RefreshAttempt>, StoreError> {
        let rows = refresh_attempts::Entity::find()
            .filter(refresh_attempts::Column::FinishedAt.is_null())
            .filter(refresh_attempts::Column::StartedAt.lt(to_millis(before)))
            .limit(500)
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| RefreshAttempt {
                id: row.id,
                connection: ConnectionId::from_uuid(row.connection_id),
                owner: row.owner,
                refresh_token_hash: row.refresh_token_hash,
                started_at: from_millis(row.started_at),
            })
            .collect())
    }

    async fn make_due(&self, id: ConnectionId, at: DateTime<Utc>) -> Result<(), StoreError> {
        connections::Entity::update_many()
            .col_expr(Column::NextRefreshAt, Expr::value(to_millis(at)))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::Status.is_in(usable()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn store_refreshed(
        &self,
        id: ConnectionId,
        owner: &str,
        refreshed: &Refreshed,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let mut update = connections::Entity::update_many()
            .col_expr(
                Column::AccessToken,
                Expr::value(refreshed.access_token.as_str()),
            )
            .col_expr(
                Column::AccessExpiresAt,
                Expr::value(to_millis(refreshed.access_expires_at)),
            )
            .col_expr(
                Column::NextRefreshAt,
                Expr::value(to_millis(refreshed.next_refresh_at)),
            )
            .col_expr(Column::LastRefreshAt, Expr::value(to_millis(refreshed.at)))
            // Every right-hand side sees the old row, so this stamps only a change of status.
            .col_expr(
                Column::StatusAt,
                Expr::case(
                    Column::Status.ne(ConnectionStatus::Active.as_str()),
                    Expr::value(to_millis(refreshed.at)),
                )
                .finally(Expr::col(Column::StatusAt))
                .into(),
            )
            .col_expr(
                Column::Status,
                Expr::value(ConnectionStatus::Active.as_str()),
            )
            .col_expr(Column::StatusReason, Expr::value(Option::<String>::None))
            .col_expr(Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(Column::RefreshFailures, Expr::value(0))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(Column::UpdatedAt, Expr::value(to_millis(refreshed.at)));
        if let Some(refresh_token) = &refreshed.refresh_token {
            update = update.col_expr(Column::RefreshToken, Expr::value(refresh_token.as_str()));
        }
        let result = update
            .filter(Database::owned(id, owner))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let stored = result.rows_affected == 1;
        if stored {
            let workspace = connections::Entity::find_by_id(id.as_uuid())
                .select_only()
                .column(Column::WorkspaceId)
                .into_tuple::<Uuid>()
                .one(&txn)
                .await
                .map_err(store_error)?;
            if let Some(workspace) = workspace {
                insert_events(
                    &txn,
                    domain::ids::WorkspaceId::from_uuid(workspace),
                    id,
                    std::slice::from_ref(event),
                )
                .await?;
            }
        }
        txn.commit().await.map_err(store_error)?;
        Ok(stored)
    }

    async fn store_failure(
        &self,
        id: ConnectionId,
        owner: &str,
        failure: &RefreshFailure,
        event: Option<&NewEvent>,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let current = connections::Entity::find_by_id(id.as_uuid())
            .filter(Database::owned(id, owner))
            .one(&txn)
            .await
            .map_err(store_error)?;
        let Some(current) = current else {
            txn.commit().await.map_err(store_error)?;
            return Ok(false);
        };
        let status_changed = current.status != failure.status.as_str();
        let mut update = connections::Entity::update_many()
            .col_expr(Column::Status, Expr::value(failure.status.as_str()))
            .col_expr(Column::StatusReason, Expr::value(failure.reason.as_str()))
            .col_expr(Column::LastError, Expr::value(failure.reason.as_str()))
            .col_expr(Column::RefreshFailures, Expr::value(failure.failures))
            .col_expr(
                Column::NextRefreshAt,
                Expr::value(failure.next_refresh_at.map(to_millis)),
            )
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(Column::UpdatedAt, Expr::value(to_millis(failure.at)));
        if status_changed {
            update = update.col_expr(Column::StatusAt, Expr::value(to_millis(failure.at)));
        }
        let result = update
            .filter(Database::owned(id, owner))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let stored = result.rows_affected == 1;
        if let (true, Some(event)) = (stored && status_changed, event) {
            insert_events(
                &txn,
                domain::ids::WorkspaceId::from_uuid(current.workspace_id),
                id,
                std::slice::from_ref(event),
            )
            .await?;
        }
        txn.commit().await.map_err(store_error)?;
        Ok(stored)
    }

    async fn store_host(
        &self,
        id: ConnectionId,
        owner: &str,
        host: &str,
    ) -> Result<bool, StoreError> {
        let result = connections::Entity::update_many()
            .col_expr(Column::Host, Expr::value(host))
            .filter(Database::owned(id, owner))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn earliest_expiry(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let earliest: Option<Option<i64>> = connections::Entity::find()
            .select_only()
            .column_as(Column::AccessExpiresAt.min(), "earliest")
            .filter(Column::Status.is_in(usable()))
            .into_tuple()
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(earliest.flatten().map(from_millis))
    }
}
