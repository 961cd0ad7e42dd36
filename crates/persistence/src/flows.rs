//! Connect flows. Every transition is a conditional UPDATE, so the database decides races.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    connect::{Flow, FlowOutcome, FlowStatus, NewFlow},
    end_user::Metadata,
    ids::{ButtonId, ConnectionId, FlowId, WorkspaceId},
    ports::FlowRepository,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _, sea_query::Expr,
};

use crate::{
    Database,
    database::store_error,
    entities::connect_flows::{self, Column},
    stored::{metadata, parse},
    time::{from_millis, to_millis},
};

fn to_flow(row: connect_flows::Model) -> Result<Flow, StoreError> {
    Ok(Flow {
        id: FlowId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        button: ButtonId::from_uuid(row.button_id),
        platform: parse(&row.platform, "flow platform")?,
        binding_hash: row.binding_hash,
        status: parse(&row.status, "flow status")?,
        client_id: row.client_id,
        client_secret: row.client_secret,
        secrets_at: row.secrets_at.map(from_millis),
        connection: row.connection_id.map(ConnectionId::from_uuid),
        failure: row.failure,
        end_user_id: row.end_user_id,
        metadata: metadata(row.metadata.as_deref(), "flow metadata")?,
        expires_at: from_millis(row.expires_at),
    })
}

#[async_trait]
impl FlowRepository for Database {
    async fn insert_flow(&self, flow: &NewFlow) -> Result<(), StoreError> {
        connect_flows::Entity::insert(connect_flows::ActiveModel {
            id: Set(flow.id.as_uuid()),
            workspace_id: Set(flow.workspace.as_uuid()),
            button_id: Set(flow.button.as_uuid()),
            state_hash: Set(flow.state_hash.clone()),
            binding_hash: Set(flow.binding_hash.clone()),
            platform: Set(flow.platform.to_string()),
            status: Set(FlowStatus::Pending.as_str().to_owned()),
            client_id: Set(None),
            client_secret: Set(None),
            secrets_at: Set(None),
            claimed_at: Set(None),
            connection_id: Set(None),
            failure: Set(None),
            end_user_id: Set(flow.end_user_id.clone()),
            metadata: Set(flow.metadata.as_ref().map(Metadata::to_json)),
            created_at: Set(to_millis(flow.created_at)),
            expires_at: Set(to_millis(flow.expires_at)),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn flow_by_state(&self, state_hash: &str) -> Result<Option<Flow>, StoreError> {
        connect_flows::Entity::find()
            .filter(Column::StateHash.eq(state_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_flow)
            .transpose()
    }

    async fn flow(&self, id: FlowId) -> Result<Option<Flow>, StoreError> {
        connect_flows::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_flow)
            .transpose()
    }

    async fn attach_secrets(
        &self,
        id: FlowId,
        client_id: &str,
        sealed_secret: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = connect_flows::Entity::update_many()
            .col_expr(Column::ClientId, Expr::value(client_id))
            .col_expr(Column::ClientSecret, Expr::value(sealed_secret))
            .col_expr(Column::SecretsAt, Expr::value(to_millis(at)))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::ClientId.is_null())
            .filter(
                Column::Status.is_in([FlowStatus::Pending.as_str(), FlowStatus::Claimed.as_str()]),
            )
            .filter(Column::ExpiresAt.gt(to_millis(at)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn claim_flow(&self, id: FlowId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = connect_flows::Entity::update_many()
            .col_expr(Column::Status, Expr::value(FlowStatus::Claimed.as_str()))
            .col_expr(Column::ClaimedAt, Expr::value(to_millis(at)))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::Status.eq(FlowStatus::Pending.as_str()))
            .filter(Column::ExpiresAt.gt(to_millis(at)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn finish_flow(&self, id: FlowId, outcome: &FlowOutcome) -> Result<(), StoreError> {
        let (status, connection, failure) = match outcome {
            FlowOutcome::Completed(connection) => {
                (FlowStatus::Completed, Some(connection.as_uuid()), None)
            }
            FlowOutcome::Failed(reason) => (FlowStatus::Failed, None, Some(*reason)),
        };
        connect_flows::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(Column::ConnectionId, Expr::value(connection))
            .col_expr(Column::Failure, Expr::value(failure))
            .col_expr(Column::ClientSecret, Expr::value(Option::<String>::None))
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn purge_flows(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = connect_flows::Entity::delete_many()
            .filter(Column::ExpiresAt.lt(to_millis(before)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}
