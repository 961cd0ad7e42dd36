//! The rate governor's shared ledger: per connection, the last seven reserved send times and a
//! pause, so every instance paces one amoCRM integration together (see `domain::governor`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(pk_uuid(RateLimits::ConnectionId))
                    // Comma-separated unix milliseconds, ascending; at most a handful.
                    .col(text(RateLimits::Sends))
                    .col(big_integer(RateLimits::PausedUntil))
                    .col(big_integer(RateLimits::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RateLimits::Table, RateLimits::ConnectionId)
                            .to(Connections::Table, Connections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    ConnectionId,
    Sends,
    PausedUntil,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
}
