//! The sign-in throttle's shared ledger: one row per throttled key (an account, a client address
//! or a known device), so every instance counts the same attempts. A row holds the consecutive
//! failures and the earliest time the next attempt may start; attempts are reserved by a
//! compare-and-set on `failures` before any password is hashed (see `domain::accounts::throttle`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    // `account:{sha256}`, `client:{address}` or `device:{id}`.
                    .col(string_len(LoginThrottle::Key, 96).primary_key())
                    .col(integer(LoginThrottle::Failures))
                    .col(big_integer(LoginThrottle::NextAt))
                    .col(big_integer(LoginThrottle::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("login_throttle_updated")
                    .table(LoginThrottle::Table)
                    .col(LoginThrottle::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Key,
    Failures,
    NextAt,
    UpdatedAt,
}
