//! amoCRM events: raw deliveries, tenant events with their dedup keys, relay settings and
//! subscriptions.
//!
//! A tenant event and its outbox messages are written in the transaction that marks its raw
//! delivery processed, and `(connection, dedup key)` is unique, so a delivery processed twice, or
//! amoCRM's retries of it, yield each event — and each webhook — once.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    connections::{ConnectionStatus, NewEvent},
    ids::{ConnectionId, InboundId, WorkspaceId},
    relay::{
        ClaimedInbound, ClaimedSubscription, EventCursor, InboundOutcome, NewInbound,
        ProcessedInbound, RelaySelection, RelayStore, StoredEvent, Subscription,
        SubscriptionStatus, TokenOwner,
    },
    webhooks::{EventType, MessageId, OutgoingMessage},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, TransactionTrait as _,
    sea_query::{Expr, ExprTrait as _, OnConflict},
};
use uuid::Uuid;

use crate::{
    Database, Engine,
    database::store_error,
    entities::{connections, relay_events, relay_inbound, relay_settings, relay_subscriptions},
    time::{from_millis, to_millis},
    webhooks::{database_now, enabled_endpoints, insert_message},
};

use relay_events::Column as Ev;
use relay_inbound::Column as In;
use relay_subscriptions::Column as Sub;

const PENDING: &str = "pending";
const PROCESSED: &str = "processed";
const REJECTED: &str = "rejected";

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("stored relay row has an invalid {what}"))
}

fn clip(text: &str) -> String {
    text.chars().take(255).collect()
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

fn inbound_lease_free(engine: Engine) -> Condition {
    Condition::any()
        .add(In::LeaseUntil.is_null())
        .add(Expr::col(In::LeaseUntil).lt(Expr::cust(database_now(engine))))
}

fn subscription_lease_free(engine: Engine) -> Condition {
    Condition::any()
        .add(Sub::LeaseUntil.is_null())
        .add(Expr::col(Sub::LeaseUntil).lt(Expr::cust(database_now(engine))))
}

/// Creates the connection's subscription row, pending and due at `at`, or makes an existing one
/// pending and due again. Runs inside the transaction that records a connect or reconnect.
pub(crate) async fn request_subscription(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
    connection: ConnectionId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = to_millis(at);
    relay_subscriptions::Entity::insert(relay_subscriptions::ActiveModel {
        connection_id: Set(connection.as_uuid()),
        workspace_id: Set(workspace.as_uuid()),
        status: Set(SubscriptionStatus::Pending.as_str().to_owned()),
        reason: Set(None),
        token_hash: Set(None),
        settings: Set(String::new()),
        amocrm_webhook_id: Set(None),
        failures: Set(0),
        last_checked_at: Set(None),
        next_check_at: Set(Some(at)),
        lease_owner: Set(None),
        lease_until: Set(None),
        paused_at: Set(None),
        gap_from: Set(None),
        gap_until: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(Sub::ConnectionId)
            .update_columns([
                Sub::Status,
                Sub::Reason,
                Sub::Failures,
                Sub::NextCheckAt,
                Sub::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// The account's event subscription is over: its credentials are gone (revoked, disconnected).
pub(crate) async fn end_subscription(
    db: &impl ConnectionTrait,
    connection: ConnectionId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    relay_subscriptions::Entity::update_many()
        .col_expr(
            Sub::Status,
            Expr::value(SubscriptionStatus::Unsubscribed.as_str()),
        )
        .col_expr(Sub::NextCheckAt, Expr::value(Option::<i64>::None))
        .col_expr(Sub::UpdatedAt, Expr::value(to_millis(at)))
        .filter(Sub::ConnectionId.eq(connection.as_uuid()))
        .exec(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

fn to_subscription(row: relay_subscriptions::Model) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        connection: ConnectionId::from_uuid(row.connection_id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        status: row.status.parse().map_err(|_| corrupt("status"))?,
        reason: row.reason,
        token_hash: row.token_hash,
        settings: row
            .settings
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        amocrm_webhook_id: row.amocrm_webhook_id,
        failures: u32::try_from(row.failures).unwrap_or(0),
        last_checked_at: row.last_checked_at.map(from_millis),
        next_check_at: row.next_check_at.map(from_millis),
        paused_at: row.paused_at.map(from_millis),
        gap_from: row.gap_from.map(from_millis),
        gap_until: row.gap_until.map(from_millis),
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    })
}

fn to_event(row: relay_events::Model) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: row.seq,
        id: MessageId::from_stored(row.id),
        connection: ConnectionId::from_uuid(row.connection_id),
        event: row.event_type.parse().map_err(|_| corrupt("event type"))?,
        entity_id: row.entity_id,
        payload: row.payload,
        raw_item: row.raw_item,
        received_at: from_millis(row.received_at),
    })
}

impl Database {
    /// Stores the events that are new and queues them; answers how many were new.
    async fn insert_relay_events(
        db: &impl ConnectionTrait,
        done: &ProcessedInbound,
        records: &[domain::relay::RelayRecord],
    ) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let owner = done.owner;
        let endpoints = enabled_endpoints(db, owner.workspace).await?;
        let received = to_millis(done.received_at);
        let stored = to_millis(done.at);
        let mut new = 0;
        for record in records {
            let inserted = relay_events::Entity::insert(relay_events::ActiveModel {
                seq: sea_orm::ActiveValue::NotSet,
                id: Set(record.id.as_str().to_owned()),
                workspace_id: Set(owner.workspace.as_uuid()),
                connection_id: Set(owner.connection.as_uuid()),
                event_type: Set(record.event.as_str().to_owned()),
                entity_id: Set(record.entity_id),
                dedup_key: Set(record.dedup_key.clone()),
                inbound_id: Set(done.id.as_uuid()),
                payload: Set(record.payload.clone()),
                raw_item: Set(record.raw_item.clone()),
                received_at: Set(received),
                stored_at: Set(stored),
            })
            .on_conflict(
                OnConflict::columns([Ev::ConnectionId, Ev::DedupKey])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map_err(store_error)?;
            if inserted == 0 {
                continue;
            }
            new += 1;
            let message = OutgoingMessage {
                id: record.id.clone(),
                event_type: EventType::AmoCrm(record.event),
                payload: record.payload.clone(),
            };
            insert_message(
                db,
                owner.workspace,
                owner.connection,
                &message,
                &endpoints,
                stored,
            )
            .await?;
        }
        Ok(new)
    }
}

#[async_trait]
impl RelayStore for Database {
    async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let Some(subscription) = relay_subscriptions::Entity::find()
            .filter(Sub::TokenHash.eq(token_hash))
            .filter(Sub::Status.ne(SubscriptionStatus::Unsubscribed.as_str()))
            .one(&self.reads)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let connection: Option<(i64, String)> =
            connections::Entity::find_by_id(subscription.connection_id)
                .select_only()
                .columns([connections::Column::AccountId, connections::Column::Status])
                .into_tuple()
                .one(&self.reads)
                .await
                .map_err(store_error)?;
        // amoCRM keeps sending while a connection needs re-auth (hooks do not use tokens);
        // only a revoked or disconnected one has nobody left to relay to.
        Ok(connection.and_then(|(account_id, status)| {
            let ended = [ConnectionStatus::Revoked, ConnectionStatus::Disconnected]
                .iter()
                .any(|s| s.as_str() == status);
            (!ended).then(|| TokenOwner {
                connection: ConnectionId::from_uuid(subscription.connection_id),
                workspace: WorkspaceId::from_uuid(subscription.workspace_id),
                account_id,
            })
        }))
    }

    async fn store_inbound(&self, inbound: &NewInbound) -> Result<(), StoreError> {
        relay_inbound::Entity::insert(relay_inbound::ActiveModel {
            id: Set(inbound.id.as_uuid()),
            workspace_id: Set(inbound.owner.workspace.as_uuid()),
            connection_id: Set(inbound.owner.connection.as_uuid()),
            received_at: Set(to_millis(inbound.received_at)),
            body: Set(inbound.body.clone()),
            request_id: Set(inbound.request_id.clone()),
            user_agent: Set(inbound.user_agent.clone()),
            status: Set(PENDING.to_owned()),
            attempts: Set(0),
            event_count: Set(0),
            last_error: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
            processed_at: Set(None),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn claim_inbound(
        &self,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<ClaimedInbound>, StoreError> {
        let engine = self.engine();
        let due = || {
            Condition::all()
                .add(In::Status.eq(PENDING))
                .add(inbound_lease_free(engine))
        };
        let candidates: Vec<Uuid> = relay_inbound::Entity::find()
            .select_only()
            .column(In::Id)
            .filter(due())
            .order_by_asc(In::ReceivedAt)
            .order_by_asc(In::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // One compare-and-set for the whole batch (one write, which matters on SQLite's single
        // writer while the receiver is storing a burst); the rows this worker won carry its
        // token.
        let token = Uuid::new_v4().simple().to_string();
        relay_inbound::Entity::update_many()
            .col_expr(In::LeaseOwner, Expr::value(token.as_str()))
            .col_expr(
                In::LeaseUntil,
                Expr::cust(database_now(engine)).add(lease_ms(lease)),
            )
            .col_expr(In::Attempts, Expr::col(In::Attempts).add(1))
            .filter(In::Id.is_in(candidates))
            .filter(due())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        let rows = relay_inbound::Entity::find()
            .filter(In::LeaseOwner.eq(token.as_str()))
            .order_by_asc(In::ReceivedAt)
            .order_by_asc(In::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let mut accounts: std::collections::HashMap<Uuid, Option<i64>> =
            std::collections::HashMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let account_id = match accounts.get(&row.connection_id) {
                Some(known) => *known,
                None => {
                    let found: Option<i64> = connections::Entity::find_by_id(row.connection_id)
                        .select_only()
                        .column(connections::Column::AccountId)
                        .into_tuple()
                        .one(&self.conn)
                        .await
                        .map_err(store_error)?;
                    accounts.insert(row.connection_id, found);
                    found
                }
            };
            let Some(account_id) = account_id else {
                continue;
            };
            claimed.push(ClaimedInbound {
                id: InboundId::from_uuid(row.id),
                lease: token.clone(),
                owner: TokenOwner {
                    connection: ConnectionId::from_uuid(row.connection_id),
                    workspace: WorkspaceId::from_uuid(row.workspace_id),
                    account_id,
                },
                received_at: from_millis(row.received_at),
                body: row.body,
                attempts: u32::try_from(row.attempts).unwrap_or(0),
            });
        }
        Ok(claimed)
    }

    async fn finish_inbound(
        &self,
        batch: &[ProcessedInbound],
    ) -> Result<Vec<Option<usize>>, StoreError> {
        // One transaction (one durable commit) per batch: on SQLite's single writer, commits are
        // what the receiver queues behind during a burst.
        let txn = self.conn.begin().await.map_err(store_error)?;
        let mut results = Vec::with_capacity(batch.len());
        for done in batch {
            let (status, error) = match &done.outcome {
                InboundOutcome::Processed(_) => (PROCESSED, None),
                InboundOutcome::Rejected(reason) => (REJECTED, Some(clip(reason))),
            };
            let new = match &done.outcome {
                InboundOutcome::Processed(records) => records.len(),
                InboundOutcome::Rejected(_) => 0,
            };
            let marked = relay_inbound::Entity::update_many()
                .col_expr(In::Status, Expr::value(status))
                .col_expr(In::LastError, Expr::value(error))
                .col_expr(In::ProcessedAt, Expr::value(Some(to_millis(done.at))))
                .col_expr(In::LeaseOwner, Expr::value(Option::<String>::None))
                .col_expr(In::LeaseUntil, Expr::value(Option::<i64>::None))
                .col_expr(
                    In::EventCount,
                    Expr::value(i32::try_from(new).unwrap_or(i32::MAX)),
                )
                .filter(In::Id.eq(done.id.as_uuid()))
                .filter(In::LeaseOwner.eq(done.lease.as_str()))
                .exec(&txn)
                .await
                .map_err(store_error)?;
            if marked.rows_affected != 1 {
                results.push(None);
                continue;
            }
            let inserted = match &done.outcome {
                InboundOutcome::Processed(records) => {
                    Self::insert_relay_events(&txn, done, records).await?
                }
                InboundOutcome::Rejected(_) => 0,
            };
            if inserted != new {
                relay_inbound::Entity::update_many()
                    .col_expr(
                        In::EventCount,
                        Expr::value(i32::try_from(inserted).unwrap_or(i32::MAX)),
                    )
                    .filter(In::Id.eq(done.id.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(store_error)?;
            }
            results.push(Some(inserted));
        }
        txn.commit().await.map_err(store_error)?;
        Ok(results)
    }

    async fn relay_selection(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Option<RelaySelection>, StoreError> {
        relay_settings::Entity::find_by_id(workspace.as_uuid())
            .one(&self.reads)
            .await
            .map_err(store_error)?
            .map(|row| {
                RelaySelection::from_stored(&row.event_types).map_err(|_| corrupt("event types"))
            })
            .transpose()
    }

    async fn set_relay_selection(
        &self,
        workspace: WorkspaceId,
        selection: &RelaySelection,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        let txn = self.conn.begin().await.map_err(store_error)?;
        relay_settings::Entity::insert(relay_settings::ActiveModel {
            workspace_id: Set(workspace.as_uuid()),
            event_types: Set(selection.to_stored()),
            updated_at: Set(at),
        })
        .on_conflict(
            OnConflict::column(relay_settings::Column::WorkspaceId)
                .update_columns([
                    relay_settings::Column::EventTypes,
                    relay_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        relay_subscriptions::Entity::update_many()
            .col_expr(Sub::NextCheckAt, Expr::value(Some(at)))
            .filter(Sub::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn events(
        &self,
        workspace: WorkspaceId,
        after: Option<EventCursor>,
        visible_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut query = relay_events::Entity::find()
            .filter(Ev::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Ev::StoredAt.lt(to_millis(visible_before)));
        if let Some(EventCursor(seq)) = after {
            query = query.filter(Ev::Seq.gt(seq));
        }
        query
            .order_by_asc(Ev::Seq)
            .limit(limit)
            .all(&self.reads)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(to_event)
            .collect()
    }

    async fn subscription(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
    ) -> Result<Option<Subscription>, StoreError> {
        relay_subscriptions::Entity::find_by_id(connection.as_uuid())
            .filter(Sub::WorkspaceId.eq(workspace.as_uuid()))
            .one(&self.reads)
            .await
            .map_err(store_error)?
            .map(to_subscription)
            .transpose()
    }

    async fn request_subscription(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        request_subscription(&self.conn, workspace, connection, at).await
    }

    async fn claim_subscriptions(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<ClaimedSubscription>, StoreError> {
        let engine = self.engine();
        let now_ms = to_millis(now);
        let due = || {
            Condition::all()
                .add(Sub::NextCheckAt.lte(now_ms))
                .add(subscription_lease_free(engine))
        };
        let candidates: Vec<Uuid> = relay_subscriptions::Entity::find()
            .select_only()
            .column(Sub::ConnectionId)
            .filter(due())
            .order_by_asc(Sub::NextCheckAt)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for id in candidates {
            let token = Uuid::new_v4().simple().to_string();
            let result = relay_subscriptions::Entity::update_many()
                .col_expr(Sub::LeaseOwner, Expr::value(token.as_str()))
                .col_expr(
                    Sub::LeaseUntil,
                    Expr::cust(database_now(engine)).add(lease_ms(lease)),
                )
                .filter(Sub::ConnectionId.eq(id))
                .filter(due())
                .exec(&self.conn)
                .await
                .map_err(store_error)?;
            if result.rows_affected != 1 {
                continue;
            }
            if let Some(row) = relay_subscriptions::Entity::find_by_id(id)
                .one(&self.conn)
                .await
                .map_err(store_error)?
            {
                claimed.push(ClaimedSubscription {
                    lease: token,
                    subscription: to_subscription(row)?,
                });
            }
        }
        Ok(claimed)
    }

    async fn save_subscription(
        &self,
        lease: Option<&str>,
        s: &Subscription,
    ) -> Result<bool, StoreError> {
        let mut update = relay_subscriptions::Entity::update_many()
            .col_expr(Sub::Status, Expr::value(s.status.as_str()))
            .col_expr(Sub::Reason, Expr::value(s.reason.as_deref().map(clip)))
            .col_expr(Sub::TokenHash, Expr::value(s.token_hash.clone()))
            .col_expr(Sub::Settings, Expr::value(s.settings.join(",")))
            .col_expr(Sub::AmocrmWebhookId, Expr::value(s.amocrm_webhook_id))
            .col_expr(
                Sub::Failures,
                Expr::value(i32::try_from(s.failures).unwrap_or(i32::MAX)),
            )
            .col_expr(
                Sub::LastCheckedAt,
                Expr::value(s.last_checked_at.map(to_millis)),
            )
            .col_expr(
                Sub::NextCheckAt,
                Expr::value(s.next_check_at.map(to_millis)),
            )
            .col_expr(Sub::PausedAt, Expr::value(s.paused_at.map(to_millis)))
            .col_expr(Sub::GapFrom, Expr::value(s.gap_from.map(to_millis)))
            .col_expr(Sub::GapUntil, Expr::value(s.gap_until.map(to_millis)))
            .col_expr(Sub::UpdatedAt, Expr::value(to_millis(s.updated_at)))
            .col_expr(Sub::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Sub::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(Sub::ConnectionId.eq(s.connection.as_uuid()))
            .filter(Sub::WorkspaceId.eq(s.workspace.as_uuid()));
        if let Some(lease) = lease {
            update = update.filter(Sub::LeaseOwner.eq(lease));
        }
        let result = update.exec(&self.conn).await.map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn begin_subscribing(
        &self,
        connection: ConnectionId,
        lease: &str,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = relay_subscriptions::Entity::update_many()
            .col_expr(Sub::TokenHash, Expr::value(Some(token_hash.to_owned())))
            .col_expr(
                Sub::Status,
                Expr::value(SubscriptionStatus::Pending.as_str()),
            )
            .col_expr(Sub::UpdatedAt, Expr::value(to_millis(at)))
            .filter(Sub::ConnectionId.eq(connection.as_uuid()))
            .filter(Sub::LeaseOwner.eq(lease))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn record_connection_events(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        crate::lifecycle::record(&txn, workspace, connection, events).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn purge_relay(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let inbound = relay_inbound::Entity::delete_many()
            .filter(In::Status.ne(PENDING))
            .filter(In::ReceivedAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        let events = relay_events::Entity::delete_many()
            .filter(Ev::StoredAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(inbound.rows_affected + events.rows_affected)
    }
}
