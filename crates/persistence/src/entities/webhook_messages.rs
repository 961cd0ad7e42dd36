use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_messages")]
pub struct Model {
    /// The `webhook-id` (`msg_…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: Uuid,
    pub event_type: String,
    pub connection_id: Option<Uuid>,
    /// The exact bytes that are signed and sent.
    pub payload: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
