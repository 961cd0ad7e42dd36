//! amoCRM events relayed to tenants (issue 13): what each workspace relays, each connection's
//! subscription at amoCRM, every raw delivery amoCRM made (stored before it is answered), and the
//! tenant events made from them — whose `(connection, dedup key)` is unique, which is how
//! amoCRM's retries and duplicates reach the tenant once.
//!
//! `webhook_endpoints.event_types` grows past 255 characters once amoCRM event types can be
//! chosen, so it becomes `text` on PostgreSQL (SQLite does not enforce lengths).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RelaySettings::Table)
                    .col(uuid(RelaySettings::WorkspaceId).primary_key())
                    .col(text(RelaySettings::EventTypes))
                    .col(big_integer(RelaySettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RelaySettings::Table, RelaySettings::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RelaySubscriptions::Table)
                    .col(uuid(RelaySubscriptions::ConnectionId).primary_key())
                    .col(uuid(RelaySubscriptions::WorkspaceId))
                    .col(string_len(RelaySubscriptions::Status, 16))
                    .col(string_len_null(RelaySubscriptions::Reason, 255))
                    .col(string_len_null(RelaySubscriptions::TokenHash, 64))
                    .col(text(RelaySubscriptions::Settings))
                    .col(big_integer_null(RelaySubscriptions::AmocrmWebhookId))
                    .col(integer(RelaySubscriptions::Failures).default(0))
                    .col(big_integer_null(RelaySubscriptions::LastCheckedAt))
                    .col(big_integer_null(RelaySubscriptions::NextCheckAt))
                    .col(string_len_null(RelaySubscriptions::LeaseOwner, 64))
                    .col(big_integer_null(RelaySubscriptions::LeaseUntil))
                    .col(big_integer_null(RelaySubscriptions::PausedAt))
                    .col(big_integer_null(RelaySubscriptions::GapFrom))
                    .col(big_integer_null(RelaySubscriptions::GapUntil))
                    .col(big_integer(RelaySubscriptions::CreatedAt))
                    .col(big_integer(RelaySubscriptions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RelaySubscriptions::Table, RelaySubscriptions::ConnectionId)
                            .to(Connections::Table, Connections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("relay_subscriptions_token")
                    .table(RelaySubscriptions::Table)
                    .col(RelaySubscriptions::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("relay_subscriptions_due")
                    .table(RelaySubscriptions::Table)
                    .col(RelaySubscriptions::NextCheckAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RelayInbound::Table)
                    .col(pk_uuid(RelayInbound::Id))
                    .col(uuid(RelayInbound::WorkspaceId))
                    .col(uuid(RelayInbound::ConnectionId))
                    .col(big_integer(RelayInbound::ReceivedAt))
                    .col(blob(RelayInbound::Body))
                    .col(string_len_null(RelayInbound::RequestId, 64))
                    .col(string_len_null(RelayInbound::UserAgent, 255))
                    .col(string_len(RelayInbound::Status, 16))
                    .col(integer(RelayInbound::Attempts).default(0))
                    .col(integer(RelayInbound::EventCount).default(0))
                    .col(string_len_null(RelayInbound::LastError, 255))
                    .col(string_len_null(RelayInbound::LeaseOwner, 64))
                    .col(big_integer_null(RelayInbound::LeaseUntil))
                    .col(big_integer_null(RelayInbound::ProcessedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RelayInbound::Table, RelayInbound::ConnectionId)
                            .to(Connections::Table, Connections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("relay_inbound_due")
                    .table(RelayInbound::Table)
                    .col(RelayInbound::Status)
                    .col(RelayInbound::ReceivedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RelayEvents::Table)
                    .col(big_pk_auto(RelayEvents::Seq))
                    .col(string_len_uniq(RelayEvents::Id, 64))
                    .col(uuid(RelayEvents::WorkspaceId))
                    .col(uuid(RelayEvents::ConnectionId))
                    .col(string_len(RelayEvents::EventType, 40))
                    .col(big_integer_null(RelayEvents::EntityId))
                    .col(string_len(RelayEvents::DedupKey, 64))
                    .col(uuid(RelayEvents::InboundId))
                    .col(text(RelayEvents::Payload))
                    .col(text(RelayEvents::RawItem))
                    .col(big_integer(RelayEvents::ReceivedAt))
                    .col(big_integer(RelayEvents::StoredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RelayEvents::Table, RelayEvents::ConnectionId)
                            .to(Connections::Table, Connections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("relay_events_dedup")
                    .table(RelayEvents::Table)
                    .col(RelayEvents::ConnectionId)
                    .col(RelayEvents::DedupKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("relay_events_feed")
                    .table(RelayEvents::Table)
                    .col(RelayEvents::WorkspaceId)
                    .col(RelayEvents::Seq)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .modify_column(ColumnDef::new(WebhookEndpoints::EventTypes).text())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RelayEvents::Table.into_iden(),
            RelayInbound::Table.into_iden(),
            RelaySubscriptions::Table.into_iden(),
            RelaySettings::Table.into_iden(),
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
enum Connections {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    EventTypes,
}

#[derive(DeriveIden)]
enum RelaySettings {
    Table,
    WorkspaceId,
    /// Comma-separated `amocrm.<entity>.<action>` names the workspace relays.
    EventTypes,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RelaySubscriptions {
    Table,
    ConnectionId,
    WorkspaceId,
    /// `pending`, `subscribed`, `paused`, `failed` or `unsubscribed`.
    Status,
    /// Why it is paused or failed, for the connection's page.
    Reason,
    /// SHA-256 (hex) of the destination token; the token itself is never stored.
    TokenHash,
    /// The amoCRM `settings` codes last subscribed, comma-separated.
    Settings,
    AmocrmWebhookId,
    Failures,
    LastCheckedAt,
    NextCheckAt,
    LeaseOwner,
    LeaseUntil,
    /// When amoCRM's switch-off was first seen; cleared when re-armed.
    PausedAt,
    /// The last closed gap: from when amoCRM stopped sending until amolink re-armed it.
    GapFrom,
    GapUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RelayInbound {
    Table,
    Id,
    WorkspaceId,
    ConnectionId,
    ReceivedAt,
    /// The request body exactly as amoCRM sent it.
    Body,
    /// `X-Amocrm-Requestid`, a hint for support (not an identity: see the spec).
    RequestId,
    UserAgent,
    /// `pending`, `processed` or `rejected` (not an event body; kept for inspection).
    Status,
    Attempts,
    /// How many new tenant events it produced.
    EventCount,
    LastError,
    LeaseOwner,
    LeaseUntil,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum RelayEvents {
    Table,
    /// The feed order for `GET /api/v1/events`.
    Seq,
    /// `msg_…`: also the `webhook-id` of its deliveries.
    Id,
    WorkspaceId,
    ConnectionId,
    EventType,
    EntityId,
    DedupKey,
    InboundId,
    /// The tenant-facing JSON, exactly as delivered.
    Payload,
    /// The item as amoCRM sent it (expanded to JSON), served on demand.
    RawItem,
    ReceivedAt,
    StoredAt,
}
