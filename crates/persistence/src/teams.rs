//! Memberships, invitations, password-reset links and workspace deletion.
//!
//! Membership changes that could leave a workspace without an owner first take a write lock on
//! the workspace's row (a no-op `UPDATE`), then change, then count the owners left and roll back
//! when there are none. Two owners demoting each other at the same moment are thereby serialised
//! on both engines (PostgreSQL row lock; SQLite's single writer), so the second one sees the
//! first's change and is refused.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    accounts::{PasswordResetStore, Role},
    connections::ConnectionStatus,
    ids::{ConnectionId, InviteId, UserId, WorkspaceId},
    teams::{
        Acceptance, InviteRecord, Membership, MembershipChange, NewInvite, NewUser, TeamStore,
        Teammate, WorkspaceDeletionStore,
    },
    webhooks::DeliveryStatus,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    TransactionTrait as _,
    sea_query::{Alias, Expr, ExprTrait as _, Query},
};
use uuid::Uuid;

use crate::{
    Database,
    accounts::{insert_membership, insert_user, parse_email, parse_role},
    database::store_error,
    entities::{
        api_keys, audit_events, connect_buttons, connect_flows, connect_sessions,
        connection_activity, connection_events, connections, invites, mail_outbox, memberships,
        password_resets, users, web_sessions, webhook_deliveries, webhook_endpoints,
        webhook_messages, workspaces,
    },
    sessions,
    time::{from_millis, to_millis},
};

/// Takes the workspace row's write lock for the rest of the transaction.
async fn lock_workspace(
    txn: &DatabaseTransaction,
    workspace: WorkspaceId,
) -> Result<(), StoreError> {
    workspaces::Entity::update_many()
        .col_expr(
            workspaces::Column::Name,
            Expr::col(workspaces::Column::Name),
        )
        .filter(workspaces::Column::Id.eq(workspace.as_uuid()))
        .exec(txn)
        .await
        .map_err(store_error)?;
    Ok(())
}

async fn owners(db: &impl ConnectionTrait, workspace: WorkspaceId) -> Result<u64, StoreError> {
    memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace.as_uuid()))
        .filter(memberships::Column::Role.eq(Role::Owner.as_str()))
        .count(db)
        .await
        .map_err(store_error)
}

async fn membership(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
    user: UserId,
) -> Result<Option<memberships::Model>, StoreError> {
    memberships::Entity::find_by_id((user.as_uuid(), workspace.as_uuid()))
        .one(db)
        .await
        .map_err(store_error)
}

async fn update_role(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
    user: UserId,
    role: Role,
) -> Result<(), StoreError> {
    memberships::Entity::update_many()
        .col_expr(memberships::Column::Role, Expr::value(role.as_str()))
        .filter(memberships::Column::UserId.eq(user.as_uuid()))
        .filter(memberships::Column::WorkspaceId.eq(workspace.as_uuid()))
        .exec(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Commits when the workspace still has an owner, rolls back otherwise.
async fn commit_if_owned(
    txn: DatabaseTransaction,
    workspace: WorkspaceId,
) -> Result<MembershipChange, StoreError> {
    if owners(&txn, workspace).await? == 0 {
        txn.rollback().await.map_err(store_error)?;
        return Ok(MembershipChange::LastOwner);
    }
    txn.commit().await.map_err(store_error)?;
    Ok(MembershipChange::Done)
}

fn to_invite(row: invites::Model, workspace_name: String) -> Result<InviteRecord, StoreError> {
    Ok(InviteRecord {
        id: InviteId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        workspace_name,
        email: parse_email(&row.email)?,
        role: parse_role(&row.role)?,
        invited_by: row.invited_by.map(UserId::from_uuid),
        invited_by_email: row.invited_by_email,
        created_at: from_millis(row.created_at),
        expires_at: from_millis(row.expires_at),
        accepted_at: row.accepted_at.map(from_millis),
        revoked_at: row.revoked_at.map(from_millis),
    })
}

/// Marks a live invitation accepted; answers whether this call did.
async fn claim_invite(
    txn: &DatabaseTransaction,
    invite: &InviteRecord,
    user: UserId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = invites::Entity::update_many()
        .col_expr(invites::Column::AcceptedAt, Expr::value(to_millis(at)))
        .col_expr(invites::Column::AcceptedBy, Expr::value(user.as_uuid()))
        .filter(invites::Column::Id.eq(invite.id.as_uuid()))
        .filter(invites::Column::AcceptedAt.is_null())
        .filter(invites::Column::RevokedAt.is_null())
        .filter(invites::Column::ExpiresAt.gt(to_millis(at)))
        .exec(txn)
        .await
        .map_err(store_error)?;
    Ok(result.rows_affected == 1)
}

impl Database {
    async fn workspace_name(&self, workspace: WorkspaceId) -> Result<Option<String>, StoreError> {
        Ok(workspaces::Entity::find_by_id(workspace.as_uuid())
            .filter(workspaces::Column::DeletingAt.is_null())
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|w| w.name))
    }
}

#[async_trait]
impl TeamStore for Database {
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        memberships::Entity::find()
            .find_also_related(workspaces::Entity)
            .filter(memberships::Column::UserId.eq(user.as_uuid()))
            .filter(workspaces::Column::DeletingAt.is_null())
            .order_by_asc(memberships::Column::CreatedAt)
            .order_by_asc(memberships::Column::WorkspaceId)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter_map(|(m, w)| w.map(|w| (m, w)))
            .map(|(m, w)| {
                Ok(Membership {
                    workspace: WorkspaceId::from_uuid(w.id),
                    workspace_name: w.name,
                    role: parse_role(&m.role)?,
                })
            })
            .collect()
    }

    async fn teammates(&self, workspace: WorkspaceId) -> Result<Vec<Teammate>, StoreError> {
        let mut mates = memberships::Entity::find()
            .find_also_related(users::Entity)
            .filter(memberships::Column::WorkspaceId.eq(workspace.as_uuid()))
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter_map(|(m, u)| u.map(|u| (m, u)))
            .map(|(m, u)| {
                Ok(Teammate {
                    user: UserId::from_uuid(u.id),
                    email: parse_email(&u.email)?,
                    role: parse_role(&m.role)?,
                    joined_at: from_millis(m.created_at),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        mates.sort_by(|a, b| {
            let rank = |r: Role| Role::ALL.iter().position(|x| *x == r);
            rank(a.role)
                .cmp(&rank(b.role))
                .then_with(|| a.email.as_str().cmp(b.email.as_str()))
        });
        Ok(mates)
    }

    async fn set_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
    ) -> Result<MembershipChange, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        lock_workspace(&txn, workspace).await?;
        if membership(&txn, workspace, user).await?.is_none() {
            return Ok(MembershipChange::NotAMember);
        }
        update_role(&txn, workspace, user, role).await?;
        commit_if_owned(txn, workspace).await
    }

    async fn transfer_ownership(
        &self,
        workspace: WorkspaceId,
        from: UserId,
        to: UserId,
    ) -> Result<MembershipChange, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        lock_workspace(&txn, workspace).await?;
        let giver = membership(&txn, workspace, from).await?;
        let taker = membership(&txn, workspace, to).await?;
        if giver.is_none_or(|m| m.role != Role::Owner.as_str()) || taker.is_none() {
            return Ok(MembershipChange::NotAMember);
        }
        update_role(&txn, workspace, to, Role::Owner).await?;
        update_role(&txn, workspace, from, Role::Admin).await?;
        commit_if_owned(txn, workspace).await
    }

    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<MembershipChange, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        lock_workspace(&txn, workspace).await?;
        if membership(&txn, workspace, user).await?.is_none() {
            return Ok(MembershipChange::NotAMember);
        }
        memberships::Entity::delete_by_id((user.as_uuid(), workspace.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        sessions::delete_in_workspace(&txn, user, workspace).await?;
        commit_if_owned(txn, workspace).await
    }

    async fn insert_invite(&self, invite: &NewInvite) -> Result<(), StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        invites::Entity::update_many()
            .col_expr(
                invites::Column::RevokedAt,
                Expr::value(to_millis(invite.created_at)),
            )
            .filter(invites::Column::WorkspaceId.eq(invite.workspace.as_uuid()))
            .filter(invites::Column::Email.eq(invite.email.as_str()))
            .filter(invites::Column::AcceptedAt.is_null())
            .filter(invites::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        invites::Entity::insert(invites::ActiveModel {
            id: Set(invite.id.as_uuid()),
            workspace_id: Set(invite.workspace.as_uuid()),
            email: Set(invite.email.as_str().to_owned()),
            role: Set(invite.role.as_str().to_owned()),
            token_hash: Set(invite.token_hash.clone()),
            invited_by: Set(Some(invite.invited_by.as_uuid())),
            invited_by_email: Set(invite.invited_by_email.clone()),
            created_at: Set(to_millis(invite.created_at)),
            expires_at: Set(to_millis(invite.expires_at)),
            accepted_at: Set(None),
            accepted_by: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    async fn invites(&self, workspace: WorkspaceId) -> Result<Vec<InviteRecord>, StoreError> {
        let Some(name) = self.workspace_name(workspace).await? else {
            return Ok(Vec::new());
        };
        invites::Entity::find()
            .filter(invites::Column::WorkspaceId.eq(workspace.as_uuid()))
            .order_by_desc(invites::Column::CreatedAt)
            .order_by_desc(invites::Column::Id)
            .limit(200)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|row| to_invite(row, name.clone()))
            .collect()
    }

    async fn invite_by_token(&self, token_hash: &str) -> Result<Option<InviteRecord>, StoreError> {
        let Some(row) = invites::Entity::find()
            .filter(invites::Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let Some(name) = self
            .workspace_name(WorkspaceId::from_uuid(row.workspace_id))
            .await?
        else {
            return Ok(None);
        };
        to_invite(row, name).map(Some)
    }

    async fn revoke_invite(
        &self,
        workspace: WorkspaceId,
        id: InviteId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = invites::Entity::update_many()
            .col_expr(invites::Column::RevokedAt, Expr::value(to_millis(at)))
            .filter(invites::Column::Id.eq(id.as_uuid()))
            .filter(invites::Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(invites::Column::AcceptedAt.is_null())
            .filter(invites::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn accept_invite(
        &self,
        invite: &InviteRecord,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Acceptance, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        lock_workspace(&txn, invite.workspace).await?;
        if membership(&txn, invite.workspace, user).await?.is_some() {
            return Ok(Acceptance::AlreadyMember);
        }
        if !claim_invite(&txn, invite, user, at).await? {
            return Ok(Acceptance::Gone);
        }
        insert_membership(&txn, user, invite.workspace, invite.role, at).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(Acceptance::Joined)
    }

    async fn accept_invite_as_new_user(
        &self,
        invite: &InviteRecord,
        user: &NewUser,
        at: DateTime<Utc>,
    ) -> Result<Acceptance, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        lock_workspace(&txn, invite.workspace).await?;
        if !claim_invite(&txn, invite, user.id, at).await? {
            return Ok(Acceptance::Gone);
        }
        insert_user(&txn, user.id, &user.email, &user.password_hash, at).await?;
        insert_membership(&txn, user.id, invite.workspace, invite.role, at).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(Acceptance::Joined)
    }

    async fn purge_invites(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let result = invites::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(invites::Column::ExpiresAt.lt(before))
                    .add(invites::Column::AcceptedAt.lt(before))
                    .add(invites::Column::RevokedAt.lt(before)),
            )
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}

#[async_trait]
impl PasswordResetStore for Database {
    async fn insert_reset(
        &self,
        token_hash: &str,
        user: UserId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        password_resets::Entity::insert(password_resets::ActiveModel {
            token_hash: Set(token_hash.to_owned()),
            user_id: Set(user.as_uuid()),
            created_at: Set(to_millis(at)),
            expires_at: Set(to_millis(expires_at)),
            used_at: Set(None),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn live_reset(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        Ok(password_resets::Entity::find_by_id(token_hash.to_owned())
            .filter(password_resets::Column::UsedAt.is_null())
            .filter(password_resets::Column::ExpiresAt.gt(to_millis(now)))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|r| UserId::from_uuid(r.user_id)))
    }

    async fn use_reset(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let Some(row) = password_resets::Entity::find_by_id(token_hash.to_owned())
            .one(&txn)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let used = password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(to_millis(now)))
            .filter(password_resets::Column::TokenHash.eq(token_hash))
            .filter(password_resets::Column::UsedAt.is_null())
            .filter(password_resets::Column::ExpiresAt.gt(to_millis(now)))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if used.rows_affected != 1 {
            return Ok(None);
        }
        // Every other link of the user dies with this one.
        password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(to_millis(now)))
            .filter(password_resets::Column::UserId.eq(row.user_id))
            .filter(password_resets::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(Some(UserId::from_uuid(row.user_id)))
    }

    async fn purge_resets(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = password_resets::Entity::delete_many()
            .filter(password_resets::Column::ExpiresAt.lt(to_millis(before)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}

/// `column IN (SELECT id FROM connections WHERE workspace_id = ?)`, for the tables that belong
/// to a workspace only through its connections.
fn of_workspace_connections(column: &str, workspace: WorkspaceId) -> Expr {
    Expr::col(Alias::new(column)).in_subquery(
        Query::select()
            .column(connections::Column::Id)
            .from(connections::Entity)
            .and_where(connections::Column::WorkspaceId.eq(workspace.as_uuid()))
            .to_owned(),
    )
}

/// Deletes the rate governor's ledger rows of the workspace's amoCRM integrations: those of its
/// connections and of its connect flows (an integration exists from the secrets webhook on). An
/// integration belongs to exactly one workspace: amoCRM creates one per installation.
async fn delete_ledgers(
    txn: &DatabaseTransaction,
    workspace: WorkspaceId,
) -> Result<(), StoreError> {
    let integrations_of = |column: Alias, table: Alias| {
        Query::select()
            .column(column)
            .from(table)
            .and_where(Expr::col(Alias::new("workspace_id")).eq(workspace.as_uuid()))
            .and_where(Expr::col(Alias::new("client_id")).is_not_null())
            .to_owned()
    };
    for table in ["connections", "connect_flows"] {
        txn.execute(
            Query::delete()
                .from_table(Alias::new("integration_rate_limits"))
                .and_where(
                    Expr::col(Alias::new("integration"))
                        .in_subquery(integrations_of(Alias::new("client_id"), Alias::new(table))),
                ),
        )
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

#[async_trait]
impl WorkspaceDeletionStore for Database {
    async fn begin_deletion(
        &self,
        workspace: WorkspaceId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let marked = workspaces::Entity::update_many()
            .col_expr(workspaces::Column::DeletingAt, Expr::value(to_millis(at)))
            .filter(workspaces::Column::Id.eq(workspace.as_uuid()))
            .filter(workspaces::Column::DeletingAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if marked.rows_affected != 1 {
            return Ok(false);
        }
        let id = workspace.as_uuid();
        memberships::Entity::delete_many()
            .filter(memberships::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        invites::Entity::delete_many()
            .filter(invites::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        web_sessions::Entity::delete_many()
            .filter(web_sessions::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        api_keys::Entity::delete_many()
            .filter(api_keys::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        connect_sessions::Entity::delete_many()
            .filter(connect_sessions::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        // Flows go now (no connect flow may finish any more); so do their integrations' ledgers.
        delete_ledgers(&txn, workspace).await?;
        connect_flows::Entity::delete_many()
            .filter(connect_flows::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        connect_buttons::Entity::delete_many()
            .filter(connect_buttons::Column::WorkspaceId.eq(id))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn unrevoked_connections(
        &self,
        workspace: WorkspaceId,
        limit: u64,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        let ids: Vec<Uuid> = connections::Entity::find()
            .select_only()
            .column(connections::Column::Id)
            .filter(connections::Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(connections::Column::Status.ne(ConnectionStatus::Revoked.as_str()))
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(ids.into_iter().map(ConnectionId::from_uuid).collect())
    }

    async fn deleting_workspaces(&self) -> Result<Vec<(WorkspaceId, DateTime<Utc>)>, StoreError> {
        Ok(workspaces::Entity::find()
            .filter(workspaces::Column::DeletingAt.is_not_null())
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|w| {
                (
                    WorkspaceId::from_uuid(w.id),
                    from_millis(w.deleting_at.unwrap_or_default()),
                )
            })
            .collect())
    }

    async fn pending_deliveries(&self, workspace: WorkspaceId) -> Result<u64, StoreError> {
        // Deliveries to a disabled endpoint wait for it to be enabled, which can no longer
        // happen: they do not hold the deletion up.
        webhook_deliveries::Entity::find()
            .filter(webhook_deliveries::Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(
                webhook_deliveries::Column::EndpointId.in_subquery(
                    Query::select()
                        .column(webhook_endpoints::Column::Id)
                        .from(webhook_endpoints::Entity)
                        .and_where(webhook_endpoints::Column::WorkspaceId.eq(workspace.as_uuid()))
                        .and_where(webhook_endpoints::Column::Enabled.eq(true))
                        .to_owned(),
                ),
            )
            .count(&self.conn)
            .await
            .map_err(store_error)
    }

    async fn purge_workspace(&self, workspace: WorkspaceId) -> Result<(), StoreError> {
        let id = workspace.as_uuid();
        let txn = self.conn.begin().await.map_err(store_error)?;
        txn.execute(
            Query::delete()
                .from_table(Alias::new("refresh_attempts"))
                .and_where(of_workspace_connections("connection_id", workspace)),
        )
        .await
        .map_err(store_error)?;
        delete_ledgers(&txn, workspace).await?;
        macro_rules! delete_where_workspace {
            ($($entity:ident),+) => {
                $(
                    $entity::Entity::delete_many()
                        .filter($entity::Column::WorkspaceId.eq(id))
                        .exec(&txn)
                        .await
                        .map_err(store_error)?;
                )+
            };
        }
        delete_where_workspace!(
            connection_activity,
            connection_events,
            webhook_deliveries,
            webhook_messages,
            webhook_endpoints,
            connections,
            connect_sessions,
            connect_flows,
            connect_buttons,
            api_keys,
            invites,
            memberships,
            web_sessions,
            audit_events,
            mail_outbox
        );
        workspaces::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }
}
