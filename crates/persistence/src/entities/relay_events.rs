use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "relay_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub id: String,
    pub workspace_id: Uuid,
    pub connection_id: Uuid,
    pub event_type: String,
    pub entity_id: Option<i64>,
    pub dedup_key: String,
    pub inbound_id: Uuid,
    pub payload: String,
    pub raw_item: String,
    pub received_at: i64,
    pub stored_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
