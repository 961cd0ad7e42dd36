//! Workspaces and users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    accounts::{Email, Member, NewAccount, Role},
    ids::{UserId, WorkspaceId},
    ports::{AccountRepository, Credentials},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, QueryFilter as _,
    TransactionTrait as _,
};

use crate::{
    Database, buttons,
    database::store_error,
    entities::{users, workspaces},
    time::to_millis,
};

#[async_trait]
impl AccountRepository for Database {
    async fn create_account(
        &self,
        account: &NewAccount,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        workspaces::Entity::insert(workspaces::ActiveModel {
            id: Set(account.workspace_id.as_uuid()),
            name: Set(account.workspace_name.as_str().to_owned()),
            created_at: Set(to_millis(at)),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        users::Entity::insert(users::ActiveModel {
            id: Set(account.user_id.as_uuid()),
            workspace_id: Set(account.workspace_id.as_uuid()),
            email: Set(account.email.as_str().to_owned()),
            password_hash: Set(account.password_hash.clone()),
            role: Set(Role::Owner.as_str().to_owned()),
            created_at: Set(to_millis(at)),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        buttons::insert(&txn, &account.default_button, at).await?;
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

    async fn member(&self, user: UserId) -> Result<Option<Member>, StoreError> {
        let found = users::Entity::find_by_id(user.as_uuid())
            .find_also_related(workspaces::Entity)
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        let Some((user, Some(workspace))) = found else {
            return Ok(None);
        };
        Ok(Some(to_member(user, workspace)?))
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

    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<(Email, Role)>, StoreError> {
        let rows = users::Entity::find()
            .filter(users::Column::WorkspaceId.eq(workspace.as_uuid()))
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        rows.into_iter()
            .map(|u| Ok((parse_email(&u.email)?, parse_role(&u.role)?)))
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

fn to_member(user: users::Model, workspace: workspaces::Model) -> Result<Member, StoreError> {
    Ok(Member {
        user_id: UserId::from_uuid(user.id),
        workspace_id: WorkspaceId::from_uuid(user.workspace_id),
        email: parse_email(&user.email)?,
        role: parse_role(&user.role)?,
        workspace_name: workspace.name,
    })
}

fn parse_email(raw: &str) -> Result<Email, StoreError> {
    Email::parse(raw)
        .map_err(|e| StoreError::Unavailable(anyhow::anyhow!("stored email invalid: {e}")))
}

fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse()
        .map_err(|e| StoreError::Unavailable(anyhow::anyhow!("stored role invalid: {e}")))
}
