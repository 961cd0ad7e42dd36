//! The one path by which a connection's status changes, and the one place its events are
//! written: [`apply`] compare-and-sets the status (the row moves only from a status the domain's
//! state machine allows) and, when the row moved, [`record`]s the event with the effects the
//! domain decided for it — all inside the caller's transaction.

use domain::{
    StoreError,
    connections::{Effects, Erasure, NewEvent, RelayEffect, StatusChange},
    ids::{ConnectionId, WorkspaceId},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QuerySelect as _, UpdateMany, sea_query::Expr,
};

use crate::{
    database::store_error,
    entities::{
        connection_events,
        connections::{self, Column},
    },
    time::to_millis,
};

/// Which row a change applies to, beyond its id.
pub(crate) struct Target<'a> {
    pub id: ConnectionId,
    /// The tenant's workspace, when a person or a tenant's key asks (`None`: amolink's own
    /// loops, which act on any workspace's rows).
    pub workspace: Option<WorkspaceId>,
    /// Further conditions the row must meet (e.g. the keeper's lease).
    pub also: Condition,
    /// Further columns the same statement sets (e.g. the refreshed tokens) — never one that
    /// [`apply`] sets itself (status, reason, times, erased columns): PostgreSQL refuses a
    /// column assigned twice.
    pub with:
        &'a (dyn Fn(UpdateMany<connections::Entity>) -> UpdateMany<connections::Entity> + Sync),
}

impl Target<'static> {
    /// A row in a workspace, no other condition or column.
    pub(crate) fn in_workspace(workspace: WorkspaceId, id: ConnectionId) -> Self {
        Self {
            id,
            workspace: Some(workspace),
            also: Condition::all(),
            with: &|update| update,
        }
    }
}

/// Applies `change` to one row if its status is one the transition may leave; records the
/// change's event (and its effects) when the row moved. Answers whether it moved.
pub(crate) async fn apply(
    db: &impl ConnectionTrait,
    target: &Target<'_>,
    change: &StatusChange,
) -> Result<bool, StoreError> {
    let transition = change.transition;
    let to = transition.target();
    let at = to_millis(change.at());
    let mut update = connections::Entity::update_many()
        // Every right-hand side sees the old row, so this stamps only a change of status.
        .col_expr(
            Column::StatusAt,
            Expr::case(Column::Status.ne(to.as_str()), Expr::value(at))
                .finally(Expr::col(Column::StatusAt))
                .into(),
        )
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .col_expr(Column::StatusReason, Expr::value(change.reason.clone()))
        .col_expr(Column::UpdatedAt, Expr::value(at));
    let none = || Expr::value(Option::<String>::None);
    if transition.erasure() != Erasure::Nothing {
        update = update
            .col_expr(Column::AccessToken, none())
            .col_expr(Column::RefreshToken, none())
            .col_expr(Column::AccessExpiresAt, Expr::value(Option::<i64>::None))
            .col_expr(Column::AccessLifetimeSecs, Expr::value(Option::<i64>::None))
            .col_expr(Column::NextRefreshAt, Expr::value(Option::<i64>::None))
            .col_expr(Column::LeaseOwner, none())
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None));
    }
    if transition.erasure() == Erasure::Everything {
        update = update.col_expr(Column::ClientSecret, none());
    }
    let mut update = (target.with)(update)
        .filter(Column::Id.eq(target.id.as_uuid()))
        .filter(Column::Status.is_in(transition.sources().iter().map(|s| s.as_str())))
        .filter(target.also.clone());
    if let Some(workspace) = target.workspace {
        update = update.filter(Column::WorkspaceId.eq(workspace.as_uuid()));
    }
    let moved = update.exec(db).await.map_err(store_error)?.rows_affected == 1;
    if moved {
        let workspace = match target.workspace {
            Some(workspace) => Some(workspace),
            None => workspace_of(db, target.id).await?,
        };
        if let Some(workspace) = workspace {
            record(
                db,
                workspace,
                target.id,
                std::slice::from_ref(&change.event),
            )
            .await?;
        }
    }
    Ok(moved)
}

async fn workspace_of(
    db: &impl ConnectionTrait,
    id: ConnectionId,
) -> Result<Option<WorkspaceId>, StoreError> {
    Ok(connections::Entity::find_by_id(id.as_uuid())
        .select_only()
        .column(Column::WorkspaceId)
        .into_tuple::<uuid::Uuid>()
        .one(db)
        .await
        .map_err(store_error)?
        .map(WorkspaceId::from_uuid))
}

/// Writes the events' history rows and carries out their [`Effects`]: the tenant webhook's
/// outbox rows and the account's event subscription.
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
    connection: ConnectionId,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    connection_events::Entity::insert_many(events.iter().map(|event| {
        connection_events::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            connection_id: Set(connection.as_uuid()),
            workspace_id: Set(workspace.as_uuid()),
            kind: Set(event.kind.as_str().to_owned()),
            actor: Set(event.actor.to_string()),
            detail: Set(event.detail.clone()),
            at: Set(to_millis(event.at)),
        }
    }))
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    for event in events {
        let effects = Effects::of(event);
        if let Some(event_type) = effects.tenant_webhook {
            crate::webhooks::enqueue(db, workspace, connection, event, event_type).await?;
        }
        match effects.relay {
            RelayEffect::None => {}
            RelayEffect::Subscribe => {
                crate::relay::request_subscription(db, workspace, connection, event.at).await?;
            }
            RelayEffect::Unsubscribe => {
                crate::relay::end_subscription(db, connection, event.at).await?;
            }
        }
    }
    Ok(())
}
