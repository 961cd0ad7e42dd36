//! Connect buttons.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    connect::{Button, ButtonColor, ButtonKey, ButtonSettings, Scope},
    ids::{ButtonId, WorkspaceId},
    ports::ButtonRepository,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, TransactionTrait as _, sea_query::Expr,
};

use crate::{
    Database,
    database::store_error,
    entities::{connect_buttons, connect_sessions},
    stored::{corrupt, parse},
    time::to_millis,
};

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    button: &Button,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let s = &button.settings;
    connect_buttons::Entity::insert(connect_buttons::ActiveModel {
        id: Set(button.id.as_uuid()),
        workspace_id: Set(button.workspace.as_uuid()),
        key: Set(button.key.as_str().to_owned()),
        platform: Set(s.platform.to_string()),
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        logo_url: Set(s.logo_url.to_string()),
        scopes: Set(s.scopes_attribute()),
        title: Set(s.title.clone()),
        color: Set(s.color.as_str().to_owned()),
        compact: Set(s.compact),
        mode: Set(s.mode.as_str().to_owned()),
        created_at: Set(to_millis(at)),
    })
    .exec_without_returning(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

fn to_button(row: connect_buttons::Model) -> Result<Button, StoreError> {
    let platform = parse(&row.platform, "connect button platform")?;
    let scopes = row
        .scopes
        .split(',')
        .map(|s| match s {
            "crm" => Ok(Scope::Crm),
            "notifications" => Ok(Scope::Notifications),
            _ => Err(corrupt("connect button scope")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Button {
        id: ButtonId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        key: ButtonKey::parse(&row.key).map_err(|_| corrupt("connect button key"))?,
        settings: ButtonSettings {
            platform,
            name: row.name,
            description: row.description,
            logo_url: parse(&row.logo_url, "connect button logo")?,
            scopes,
            title: row.title,
            color: ButtonColor::parse(platform, &row.color)
                .map_err(|_| corrupt("connect button color"))?,
            compact: row.compact,
            mode: parse(&row.mode, "connect button mode")?,
        },
    })
}

#[async_trait]
impl ButtonRepository for Database {
    async fn buttons(&self, workspace: WorkspaceId) -> Result<Vec<Button>, StoreError> {
        connect_buttons::Entity::find()
            .filter(connect_buttons::Column::WorkspaceId.eq(workspace.as_uuid()))
            .order_by_asc(connect_buttons::Column::CreatedAt)
            .order_by_asc(connect_buttons::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(to_button)
            .collect()
    }

    async fn button_by_key(&self, key: &ButtonKey) -> Result<Option<Button>, StoreError> {
        connect_buttons::Entity::find()
            .filter(connect_buttons::Column::Key.eq(key.as_str()))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_button)
            .transpose()
    }

    async fn insert_button(&self, button: &Button, at: DateTime<Utc>) -> Result<(), StoreError> {
        insert(&self.conn, button, at).await
    }

    async fn update_button(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
        settings: &ButtonSettings,
    ) -> Result<bool, StoreError> {
        use connect_buttons::Column as C;
        let s = settings;
        let result = connect_buttons::Entity::update_many()
            .col_expr(C::Platform, Expr::value(s.platform.to_string()))
            .col_expr(C::Name, Expr::value(s.name.clone()))
            .col_expr(C::Description, Expr::value(s.description.clone()))
            .col_expr(C::LogoUrl, Expr::value(s.logo_url.to_string()))
            .col_expr(C::Scopes, Expr::value(s.scopes_attribute()))
            .col_expr(C::Title, Expr::value(s.title.clone()))
            .col_expr(C::Color, Expr::value(s.color.as_str()))
            .col_expr(C::Compact, Expr::value(s.compact))
            .col_expr(C::Mode, Expr::value(s.mode.as_str()))
            .filter(C::Id.eq(id.as_uuid()))
            .filter(C::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete_button(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        // The foreign key cascades too; said here so SQLite without enforced keys agrees.
        connect_sessions::Entity::delete_many()
            .filter(connect_sessions::Column::ButtonId.eq(id.as_uuid()))
            .filter(connect_sessions::Column::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let result = connect_buttons::Entity::delete_many()
            .filter(connect_buttons::Column::Id.eq(id.as_uuid()))
            .filter(connect_buttons::Column::WorkspaceId.eq(workspace.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }
}
