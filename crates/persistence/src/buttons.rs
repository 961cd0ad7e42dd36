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
    QueryOrder as _,
};

use crate::{Database, database::store_error, entities::connect_buttons, time::to_millis};

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

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "stored connect button has an invalid {what}"
    ))
}

fn to_button(row: connect_buttons::Model) -> Result<Button, StoreError> {
    let platform = row.platform.parse().map_err(|_| corrupt("platform"))?;
    let scopes = row
        .scopes
        .split(',')
        .map(|s| match s {
            "crm" => Ok(Scope::Crm),
            "notifications" => Ok(Scope::Notifications),
            _ => Err(corrupt("scope")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Button {
        id: ButtonId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        key: ButtonKey::parse(&row.key).map_err(|_| corrupt("key"))?,
        settings: ButtonSettings {
            platform,
            name: row.name,
            description: row.description,
            logo_url: row.logo_url.parse().map_err(|_| corrupt("logo"))?,
            scopes,
            title: row.title,
            color: ButtonColor::parse(platform, &row.color).map_err(|_| corrupt("color"))?,
            compact: row.compact,
            mode: row.mode.parse().map_err(|_| corrupt("mode"))?,
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
}
