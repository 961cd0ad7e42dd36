use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connect_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub button_id: Uuid,
    /// SHA-256 hex of the URL token; the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub end_user_id: String,
    pub metadata: Option<String>,
    pub binding_hash: Option<String>,
    pub redeemed_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
