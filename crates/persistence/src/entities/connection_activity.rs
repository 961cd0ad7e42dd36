use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connection_activity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub connection_id: Uuid,
    pub at: i64,
    pub kind: String,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i32>,
    pub outcome: String,
    pub latency_ms: Option<i32>,
    pub request_bytes: Option<i64>,
    pub response_bytes: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
