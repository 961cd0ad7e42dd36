//! One-time links of the team features, stored only as SHA-256 hashes of their tokens:
//! invitations to a workspace (7 days, single use, revocable) and password resets (1 hour,
//! single use).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invites::Table)
                    .col(pk_uuid(Invites::Id))
                    .col(uuid(Invites::WorkspaceId))
                    .col(string_len(Invites::Email, 254))
                    .col(string_len(Invites::Role, 16))
                    .col(string_len_uniq(Invites::TokenHash, 64))
                    .col(uuid_null(Invites::InvitedBy))
                    .col(string_len(Invites::InvitedByEmail, 254))
                    .col(big_integer(Invites::CreatedAt))
                    .col(big_integer(Invites::ExpiresAt))
                    .col(big_integer_null(Invites::AcceptedAt))
                    .col(uuid_null(Invites::AcceptedBy))
                    .col(big_integer_null(Invites::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invites::Table, Invites::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invites_workspace")
                    .table(Invites::Table)
                    .col(Invites::WorkspaceId)
                    .col(Invites::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .col(string_len(PasswordResets::TokenHash, 64).primary_key())
                    .col(uuid(PasswordResets::UserId))
                    .col(big_integer(PasswordResets::CreatedAt))
                    .col(big_integer(PasswordResets::ExpiresAt))
                    .col(big_integer_null(PasswordResets::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PasswordResets::Table, PasswordResets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("password_resets_user", PasswordResets::UserId),
            ("password_resets_expiry", PasswordResets::ExpiresAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PasswordResets::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PasswordResets::Table.into_iden(),
            Invites::Table.into_iden(),
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
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    Id,
    WorkspaceId,
    /// The invited address; only the account with this address can accept.
    Email,
    Role,
    /// SHA-256 hex of the link's token; the token itself is never stored.
    TokenHash,
    InvitedBy,
    /// Kept for display after the inviter's account is gone.
    InvitedByEmail,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    /// SHA-256 hex of the link's token.
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
