use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_sessions")]
pub struct Model {
    /// SHA-256 hex of the session key; the key itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    pub state: String,
    pub user_id: Option<Uuid>,
    pub expires_at: i64,
    /// The session's current workspace (mirrored from the state).
    pub workspace_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
