use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub platform: String,
    pub account_id: i64,
    pub account_name: String,
    pub host: String,
    /// Lower-cased name and host: SQLite's `LOWER` folds ASCII only.
    pub search_text: String,
    pub api_domain: Option<String>,
    pub client_id: String,
    /// Sealed (AEAD) values; `NULL` once erased.
    pub client_secret: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<i64>,
    pub access_lifetime_secs: Option<i64>,
    pub token_call_at: Option<i64>,
    pub token_call_refusal: bool,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_at: i64,
    pub connected_at: i64,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub refresh_failures: i32,
    pub next_refresh_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub end_user_id: Option<String>,
    pub metadata: Option<String>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::connection_events::Entity")]
    Events,
}

impl Related<super::connection_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Events.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
