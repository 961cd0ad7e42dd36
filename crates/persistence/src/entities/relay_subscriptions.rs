use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "relay_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: Uuid,
    pub workspace_id: Uuid,
    pub status: String,
    pub reason: Option<String>,
    pub token_hash: Option<String>,
    pub settings: String,
    pub amocrm_webhook_id: Option<i64>,
    pub failures: i32,
    pub last_checked_at: Option<i64>,
    pub next_check_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub paused_at: Option<i64>,
    pub gap_from: Option<i64>,
    pub gap_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
