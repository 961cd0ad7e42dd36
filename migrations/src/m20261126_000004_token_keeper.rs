//! The token keeper's journal: one row per call to amoCRM's token endpoint, written before the
//! call, so an instance that dies mid-refresh leaves a trace the others can resolve.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshAttempts::Table)
                    .col(pk_uuid(RefreshAttempts::Id))
                    .col(uuid(RefreshAttempts::ConnectionId))
                    .col(string_len(RefreshAttempts::Owner, 64))
                    .col(string_len(RefreshAttempts::RefreshTokenHash, 64))
                    .col(big_integer(RefreshAttempts::StartedAt))
                    .col(big_integer_null(RefreshAttempts::FinishedAt))
                    .col(string_len_null(RefreshAttempts::Outcome, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_attempts_connection")
                    .table(RefreshAttempts::Table)
                    .col(RefreshAttempts::ConnectionId)
                    .col(RefreshAttempts::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_attempts_open")
                    .table(RefreshAttempts::Table)
                    .col(RefreshAttempts::FinishedAt)
                    .col(RefreshAttempts::StartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshAttempts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RefreshAttempts {
    Table,
    Id,
    ConnectionId,
    Owner,
    RefreshTokenHash,
    StartedAt,
    FinishedAt,
    Outcome,
}
