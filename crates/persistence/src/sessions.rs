//! Server-side web sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    ids::{UserId, WorkspaceId},
    ports::SessionRepository,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _, sea_query::Expr,
};

use sea_orm::ConnectionTrait;

use crate::{Database, database::store_error, entities::web_sessions, time::to_millis};

/// Ends a user's sessions in one workspace (they were removed from it).
pub(crate) async fn delete_in_workspace(
    db: &impl ConnectionTrait,
    user: UserId,
    workspace: WorkspaceId,
) -> Result<u64, StoreError> {
    let result = web_sessions::Entity::delete_many()
        .filter(web_sessions::Column::UserId.eq(user.as_uuid()))
        .filter(web_sessions::Column::WorkspaceId.eq(workspace.as_uuid()))
        .exec(db)
        .await
        .map_err(store_error)?;
    Ok(result.rows_affected)
}

#[async_trait]
impl SessionRepository for Database {
    async fn load(&self, key_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let row = web_sessions::Entity::find_by_id(key_hash.to_owned())
            .filter(web_sessions::Column::ExpiresAt.gt(to_millis(now)))
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(row.map(|r| r.state))
    }

    async fn insert(
        &self,
        key_hash: &str,
        state: &str,
        user: Option<UserId>,
        workspace: Option<WorkspaceId>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        web_sessions::Entity::insert(web_sessions::ActiveModel {
            key_hash: Set(key_hash.to_owned()),
            state: Set(state.to_owned()),
            user_id: Set(user.map(|u| u.as_uuid())),
            expires_at: Set(to_millis(expires_at)),
            workspace_id: Set(workspace.map(|w| w.as_uuid())),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn update(
        &self,
        key_hash: &str,
        state: &str,
        user: Option<UserId>,
        workspace: Option<WorkspaceId>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = web_sessions::Entity::update_many()
            .col_expr(web_sessions::Column::State, Expr::value(state))
            .col_expr(
                web_sessions::Column::UserId,
                Expr::value(user.map(|u| u.as_uuid())),
            )
            .col_expr(
                web_sessions::Column::WorkspaceId,
                Expr::value(workspace.map(|w| w.as_uuid())),
            )
            .col_expr(
                web_sessions::Column::ExpiresAt,
                Expr::value(to_millis(expires_at)),
            )
            .filter(web_sessions::Column::KeyHash.eq(key_hash))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected > 0)
    }

    async fn set_expiry(
        &self,
        key_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        web_sessions::Entity::update_many()
            .col_expr(
                web_sessions::Column::ExpiresAt,
                Expr::value(to_millis(expires_at)),
            )
            .filter(web_sessions::Column::KeyHash.eq(key_hash))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn delete(&self, key_hash: &str) -> Result<(), StoreError> {
        web_sessions::Entity::delete_by_id(key_hash.to_owned())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn delete_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        let result = web_sessions::Entity::delete_many()
            .filter(web_sessions::Column::UserId.eq(user.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = web_sessions::Entity::delete_many()
            .filter(web_sessions::Column::ExpiresAt.lte(to_millis(now)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}
