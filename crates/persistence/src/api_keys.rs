//! API keys. Every query is filtered by workspace except the lookup by hash, which is how a
//! request's workspace is found in the first place.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    api_keys::{ApiKey, ApiKeyRepository, ApiScopes, NewApiKey, StoredApiKey},
    ids::{ApiKeyId, WorkspaceId},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, sea_query::Expr,
};

use crate::{
    Database,
    database::store_error,
    entities::api_keys::{self, Column},
    time::{from_millis, to_millis},
};

fn to_key(row: &api_keys::Model) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        name: row.name.clone(),
        scopes: ApiScopes::from_list(&row.scopes).map_err(|_| {
            StoreError::Unavailable(anyhow::anyhow!("stored API key has invalid scopes"))
        })?,
        prefix: row.prefix.clone(),
        created_at: from_millis(row.created_at),
        last_used_at: row.last_used_at.map(from_millis),
        revoked_at: row.revoked_at.map(from_millis),
    })
}

#[async_trait]
impl ApiKeyRepository for Database {
    async fn insert_api_key(&self, new: &NewApiKey) -> Result<(), StoreError> {
        let key = &new.key;
        api_keys::Entity::insert(api_keys::ActiveModel {
            id: Set(key.id.as_uuid()),
            workspace_id: Set(key.workspace.as_uuid()),
            name: Set(key.name.clone()),
            scopes: Set(key.scopes.to_list()),
            prefix: Set(key.prefix.clone()),
            key_hash: Set(new.key_hash.clone()),
            hash_key_id: Set(new.hash_key_id.clone()),
            created_at: Set(to_millis(key.created_at)),
            last_used_at: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
        api_keys::Entity::find()
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .iter()
            .map(to_key)
            .collect()
    }

    async fn active_api_key_count(&self, workspace: WorkspaceId) -> Result<u64, StoreError> {
        api_keys::Entity::find()
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::RevokedAt.is_null())
            .count(&self.conn)
            .await
            .map_err(store_error)
    }

    async fn api_key_by_hash(&self, hashes: &[String]) -> Result<Option<StoredApiKey>, StoreError> {
        if hashes.is_empty() {
            return Ok(None);
        }
        api_keys::Entity::find()
            .filter(Column::KeyHash.is_in(hashes.iter().map(String::as_str)))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|row| {
                Ok(StoredApiKey {
                    key: to_key(&row)?,
                    key_hash: row.key_hash,
                })
            })
            .transpose()
    }

    async fn revoke_api_key(
        &self,
        workspace: WorkspaceId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = api_keys::Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(to_millis(at)))
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn touch_api_key(
        &self,
        id: ApiKeyId,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        api_keys::Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(to_millis(at)))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(
                Condition::any()
                    .add(Column::LastUsedAt.is_null())
                    .add(Column::LastUsedAt.lte(to_millis(stale_before))),
            )
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn rehash_api_key(
        &self,
        id: ApiKeyId,
        old_hash: &str,
        new_hash: &str,
        hash_key_id: &str,
    ) -> Result<(), StoreError> {
        api_keys::Entity::update_many()
            .col_expr(Column::KeyHash, Expr::value(new_hash))
            .col_expr(Column::HashKeyId, Expr::value(hash_key_id))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::KeyHash.eq(old_hash))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
