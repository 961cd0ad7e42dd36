//! The keeper tells the truth about token lifetimes (issue 9):
//! - `connections.access_lifetime_secs`: the access token's lifetime as amoCRM stated it (zero
//!   when it stated nothing credible), so "half the token's life" is read, never guessed;
//! - `connections.token_call_at` / `token_call_refusal`: when the latest call to amoCRM's token
//!   endpoint for this connection was sent and whether a refused access token caused it — the
//!   shared memory behind "refreshed at most once per interval, once more per refusal";
//! - the rate governor's shared budget is keyed by the amoCRM integration (`client_id`), which
//!   exists from the secrets webhook on, instead of by connection, so the connect-time account
//!   call is counted too; it holds the shares lent to instances (JSON, see
//!   `domain::governor::Budget`). The old per-connection ledger holds only the last second of
//!   sends and is dropped.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite accepts one column per ALTER TABLE.
        for column in [
            big_integer_null(Connections::AccessLifetimeSecs),
            big_integer_null(Connections::TokenCallAt),
            boolean(Connections::TokenCallRefusal).default(false).take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(IntegrationRateLimits::Table)
                    .col(text(IntegrationRateLimits::Integration).primary_key())
                    .col(text(IntegrationRateLimits::Budget))
                    .col(big_integer(IntegrationRateLimits::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(pk_uuid(RateLimits::ConnectionId))
                    .col(text(RateLimits::Sends))
                    .col(big_integer(RateLimits::PausedUntil))
                    .col(big_integer(RateLimits::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(IntegrationRateLimits::Table).to_owned())
            .await?;
        for column in [
            Connections::TokenCallRefusal,
            Connections::TokenCallAt,
            Connections::AccessLifetimeSecs,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    AccessLifetimeSecs,
    TokenCallAt,
    TokenCallRefusal,
}

#[derive(DeriveIden)]
enum IntegrationRateLimits {
    Table,
    Integration,
    Budget,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    ConnectionId,
    Sends,
    PausedUntil,
    UpdatedAt,
}
