//! Workspaces, users and the memberships that tie them together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    accounts::{Email, Member, NewAccount, Preferences, Role},
    ids::{UserId, WorkspaceId},
    ports::{AccountRepository, Credentials},
    teams::NewWorkspace,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, TransactionTrait as _,
};

use crate::{
    Database, buttons,
    database::store_error,
    entities::{memberships, users, workspaces},
    time::to_millis,
};

async fn insert_workspace(
    db: &impl ConnectionTrait,
    id: WorkspaceId,
    name: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    workspaces::Entity::insert(workspaces::ActiveModel {
        id: Set(id.as_uuid()),
        name: Set(name.to_owned()),
        created_at: Set(to_millis(at)),
        deleting_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn insert_user(
    db: &impl ConnectionTrait,
    id: UserId,
    email: &Email,
    password_hash: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    users::Entity::insert(users::ActiveModel {
        id: Set(id.as_uuid()),
        email: Set(email.as_str().to_owned()),
        password_hash: Set(password_hash.to_owned()),
        created_at: Set(to_millis(at)),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn insert_membership(
    db: &impl ConnectionTrait,
    user: UserId,
    workspace: WorkspaceId,
    role: Role,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    memberships::Entity::insert(memberships::ActiveModel {
        user_id: Set(user.as_uuid()),
        workspace_id: Set(workspace.as_uuid()),
        role: Set(role.as_str().to_owned()),
        created_at: Set(to_millis(at)),
    })
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl AccountRepository for Database {
    async fn create_account(
        &self,
        account: &NewAccount,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        insert_workspace(
            &txn,
            account.workspace_id,
            account.workspace_name.as_str(),
            at,
        )
        .await?;
        insert_user(
            &txn,
            account.user_id,
            &account.email,
            &account.password_hash,
            at,
        )
        .await?;
        insert_membership(&txn, account.user_id, account.workspace_id, Role::Owner, at).await?;
        buttons::insert(&txn, &account.default_button, at).await?;
        txn.commit().await.map_err(store_error)
    }

    async fn create_workspace(
        &self,
        workspace: &NewWorkspace,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        insert_workspace(&txn, workspace.id, workspace.name.as_str(), at).await?;
        insert_membership(&txn, workspace.owner, workspace.id, Role::Owner, at).await?;
        buttons::insert(&txn, &workspace.default_button, at).await?;
        txn.commit().await.map_err(store_error)
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let user = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(user.map(|u| Credentials {
            user_id: UserId::from_uuid(u.id),
            password_hash: u.password_hash,
        }))
    }

    async fn member(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<Option<Member>, StoreError> {
        let found = memberships::Entity::find_by_id((user.as_uuid(), workspace.as_uuid()))
            .find_also_related(workspaces::Entity)
            .filter(workspaces::Column::DeletingAt.is_null())
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        let Some((membership, Some(workspace))) = found else {
            return Ok(None);
        };
        self.to_member(membership, workspace).await
    }

    async fn first_member(&self, user: UserId) -> Result<Option<Member>, StoreError> {
        let found = memberships::Entity::find()
            .find_also_related(workspaces::Entity)
            .filter(memberships::Column::UserId.eq(user.as_uuid()))
            .filter(workspaces::Column::DeletingAt.is_null())
            .order_by_asc(memberships::Column::CreatedAt)
            .order_by_asc(memberships::Column::WorkspaceId)
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        let Some((membership, Some(workspace))) = found else {
            return Ok(None);
        };
        self.to_member(membership, workspace).await
    }

    async fn user_email(&self, user: UserId) -> Result<Option<Email>, StoreError> {
        users::Entity::find_by_id(user.as_uuid())
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|u| parse_email(&u.email))
            .transpose()
    }

    async fn preferences(&self, user: UserId) -> Result<Preferences, StoreError> {
        Ok(users::Entity::find_by_id(user.as_uuid())
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|u| Preferences::from_stored(u.language.as_deref(), u.time_zone.as_deref()))
            .unwrap_or_default())
    }

    async fn set_preferences(
        &self,
        user: UserId,
        preferences: &Preferences,
    ) -> Result<(), StoreError> {
        users::Entity::update_many()
            .col_expr(
                users::Column::Language,
                preferences.language.map(|l| l.as_str().to_owned()).into(),
            )
            .col_expr(
                users::Column::TimeZone,
                preferences
                    .time_zone
                    .as_ref()
                    .map(|z| z.as_str().to_owned())
                    .into(),
            )
            .filter(users::Column::Id.eq(user.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn set_password_hash(&self, user: UserId, hash: &str) -> Result<(), StoreError> {
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, hash.into())
            .filter(users::Column::Id.eq(user.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

impl Database {
    async fn to_member(
        &self,
        membership: memberships::Model,
        workspace: workspaces::Model,
    ) -> Result<Option<Member>, StoreError> {
        let Some(email) = self
            .user_email(UserId::from_uuid(membership.user_id))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Member {
            user_id: UserId::from_uuid(membership.user_id),
            workspace_id: WorkspaceId::from_uuid(workspace.id),
            email,
            role: parse_role(&membership.role)?,
            workspace_name: workspace.name,
        }))
    }
}

pub(crate) fn parse_email(raw: &str) -> Result<Email, StoreError> {
    Email::parse(raw)
        .map_err(|e| StoreError::Unavailable(anyhow::anyhow!("stored email invalid: {e}")))
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse()
        .map_err(|e| StoreError::Unavailable(anyhow::anyhow!("stored role invalid: {e}")))
}
