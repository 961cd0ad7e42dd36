//! The token keeper's storage: leases claimed against database time, and the refresh journal.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    connections::{ConnectionRecord, ConnectionStatus, StatusChange},
    ids::ConnectionId,
    keeper::{AttemptOutcome, Claimed, KeeperStore, RefreshAttempt, RefreshFailure, Refreshed},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, TransactionTrait as _, UpdateMany,
    sea_query::{Expr, ExprTrait as _, LockBehavior, LockType},
};
use uuid::Uuid;

use crate::{
    Database, Engine,
    connections::to_record,
    database::store_error,
    entities::{
        connections::{self, Column},
        refresh_attempts,
    },
    lifecycle::{self, Target},
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

    /// Takes the lease of one candidate row if it is still free; answers the row as taken.
    async fn take_lease(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        id: Uuid,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let taken = connections::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(owner))
            .col_expr(Column::LeaseUntil, self.lease_until(lease))
            .filter(Column::Id.eq(id))
            .filter(Column::Status.is_in(usable()))
            .filter(self.lease_is_free())
            .exec_with_returning(db)
            .await
            .map_err(store_error)?;
        taken.into_iter().next().map(to_record).transpose()
    }

    /// `UPDATE connections … WHERE id = ? AND lease_owner = ? AND status is usable`.
    fn owned(id: ConnectionId, owner: &str) -> Condition {
        Condition::all()
            .add(Column::Id.eq(id.as_uuid()))
            .add(Column::LeaseOwner.eq(owner))
            .add(Column::Status.is_in(usable()))
    }
}

/// Stamps the connection's token call and writes the attempt's journal row, while the lease is
/// the attempt's owner's.
async fn begin(db: &impl ConnectionTrait, attempt: &RefreshAttempt) -> Result<(), StoreError> {
    // The call time on the row is what the interval rule reads, on every instance.
    let stamped = connections::Entity::update_many()
        .col_expr(
            Column::TokenCallAt,
            Expr::value(to_millis(attempt.started_at)),
        )
        .col_expr(Column::TokenCallRefusal, Expr::value(attempt.after_refusal))
        .filter(Database::owned(attempt.connection, &attempt.owner))
        .exec(db)
        .await
        .map_err(store_error)?;
    if stamped.rows_affected != 1 {
        return Err(StoreError::Unavailable(anyhow::anyhow!(
            "the refresh lease was lost before calling amoCRM"
        )));
    }
    refresh_attempts::Entity::insert(refresh_attempts::ActiveModel {
        id: Set(attempt.id),
        connection_id: Set(attempt.connection.as_uuid()),
        owner: Set(attempt.owner.clone()),
        refresh_token_hash: Set(attempt.refresh_token_hash.clone()),
        started_at: Set(to_millis(attempt.started_at)),
        finished_at: Set(None),
        outcome: Set(None),
    })
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Stores a refreshed pair ([`Transition::Refresh`](domain::connections::Transition)) under the
/// lease and finishes the attempt's journal row.
async fn store_refreshed(
    db: &impl ConnectionTrait,
    id: ConnectionId,
    owner: &str,
    refreshed: &Refreshed,
    change: &StatusChange,
) -> Result<bool, StoreError> {
    let tokens = |update: UpdateMany<connections::Entity>| {
        let update = update
            .col_expr(
                Column::AccessToken,
                Expr::value(refreshed.access_token.as_str()),
            )
            .col_expr(
                Column::AccessExpiresAt,
                Expr::value(to_millis(refreshed.access_expires_at)),
            )
            .col_expr(
                Column::AccessLifetimeSecs,
                Expr::value(crate::connections::secs(refreshed.access_lifetime)),
            )
            .col_expr(
                Column::NextRefreshAt,
                Expr::value(to_millis(refreshed.next_refresh_at)),
            )
            .col_expr(Column::LastRefreshAt, Expr::value(to_millis(refreshed.at)))
            .col_expr(Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(Column::RefreshFailures, Expr::value(0))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None));
        match &refreshed.refresh_token {
            Some(refresh_token) => {
                update.col_expr(Column::RefreshToken, Expr::value(refresh_token.as_str()))
            }
            None => update,
        }
    };
    let target = Target {
        id,
        workspace: None,
        also: Database::owned(id, owner),
        with: &tokens,
    };
    let stored = lifecycle::apply(db, &target, change).await?;
    let outcome = if stored {
        AttemptOutcome::Refreshed
    } else {
        AttemptOutcome::Discarded
    };
    finish(db, refreshed.attempt, outcome, refreshed.at).await?;
    Ok(stored)
}

/// Closes an attempt's journal row with its outcome.
async fn finish(
    db: &impl ConnectionTrait,
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
        .exec(db)
        .await
        .map_err(store_error)?;
    Ok(())
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
            if let Some(record) = self.take_lease(&txn, id, owner, lease).await? {
                claimed.push(Claimed {
                    takeover: previous_owner.is_some_and(|p| p != owner),
                    record,
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
            .map(|record| Claimed {
                takeover: false,
                record,
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
        let attempt = Arc::new(attempt.clone());
        self.group
            .run(move |txn| {
                let attempt = attempt.clone();
                Box::pin(async move { begin(txn, &attempt).await })
            })
            .await
    }

    async fn defer(
        &self,
        id: ConnectionId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        connections::Entity::update_many()
            .col_expr(Column::NextRefreshAt, Expr::value(to_millis(until)))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(Database::owned(id, owner))
            .exec(&self.conn)
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
        finish(&self.conn, attempt, outcome, at).await
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
                // Not journaled: only the connection row's stamp feeds the interval rule.
                after_refusal: false,
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
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let args = Arc::new((owner.to_owned(), refreshed.clone(), change.clone()));
        self.group
            .run(move |txn| {
                let args = args.clone();
                Box::pin(async move {
                    let (owner, refreshed, change) = &*args;
                    store_refreshed(txn, id, owner, refreshed, change).await
                })
            })
            .await
    }

    async fn store_failure(
        &self,
        id: ConnectionId,
        owner: &str,
        failure: &RefreshFailure,
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let reason = change.reason.clone();
        let bookkeeping = move |update: UpdateMany<connections::Entity>| {
            update
                .col_expr(Column::LastError, Expr::value(reason.clone()))
                .col_expr(Column::RefreshFailures, Expr::value(failure.failures))
                .col_expr(
                    Column::NextRefreshAt,
                    Expr::value(failure.next_refresh_at.map(to_millis)),
                )
                .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
                .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        };
        let txn = self.conn.begin().await.map_err(store_error)?;
        let current: Option<String> = connections::Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(Column::Status)
            .filter(Database::owned(id, owner))
            .into_tuple()
            .one(&txn)
            .await
            .map_err(store_error)?;
        let stored = match current {
            None => false,
            // The status stays: only the retry bookkeeping changes, and no event is recorded.
            Some(status) if status == change.transition.target().as_str() => {
                bookkeeping(connections::Entity::update_many())
                    .col_expr(Column::StatusReason, Expr::value(change.reason.clone()))
                    .col_expr(Column::UpdatedAt, Expr::value(to_millis(failure.at)))
                    .filter(Database::owned(id, owner))
                    .exec(&txn)
                    .await
                    .map_err(store_error)?
                    .rows_affected
                    == 1
            }
            Some(_) => {
                let target = Target {
                    id,
                    workspace: None,
                    also: Database::owned(id, owner),
                    with: &bookkeeping,
                };
                lifecycle::apply(&txn, &target, change).await?
            }
        };
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

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<Option<i64>> = connections::Entity::find()
            .select_only()
            .column_as(Column::NextRefreshAt.min(), "due")
            .filter(Column::Status.is_in(usable()))
            .into_tuple()
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(due.flatten().map(from_millis))
    }
}
