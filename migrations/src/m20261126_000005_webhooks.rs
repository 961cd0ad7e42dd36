//! Outgoing webhooks to tenants: endpoints, the messages (one per connection event), and the
//! outbox of deliveries (one per message and subscribed endpoint) that the delivery worker
//! drains with leases.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(pk_uuid(WebhookEndpoints::Id))
                    .col(uuid(WebhookEndpoints::WorkspaceId))
                    .col(text(WebhookEndpoints::Url))
                    .col(string_len(WebhookEndpoints::EventTypes, 255))
                    .col(text(WebhookEndpoints::Secret))
                    .col(text_null(WebhookEndpoints::PreviousSecret))
                    .col(big_integer_null(WebhookEndpoints::PreviousSecretUntil))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(string_len_null(WebhookEndpoints::DisabledReason, 255))
                    .col(big_integer_null(WebhookEndpoints::LastSuccessAt))
                    .col(big_integer(WebhookEndpoints::CreatedAt))
                    .col(big_integer(WebhookEndpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookEndpoints::Table, WebhookEndpoints::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_endpoints_workspace")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::WorkspaceId)
                    .col(WebhookEndpoints::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookMessages::Table)
                    .col(string_len(WebhookMessages::Id, 64).primary_key())
                    .col(uuid(WebhookMessages::WorkspaceId))
                    .col(string_len(WebhookMessages::EventType, 40))
                    .col(uuid_null(WebhookMessages::ConnectionId))
                    .col(text(WebhookMessages::Payload))
                    .col(big_integer(WebhookMessages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookMessages::Table, WebhookMessages::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::WorkspaceId))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(string_len(WebhookDeliveries::MessageId, 64))
                    .col(string_len(WebhookDeliveries::EventType, 40))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(big_integer_null(WebhookDeliveries::NextAttemptAt))
                    .col(big_integer_null(WebhookDeliveries::LastAttemptAt))
                    .col(integer_null(WebhookDeliveries::LastResponseStatus))
                    .col(string_len_null(WebhookDeliveries::LastError, 255))
                    .col(string_len_null(WebhookDeliveries::LeaseOwner, 64))
                    .col(big_integer_null(WebhookDeliveries::LeaseUntil))
                    .col(big_integer(WebhookDeliveries::CreatedAt))
                    .col(big_integer(WebhookDeliveries::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::MessageId)
                            .to(WebhookMessages::Table, WebhookMessages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                // The worker's scan for due deliveries.
                "webhook_deliveries_due",
                vec![WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ),
            (
                // The delivery log of one endpoint, newest first.
                "webhook_deliveries_log",
                vec![WebhookDeliveries::EndpointId, WebhookDeliveries::CreatedAt],
            ),
            (
                "webhook_deliveries_message",
                vec![WebhookDeliveries::MessageId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(WebhookDeliveries::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookDeliveries::Table.into_iden(),
            WebhookMessages::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
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
enum WebhookEndpoints {
    Table,
    Id,
    WorkspaceId,
    Url,
    /// Comma-separated event types, e.g. `connection.created,connection.revoked`.
    EventTypes,
    /// Sealed `whsec_…` text, bound to workspace, row and column.
    Secret,
    /// The secret before the last rotation, still signing until `PreviousSecretUntil`.
    PreviousSecret,
    PreviousSecretUntil,
    Enabled,
    DisabledReason,
    LastSuccessAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookMessages {
    Table,
    /// The `webhook-id` (`msg_…`), the same for every attempt and every endpoint.
    Id,
    WorkspaceId,
    EventType,
    ConnectionId,
    /// The exact bytes that are signed and sent.
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WorkspaceId,
    EndpointId,
    MessageId,
    EventType,
    /// `pending`, `delivered` or `failed`.
    Status,
    Attempts,
    NextAttemptAt,
    LastAttemptAt,
    LastResponseStatus,
    LastError,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}
