//! The audit trail (who did what to a workspace, and when) and the development mail outbox.
//!
//! `audit_events.workspace_id` has no foreign key on purpose: a workspace's entries are deleted
//! with it, but the record of the deletion itself outlives it (with no workspace id) until the
//! retention period ends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(pk_uuid(AuditEvents::Id))
                    .col(uuid_null(AuditEvents::WorkspaceId))
                    .col(big_integer(AuditEvents::At))
                    .col(string_len(AuditEvents::Action, 48))
                    .col(string_len(AuditEvents::ActorKind, 16))
                    .col(string_len_null(AuditEvents::ActorId, 64))
                    .col(string_len(AuditEvents::ActorLabel, 320))
                    .col(string_len_null(AuditEvents::TargetKind, 32))
                    .col(string_len_null(AuditEvents::TargetId, 64))
                    .col(string_len_null(AuditEvents::TargetLabel, 320))
                    .col(string_len_null(AuditEvents::ClientIp, 64))
                    .col(text_null(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_listing")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::WorkspaceId)
                    .col(AuditEvents::At)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_retention")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(pk_uuid(MailOutbox::Id))
                    .col(uuid_null(MailOutbox::WorkspaceId))
                    .col(string_len(MailOutbox::ToAddress, 254))
                    .col(string_len(MailOutbox::Subject, 255))
                    .col(text(MailOutbox::Body))
                    .col(big_integer(MailOutbox::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_created")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MailOutbox::Table.into_iden(),
            AuditEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    /// Null only for the record of a deleted workspace.
    WorkspaceId,
    At,
    /// A stable code such as `member.invited`.
    Action,
    /// `user`, `api_key` or `system`.
    ActorKind,
    ActorId,
    /// The user's e-mail or the API key's name at the time.
    ActorLabel,
    TargetKind,
    TargetId,
    TargetLabel,
    ClientIp,
    /// A small JSON object of non-secret facts (e.g. the old and new role).
    Detail,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    /// The workspace the mail is about (invitations), so it goes when the workspace does.
    WorkspaceId,
    ToAddress,
    Subject,
    Body,
    CreatedAt,
}
