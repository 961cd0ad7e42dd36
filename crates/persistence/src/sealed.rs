//! Sealed (encrypted) columns, for key rotation.

use async_trait::async_trait;
use domain::{
    StoreError,
    ids::WorkspaceId,
    key_rotation::{SealedValue, SealedValues},
};
use sea_orm::{
    ColumnTrait as _, EntityTrait, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    Database,
    database::store_error,
    entities::{connect_flows, connections},
};

const CONNECTIONS: &str = "connections";
const FLOWS: &str = "connect_flows";

type ConnectionRow = (Uuid, Uuid, Option<String>, Option<String>, Option<String>);

#[async_trait]
impl SealedValues for Database {
    fn sealed_tables(&self) -> &'static [&'static str] {
        &[CONNECTIONS, FLOWS, crate::webhooks::SEALED_TABLE]
    }

    async fn sealed_after(
        &self,
        table: &'static str,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<SealedValue>, StoreError> {
        if table == crate::webhooks::SEALED_TABLE {
            return crate::webhooks::sealed_after(self, after, limit).await;
        }
        let mut values = Vec::new();
        if table == CONNECTIONS {
            use connections::Column as C;
            let mut query = connections::Entity::find()
                .select_only()
                .columns([
                    C::Id,
                    C::WorkspaceId,
                    C::ClientSecret,
                    C::AccessToken,
                    C::RefreshToken,
                ])
                .order_by_asc(C::Id)
                .limit(limit);
            if let Some(after) = after {
                query = query.filter(C::Id.gt(after));
            }
            let rows: Vec<ConnectionRow> = query
                .into_tuple()
                .all(&self.conn)
                .await
                .map_err(store_error)?;
            for (row, workspace, secret, access, refresh) in rows {
                for (column, binding_column, sealed) in [
                    ("client_secret", "connections.client_secret", secret),
                    ("access_token", "connections.access_token", access),
                    ("refresh_token", "connections.refresh_token", refresh),
                ] {
                    // A row with nothing sealed still marks the cursor position.
                    values.push(SealedValue {
                        table,
                        row,
                        workspace: WorkspaceId::from_uuid(workspace),
                        column,
                        binding_column,
                        sealed: sealed.unwrap_or_default(),
                    });
                }
            }
        } else {
            use connect_flows::Column as F;
            let mut query = connect_flows::Entity::find()
                .select_only()
                .columns([F::Id, F::WorkspaceId, F::ClientSecret])
                .order_by_asc(F::Id)
                .limit(limit);
            if let Some(after) = after {
                query = query.filter(F::Id.gt(after));
            }
            let rows: Vec<(Uuid, Uuid, Option<String>)> = query
                .into_tuple()
                .all(&self.conn)
                .await
                .map_err(store_error)?;
            for (row, workspace, secret) in rows {
                values.push(SealedValue {
                    table,
                    row,
                    workspace: WorkspaceId::from_uuid(workspace),
                    column: "client_secret",
                    binding_column: "connect_flows.client_secret",
                    sealed: secret.unwrap_or_default(),
                });
            }
        }
        Ok(values)
    }

    async fn replace_sealed(
        &self,
        value: &SealedValue,
        resealed: &str,
    ) -> Result<bool, StoreError> {
        if value.table == crate::webhooks::SEALED_TABLE {
            return crate::webhooks::replace_sealed(self, value, resealed).await;
        }
        let changed = if value.table == CONNECTIONS {
            replace::<connections::Entity>(
                self,
                connections::Column::Id,
                column_of(value)?,
                value,
                resealed,
            )
            .await?
        } else {
            replace::<connect_flows::Entity>(
                self,
                connect_flows::Column::Id,
                connect_flows::Column::ClientSecret,
                value,
                resealed,
            )
            .await?
        };
        Ok(changed)
    }
}

fn column_of(value: &SealedValue) -> Result<connections::Column, StoreError> {
    match value.column {
        "client_secret" => Ok(connections::Column::ClientSecret),
        "access_token" => Ok(connections::Column::AccessToken),
        "refresh_token" => Ok(connections::Column::RefreshToken),
        other => Err(StoreError::Unavailable(anyhow::anyhow!(
            "no sealed column {other}"
        ))),
    }
}

/// `UPDATE … SET col = resealed WHERE id = row AND col = old`: a compare-and-set.
async fn replace<E: EntityTrait>(
    db: &Database,
    id: E::Column,
    column: E::Column,
    value: &SealedValue,
    resealed: &str,
) -> Result<bool, StoreError> {
    let result = E::update_many()
        .col_expr(column, Expr::value(resealed))
        .filter(id.eq(value.row))
        .filter(column.eq(value.sealed.as_str()))
        .exec(&db.conn)
        .await
        .map_err(store_error)?;
    Ok(result.rows_affected == 1)
}
