//! API keys (stored only as keyed hashes) and connect sessions (stored only as token hashes).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(uuid(ApiKeys::WorkspaceId))
                    .col(string_len(ApiKeys::Name, 80))
                    .col(string_len(ApiKeys::Scopes, 64))
                    .col(string_len(ApiKeys::Prefix, 16))
                    // HMAC-SHA256 hex: the one indexed lookup per API request.
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(string_len(ApiKeys::HashKeyId, 16))
                    .col(big_integer(ApiKeys::CreatedAt))
                    .col(big_integer_null(ApiKeys::LastUsedAt))
                    .col(big_integer_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_workspace")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::WorkspaceId)
                    .col(ApiKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConnectSessions::Table)
                    .col(pk_uuid(ConnectSessions::Id))
                    .col(uuid(ConnectSessions::WorkspaceId))
                    .col(uuid(ConnectSessions::ButtonId))
                    .col(string_len_uniq(ConnectSessions::TokenHash, 64))
                    .col(string_len(ConnectSessions::EndUserId, 255))
                    .col(text_null(ConnectSessions::Metadata))
                    .col(string_len_null(ConnectSessions::BindingHash, 64))
                    .col(big_integer_null(ConnectSessions::RedeemedAt))
                    .col(big_integer(ConnectSessions::CreatedAt))
                    .col(big_integer(ConnectSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConnectSessions::Table, ConnectSessions::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConnectSessions::Table, ConnectSessions::ButtonId)
                            .to(ConnectButtons::Table, ConnectButtons::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("connect_sessions_expiry")
                    .table(ConnectSessions::Table)
                    .col(ConnectSessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConnectSessions::Table.into_iden(),
            ApiKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ConnectButtons {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    WorkspaceId,
    Name,
    /// Comma-separated scope names in canonical order.
    Scopes,
    /// `alk_` plus the next eight characters, for display.
    Prefix,
    KeyHash,
    /// The master key whose subkey produced `key_hash`.
    HashKeyId,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ConnectSessions {
    Table,
    Id,
    WorkspaceId,
    ButtonId,
    /// SHA-256 hex of the URL token; the token itself is never stored.
    TokenHash,
    EndUserId,
    Metadata,
    /// SHA-256 hex of the binding cookie of the browser that redeemed the link.
    BindingHash,
    RedeemedAt,
    CreatedAt,
    ExpiresAt,
}
