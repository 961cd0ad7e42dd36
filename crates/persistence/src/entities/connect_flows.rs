use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connect_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub button_id: Uuid,
    /// SHA-256 hex of the OAuth `state`; the state itself is never stored.
    #[sea_orm(unique)]
    pub state_hash: String,
    /// SHA-256 hex of the browser-binding cookie.
    pub binding_hash: String,
    pub platform: String,
    pub status: String,
    pub client_id: Option<String>,
    /// Sealed (AEAD) client secret, erased when the flow ends.
    pub client_secret: Option<String>,
    pub secrets_at: Option<i64>,
    pub claimed_at: Option<i64>,
    pub connection_id: Option<Uuid>,
    pub failure: Option<String>,
    pub end_user_id: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
