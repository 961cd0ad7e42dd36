//! Webhook endpoints and the delivery outbox.
//!
//! [`enqueue`] runs inside the transaction that records connection events, so a message exists
//! exactly when its event does. The worker's claim is a compare-and-set lease against the
//! database's clock (both engines), so several instances can drain the same outbox.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::amo::Platform;
use domain::{
    StoreError,
    connections::NewEvent,
    ids::{ConnectionId, WorkspaceId},
    key_rotation::SealedValue,
    webhooks::{
        Claim, ClaimedDelivery, ConnectionSnapshot, DeliveryId, DeliveryRecord, DeliveryStatus,
        EndpointChange, EndpointId, EndpointRecord, EndpointUrl, EventType, EventTypes,
        FinishedAttempt, MessageId, OutgoingMessage, SecretColumn, SecretRotation, WebhookStore,
    },
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Statement, TransactionTrait as _,
    sea_query::{Expr, ExprTrait as _, Query},
};
use uuid::Uuid;

use crate::{
    Database, Engine,
    database::store_error,
    entities::{connections, webhook_deliveries, webhook_endpoints, webhook_messages},
    stored::{corrupt, parse},
    time::{from_millis, to_millis},
};

use webhook_deliveries::Column as D;
use webhook_endpoints::Column as E;

/// The database's own clock in unix milliseconds (leases must not depend on instance clocks).
pub(crate) fn database_now(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// Writes the message of one announced event and one pending delivery per enabled endpoint of
/// the workspace subscribed to it. Called by the lifecycle path (`lifecycle::record`) inside the
/// transaction that records the event, so a message exists exactly when its event does; which
/// events are announced, and as what, is decided in domain (`connections::Effects`).
pub(crate) async fn enqueue(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
    connection: ConnectionId,
    event: &NewEvent,
    event_type: EventType,
) -> Result<(), StoreError> {
    let endpoints = enabled_endpoints(db, workspace).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let Some(row) = connections::Entity::find_by_id(connection.as_uuid())
        .filter(connections::Column::WorkspaceId.eq(workspace.as_uuid()))
        .one(db)
        .await
        .map_err(store_error)?
    else {
        return Ok(());
    };
    let snapshot = ConnectionSnapshot {
        id: connection,
        platform: row
            .platform
            .parse::<Platform>()
            .map_err(|_| corrupt("connection platform"))?,
        account_id: row.account_id,
        account_name: row.account_name,
        host: row.host,
        status: row
            .status
            .parse()
            .map_err(|_| corrupt("connection status"))?,
        end_user_id: row.end_user_id,
        metadata: row.metadata,
    };
    let Some(message) =
        OutgoingMessage::for_event_with(event.kind, event.at, &snapshot, event.detail.as_deref())
    else {
        return Ok(());
    };
    debug_assert_eq!(EventType::for_event(event.kind), Some(event_type));
    insert_message(
        db,
        workspace,
        connection,
        &message,
        &endpoints,
        to_millis(event.at),
    )
    .await
}

/// The workspace's enabled endpoints as `(id, stored event types)`.
pub(crate) async fn enabled_endpoints(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
) -> Result<Vec<(Uuid, String)>, StoreError> {
    webhook_endpoints::Entity::find()
        .select_only()
        .columns([E::Id, E::EventTypes])
        .filter(E::WorkspaceId.eq(workspace.as_uuid()))
        .filter(E::Enabled.eq(true))
        .into_tuple()
        .all(db)
        .await
        .map_err(store_error)
}

/// Writes `message` and one pending delivery per endpoint (of `endpoints`) subscribed to its
/// type; nothing at all when none is.
pub(crate) async fn insert_message(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
    connection: ConnectionId,
    message: &OutgoingMessage,
    endpoints: &[(Uuid, String)],
    at: i64,
) -> Result<(), StoreError> {
    let targets: Vec<Uuid> = endpoints
        .iter()
        .filter(|(_, types)| {
            EventTypes::from_stored(types).is_ok_and(|types| types.contains(message.event_type))
        })
        .map(|(id, _)| *id)
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    webhook_messages::Entity::insert(webhook_messages::ActiveModel {
        id: Set(message.id.as_str().to_owned()),
        workspace_id: Set(workspace.as_uuid()),
        event_type: Set(message.event_type.as_str().to_owned()),
        connection_id: Set(Some(connection.as_uuid())),
        payload: Set(message.payload.clone()),
        created_at: Set(at),
    })
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    webhook_deliveries::Entity::insert_many(targets.into_iter().map(|endpoint| {
        pending_delivery(
            workspace,
            endpoint,
            message.id.as_str(),
            message.event_type,
            at,
        )
    }))
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

fn pending_delivery(
    workspace: WorkspaceId,
    endpoint: Uuid,
    message: &str,
    event_type: EventType,
    at: i64,
) -> webhook_deliveries::ActiveModel {
    webhook_deliveries::ActiveModel {
        id: Set(Uuid::new_v4()),
        workspace_id: Set(workspace.as_uuid()),
        endpoint_id: Set(endpoint),
        message_id: Set(message.to_owned()),
        event_type: Set(event_type.as_str().to_owned()),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(Some(at)),
        last_attempt_at: Set(None),
        last_response_status: Set(None),
        last_error: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

fn to_endpoint(row: webhook_endpoints::Model) -> Result<EndpointRecord, StoreError> {
    Ok(EndpointRecord {
        id: EndpointId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        url: EndpointUrl::from_stored(&row.url).map_err(|_| corrupt("webhook url"))?,
        events: EventTypes::from_stored(&row.event_types)
            .map_err(|_| corrupt("webhook event types"))?,
        secret: row.secret,
        previous_secret: row.previous_secret,
        previous_secret_until: row.previous_secret_until.map(from_millis),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        last_success_at: row.last_success_at.map(from_millis),
        created_at: from_millis(row.created_at),
    })
}

fn to_delivery(row: webhook_deliveries::Model) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        id: DeliveryId::from_uuid(row.id),
        message_id: MessageId::from_stored(row.message_id),
        event_type: parse(&row.event_type, "webhook event type")?,
        status: parse(&row.status, "webhook status")?,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: row.next_attempt_at.map(from_millis),
        last_attempt_at: row.last_attempt_at.map(from_millis),
        last_response_status: row.last_response_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error,
        created_at: from_millis(row.created_at),
    })
}

/// `lease_until IS NULL OR lease_until < <database now>`
fn lease_is_free(engine: Engine) -> Condition {
    Condition::any()
        .add(D::LeaseUntil.is_null())
        .add(Expr::col(D::LeaseUntil).lt(Expr::cust(database_now(engine))))
}

/// Error texts are stored for people; keep them short.
fn clip(text: &str) -> String {
    text.chars().take(255).collect()
}

/// The table holding sealed webhook secrets, for `amolink keys rotate`.
pub(crate) const SEALED_TABLE: &str = "webhook_endpoints";

/// The sealed secrets of endpoints with ids after `after` (current and previous), in id order.
pub(crate) async fn sealed_after(
    db: &Database,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<SealedValue>, StoreError> {
    let mut query = webhook_endpoints::Entity::find()
        .select_only()
        .columns([E::Id, E::WorkspaceId, E::Secret, E::PreviousSecret])
        .order_by_asc(E::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(E::Id.gt(after));
    }
    let rows: Vec<(Uuid, Uuid, String, Option<String>)> = query
        .into_tuple()
        .all(&db.conn)
        .await
        .map_err(store_error)?;
    let mut values = Vec::with_capacity(rows.len() * 2);
    for (row, workspace, secret, previous) in rows {
        for (column, binding, sealed) in [
            ("secret", SecretColumn::Current, secret),
            (
                "previous_secret",
                SecretColumn::Previous,
                previous.unwrap_or_default(),
            ),
        ] {
            values.push(SealedValue {
                table: SEALED_TABLE,
                row,
                workspace: WorkspaceId::from_uuid(workspace),
                column,
                binding_column: binding.as_str(),
                sealed,
            });
        }
    }
    Ok(values)
}

/// Replaces one sealed secret unless it changed meanwhile (a rotation by the tenant).
pub(crate) async fn replace_sealed(
    db: &Database,
    value: &SealedValue,
    resealed: &str,
) -> Result<bool, StoreError> {
    let column = match value.column {
        "secret" => E::Secret,
        "previous_secret" => E::PreviousSecret,
        other => return Err(corrupt(other)),
    };
    let result = webhook_endpoints::Entity::update_many()
        .col_expr(column, Expr::value(resealed))
        .filter(E::Id.eq(value.row))
        .filter(column.eq(value.sealed.as_str()))
        .exec(&db.conn)
        .await
        .map_err(store_error)?;
    Ok(result.rows_affected == 1)
}

impl Database {
    pub(crate) async fn database_now_ms(&self) -> Result<i64, StoreError> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                format!("SELECT {} AS now_ms", database_now(self.engine())),
            ))
            .await
            .map_err(store_error)?
            .ok_or_else(|| corrupt("webhook clock answer"))?;
        row.try_get::<i64>("", "now_ms").map_err(store_error)
    }

    /// Loads what sending the leased deliveries needs.
    async fn claimed(
        &self,
        leases: Vec<(Uuid, String)>,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut claimed = Vec::with_capacity(leases.len());
        for (id, lease) in leases {
            let Some(delivery) = webhook_deliveries::Entity::find_by_id(id)
                .one(&self.conn)
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            let message = webhook_messages::Entity::find_by_id(delivery.message_id.clone())
                .one(&self.conn)
                .await
                .map_err(store_error)?;
            let endpoint = webhook_endpoints::Entity::find_by_id(delivery.endpoint_id)
                .one(&self.conn)
                .await
                .map_err(store_error)?;
            let (Some(message), Some(endpoint)) = (message, endpoint) else {
                continue;
            };
            claimed.push(ClaimedDelivery {
                id: DeliveryId::from_uuid(delivery.id),
                lease,
                message_id: MessageId::from_stored(message.id),
                event_type: message
                    .event_type
                    .parse()
                    .map_err(|_| corrupt("webhook event type"))?,
                payload: message.payload,
                connection: message.connection_id.map(ConnectionId::from_uuid),
                attempts: u32::try_from(delivery.attempts).unwrap_or(0),
                created_at: from_millis(delivery.created_at),
                endpoint: to_endpoint(endpoint)?,
            });
        }
        Ok(claimed)
    }
}

#[async_trait]
impl WebhookStore for Database {
    async fn insert_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), StoreError> {
        let at = to_millis(endpoint.created_at);
        webhook_endpoints::Entity::insert(webhook_endpoints::ActiveModel {
            id: Set(endpoint.id.as_uuid()),
            workspace_id: Set(endpoint.workspace.as_uuid()),
            url: Set(endpoint.url.as_str().to_owned()),
            event_types: Set(endpoint.events.to_stored()),
            secret: Set(endpoint.secret.clone()),
            previous_secret: Set(endpoint.previous_secret.clone()),
            previous_secret_until: Set(endpoint.previous_secret_until.map(to_millis)),
            enabled: Set(endpoint.enabled),
            disabled_reason: Set(endpoint.disabled_reason.clone()),
            last_success_at: Set(endpoint.last_success_at.map(to_millis)),
            created_at: Set(at),
            updated_at: Set(at),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn endpoints(&self, workspace: WorkspaceId) -> Result<Vec<EndpointRecord>, StoreError> {
        webhook_endpoints::Entity::find()
            .filter(E::WorkspaceId.eq(workspace.as_uuid()))
            .order_by_asc(E::CreatedAt)
            .order_by_asc(E::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(to_endpoint)
            .collect()
    }

    async fn endpoint(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        webhook_endpoints::Entity::find_by_id(id.as_uuid())
            .filter(E::WorkspaceId.eq(workspace.as_uuid()))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_endpoint)
            .transpose()
    }

    async fn rotate_secret(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        rotation: &SecretRotation,
    ) -> Result<bool, StoreError> {
        let result = webhook_endpoints::Entity::update_many()
            .col_expr(E::Secret, Expr::value(rotation.secret.as_str()))
            .col_expr(
                E::PreviousSecret,
                Expr::value(Some(rotation.previous_secret.clone())),
            )
            .col_expr(
                E::PreviousSecretUntil,
                Expr::value(Some(to_millis(rotation.previous_until))),
            )
            .col_expr(E::UpdatedAt, Expr::value(to_millis(rotation.at)))
            .filter(E::Id.eq(id.as_uuid()))
            .filter(E::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn set_enabled(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        enabled: bool,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = webhook_endpoints::Entity::update_many()
            .col_expr(E::Enabled, Expr::value(enabled))
            .col_expr(
                E::DisabledReason,
                Expr::value(reason.filter(|_| !enabled).map(clip)),
            )
            .col_expr(E::UpdatedAt, Expr::value(to_millis(at)))
            .filter(E::Id.eq(id.as_uuid()))
            .filter(E::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete_endpoint(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        webhook_deliveries::Entity::delete_many()
            .filter(D::EndpointId.eq(id.as_uuid()))
            .filter(D::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let result = webhook_endpoints::Entity::delete_many()
            .filter(E::Id.eq(id.as_uuid()))
            .filter(E::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn deliveries(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        limit: u64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        webhook_deliveries::Entity::find()
            .filter(D::WorkspaceId.eq(workspace.as_uuid()))
            .filter(D::EndpointId.eq(endpoint.as_uuid()))
            .order_by_desc(D::CreatedAt)
            .order_by_desc(D::Id)
            .limit(limit)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(to_delivery)
            .collect()
    }

    async fn replay(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        delivery: DeliveryId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(original) = webhook_deliveries::Entity::find_by_id(delivery.as_uuid())
            .filter(D::WorkspaceId.eq(workspace.as_uuid()))
            .filter(D::EndpointId.eq(endpoint.as_uuid()))
            .one(&self.conn)
            .await
            .map_err(store_error)?
        else {
            return Ok(false);
        };
        let event_type: EventType = original
            .event_type
            .parse()
            .map_err(|_| corrupt("webhook event type"))?;
        webhook_deliveries::Entity::insert(pending_delivery(
            workspace,
            endpoint.as_uuid(),
            &original.message_id,
            event_type,
            to_millis(at),
        ))
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(true)
    }

    async fn enqueue_for_endpoint(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        message: &OutgoingMessage,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = to_millis(at);
        let txn = self.conn.begin().await.map_err(store_error)?;
        let exists = webhook_endpoints::Entity::find_by_id(endpoint.as_uuid())
            .filter(E::WorkspaceId.eq(workspace.as_uuid()))
            .one(&txn)
            .await
            .map_err(store_error)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        webhook_messages::Entity::insert(webhook_messages::ActiveModel {
            id: Set(message.id.as_str().to_owned()),
            workspace_id: Set(workspace.as_uuid()),
            event_type: Set(message.event_type.as_str().to_owned()),
            connection_id: Set(None),
            payload: Set(message.payload.clone()),
            created_at: Set(at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        webhook_deliveries::Entity::insert(pending_delivery(
            workspace,
            endpoint.as_uuid(),
            message.id.as_str(),
            message.event_type,
            at,
        ))
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Claim, StoreError> {
        let engine = self.engine();
        let now_ms = to_millis(now);
        let clock = self.database_now_ms().await?;
        let due = || {
            Condition::all()
                .add(D::Status.eq(DeliveryStatus::Pending.as_str()))
                .add(D::NextAttemptAt.lte(now_ms))
                .add(lease_is_free(engine))
        };
        let candidates: Vec<Uuid> = webhook_deliveries::Entity::find()
            .select_only()
            .column(D::Id)
            .filter(due())
            .filter(
                D::EndpointId.in_subquery(
                    Query::select()
                        .column(E::Id)
                        .from(webhook_endpoints::Entity)
                        .and_where(E::Enabled.eq(true))
                        .to_owned(),
                ),
            )
            .order_by_asc(D::NextAttemptAt)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut leases = Vec::new();
        for id in candidates {
            let token = Uuid::new_v4().simple().to_string();
            // The compare-and-set: only one worker's UPDATE can match a free, due row.
            let result = webhook_deliveries::Entity::update_many()
                .col_expr(D::LeaseOwner, Expr::value(token.as_str()))
                .col_expr(
                    D::LeaseUntil,
                    Expr::cust(database_now(engine)).add(lease_ms),
                )
                .filter(D::Id.eq(id))
                .filter(due())
                .exec(&self.conn)
                .await
                .map_err(store_error)?;
            if result.rows_affected == 1 {
                leases.push((id, token));
            }
        }
        Ok(Claim {
            database_now: from_millis(clock),
            deliveries: self.claimed(leases).await?,
        })
    }

    async fn finish_attempt(&self, attempt: &FinishedAttempt) -> Result<bool, StoreError> {
        let at = to_millis(attempt.at);
        let txn = self.conn.begin().await.map_err(store_error)?;
        let result = webhook_deliveries::Entity::update_many()
            .col_expr(D::Status, Expr::value(attempt.status.as_str()))
            .col_expr(
                D::Attempts,
                Expr::value(i32::try_from(attempt.attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(
                D::NextAttemptAt,
                Expr::value(attempt.next_attempt_at.map(to_millis)),
            )
            .col_expr(D::LastAttemptAt, Expr::value(Some(at)))
            .col_expr(
                D::LastResponseStatus,
                Expr::value(attempt.response_status.map(i32::from)),
            )
            .col_expr(
                D::LastError,
                Expr::value(attempt.error.as_deref().map(clip)),
            )
            .col_expr(D::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(D::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(D::UpdatedAt, Expr::value(at))
            .filter(D::Id.eq(attempt.delivery.as_uuid()))
            .filter(D::LeaseOwner.eq(attempt.lease.as_str()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if result.rows_affected != 1 {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        let endpoint = webhook_endpoints::Entity::update_many()
            .filter(E::Id.eq(attempt.endpoint.as_uuid()))
            .filter(E::WorkspaceId.eq(attempt.workspace.as_uuid()));
        match &attempt.endpoint_change {
            EndpointChange::None => {}
            EndpointChange::Succeeded => {
                endpoint
                    .col_expr(E::LastSuccessAt, Expr::value(Some(at)))
                    .exec(&txn)
                    .await
                    .map_err(store_error)?;
            }
            EndpointChange::Disable(reason) => {
                endpoint
                    .col_expr(E::Enabled, Expr::value(false))
                    .col_expr(E::DisabledReason, Expr::value(Some(clip(reason))))
                    .col_expr(E::UpdatedAt, Expr::value(at))
                    .exec(&txn)
                    .await
                    .map_err(store_error)?;
            }
        }
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }
}
