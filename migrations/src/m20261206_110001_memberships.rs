//! Teams: a user may belong to several workspaces, each with a role.
//!
//! - `memberships(user_id, workspace_id, role)` replaces `users.workspace_id` and `users.role`.
//!   Every existing user becomes a member of the workspace they belonged to, with the role they
//!   had (only `owner` was ever written; the unused `member` becomes `developer`). Moving these
//!   rows is part of the schema change, so it happens here and in the same transaction.
//! - `users` loses both columns: a user row is now only a login. PostgreSQL drops the columns
//!   (and their foreign key and index with them); SQLite cannot drop a column that a foreign key
//!   uses, so the table is rebuilt under the same name.
//! - `web_sessions.workspace_id` mirrors the session's current workspace, so removing a member
//!   ends exactly their sessions in that workspace.
//! - `workspaces.deleting_at` marks a workspace whose deletion has begun: its members, keys and
//!   buttons are gone and its connections revoked, while the `connection.revoked` webhooks for
//!   them are still being delivered; housekeeping removes the rest afterwards.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The SQLite rebuild must be all or nothing, like PostgreSQL's DDL.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        if sqlite {
            // The new users table is built beside the old one and renamed over it at the end;
            // memberships reference it from the start (SQLite follows the rename).
            manager
                .create_table(
                    Table::create()
                        .table(UsersNext::Table)
                        .col(pk_uuid(Users::Id))
                        .col(string_len_uniq(Users::Email, 254))
                        .col(text(Users::PasswordHash))
                        .col(big_integer(Users::CreatedAt))
                        .to_owned(),
                )
                .await?;
            manager
                .get_connection()
                .execute_unprepared(
                    "INSERT INTO users_next (id, email, password_hash, created_at) \
                     SELECT id, email, password_hash, created_at FROM users",
                )
                .await?;
        }
        let user_table = if sqlite {
            UsersNext::Table.into_iden()
        } else {
            Users::Table.into_iden()
        };
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(uuid(Memberships::UserId))
                    .col(uuid(Memberships::WorkspaceId))
                    .col(string_len(Memberships::Role, 16))
                    .col(big_integer(Memberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::UserId)
                            .col(Memberships::WorkspaceId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::UserId)
                            .to(user_table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("memberships_workspace")
                    .table(Memberships::Table)
                    .col(Memberships::WorkspaceId)
                    .col(Memberships::Role)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO memberships (user_id, workspace_id, role, created_at) \
                 SELECT id, workspace_id, \
                 CASE WHEN role IN ('owner', 'admin') THEN role ELSE 'developer' END, \
                 created_at FROM users",
            )
            .await?;

        if sqlite {
            manager
                .drop_table(Table::drop().table(Users::Table).to_owned())
                .await?;
            manager
                .rename_table(
                    Table::rename()
                        .table(UsersNext::Table, Users::Table)
                        .to_owned(),
                )
                .await?;
        } else {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(Users::WorkspaceId)
                        .drop_column(Users::Role)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .alter_table(
                Table::alter()
                    .table(WebSessions::Table)
                    .add_column(uuid_null(WebSessions::WorkspaceId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("web_sessions_workspace")
                    .table(WebSessions::Table)
                    .col(WebSessions::WorkspaceId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(big_integer_null(Workspaces::DeletingAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Going back would have to pick one workspace per user and drop the others' memberships.
        Err(DbErr::Migration(
            "memberships cannot be folded back into users.workspace_id".to_owned(),
        ))
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    DeletingAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    WorkspaceId,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UsersNext {
    Table,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    UserId,
    WorkspaceId,
    /// `owner`, `admin`, `developer` or `viewer`.
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebSessions {
    Table,
    WorkspaceId,
}
