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
    ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, sea_query::Expr,
};

use crate::{
    Database,
    database::store_error,
    entities::{
        connect_flows,
        connect_sessions::{self, Column},
    },
    stored::{corrupt, metadata},
    time::{from_millis, to_millis},
};

fn to_session(row: connect_sessions::Model) -> Result<ConnectSession, StoreError> {
    Ok(ConnectSession {
        id: ConnectSessionId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        button: ButtonId::from_uuid(row.button_id),
        end_user: EndUser {
            id: EndUserId::parse(&row.end_user_id)
                .map_err(|_| corrupt("connect session end user id"))?,
            metadata: metadata(row.metadata.as_deref(), "connect session metadata")?,
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

    async fn open_connect_session_count(
        &self,
        workspace: WorkspaceId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        connect_sessions::Entity::find()
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::ExpiresAt.gt(to_millis(now)))
            .count(&self.conn)
            .await
            .map_err(store_error)
    }

    async fn purge_connect_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = connect_sessions::Entity::delete_many()
            .filter(Column::ExpiresAt.lt(to_millis(before)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }

    async fn connect_session_completed(&self, id: ConnectSessionId) -> Result<bool, StoreError> {
        let Some(session) = connect_sessions::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(store_error)?
        else {
            return Ok(false);
        };
        let (Some(binding), Some(redeemed_at)) = (session.binding_hash, session.redeemed_at) else {
            return Ok(false);
        };
        // A flow this session started (same browser, button and end user, since it was
        // redeemed) that made a connection.
        let completed = connect_flows::Entity::find()
            .filter(connect_flows::Column::WorkspaceId.eq(session.workspace_id))
            .filter(connect_flows::Column::ButtonId.eq(session.button_id))
            .filter(connect_flows::Column::BindingHash.eq(binding))
            .filter(connect_flows::Column::EndUserId.eq(session.end_user_id))
            .filter(connect_flows::Column::CreatedAt.gte(redeemed_at))
            .filter(connect_flows::Column::ConnectionId.is_not_null())
            .count(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(completed > 0)
    }
}
