//! Connect sessions. Redemption is a conditional UPDATE, so the database decides which browser
//! gets a link.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    connect_sessions::{ConnectSession, ConnectSessionRepository, NewConnectSession},
    end_user::{EndUser, EndUserId, Metadata},
    ids::{ButtonId, ConnectSessionId, WorkspaceId},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _,
    sea_query::Expr,
};

use crate::{
    Database,
    database::store_error,
    entities::connect_sessions::{self, Column},
    time::{from_millis, to_millis},
};

fn to_session(row: connect_sessions::Model) -> Result<ConnectSession, StoreError> {
    let corrupt = |what: &str| {
        StoreError::Unavailable(anyhow::anyhow!(
            "stored connect session has an invalid {what}"
        ))
    };
    Ok(ConnectSession {
        id: ConnectSessionId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        button: ButtonId::from_uuid(row.button_id),
        end_user: EndUser {
            id: EndUserId::parse(&row.end_user_id).map_err(|_| corrupt("end user id"))?,
            metadata: row
                .metadata
                .as_deref()
                .map(Metadata::from_json)
                .transpose()
                .map_err(|_| corrupt("metadata"))?,
        },
        expires_at: from_millis(row.expires_at),
        binding_hash: row.binding_hash,
    })
}

#[async_trait]
impl ConnectSessionRepository for Database {
    async fn insert_connect_session(&self, session: &NewConnectSession) -> Result<(), StoreError> {
        connect_sessions::Entity::insert(connect_sessions::ActiveModel {
            id: Set(session.id.as_uuid()),
            workspace_id: Set(session.workspace.as_uuid()),
            button_id: Set(session.button.as_uuid()),
            token_hash: Set(session.token_hash.clone()),
            end_user_id: Set(session.end_user.id.as_str().to_owned()),
            metadata: Set(session.end_user.metadata.as_ref().map(Metadata::to_json)),
            binding_hash: Set(None),
            redeemed_at: Set(None),
            created_at: Set(to_millis(session.created_at)),
            expires_at: Set(to_millis(session.expires_at)),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn connect_session_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConnectSession>, StoreError> {
        connect_sessions::Entity::find()
            .filter(Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_session)
            .transpose()
    }

    async fn redeem_connect_session(
        &self,
        id: ConnectSessionId,
        binding_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = connect_sessions::Entity::update_many()
            .col_expr(Column::BindingHash, Expr::value(binding_hash))
            .col_expr(Column::RedeemedAt, Expr::value(to_millis(at)))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::ExpiresAt.gt(to_millis(at)))
            .filter(
                Condition::any()
                    .add(Column::BindingHash.is_null())
                    .add(Column::BindingHash.eq(binding_hash)),
            )
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn purge_connect_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = connect_sessions::Entity::delete_many()
            .filter(Column::ExpiresAt.lt(to_millis(before)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}
