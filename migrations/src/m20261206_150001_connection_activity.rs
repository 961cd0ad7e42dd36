//! Activity per connection: proxied calls, refresh attempts, vended tokens and webhook delivery
//! attempts. Metadata only (method, path without query, status, latency, sizes): no body, query
//! value, token or secret has a column here.
//!
//! No foreign keys, on purpose: rows are written in batches by a background task, and a batch
//! must not fail because a connection was erased meanwhile. Rows go with their workspace
//! (workspace deletion) and with age (retention).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConnectionActivity::Table)
                    .col(pk_uuid(ConnectionActivity::Id))
                    .col(uuid(ConnectionActivity::WorkspaceId))
                    .col(uuid(ConnectionActivity::ConnectionId))
                    .col(big_integer(ConnectionActivity::At))
                    .col(string_len(ConnectionActivity::Kind, 24))
                    .col(string_len_null(ConnectionActivity::Method, 8))
                    .col(string_len_null(ConnectionActivity::Path, 255))
                    .col(integer_null(ConnectionActivity::Status))
                    .col(string_len(ConnectionActivity::Outcome, 24))
                    .col(integer_null(ConnectionActivity::LatencyMs))
                    .col(big_integer_null(ConnectionActivity::RequestBytes))
                    .col(big_integer_null(ConnectionActivity::ResponseBytes))
                    .to_owned(),
            )
            .await?;
        // A connection's listing, newest first, in keyset pages (and its 24-hour statistics).
        manager
            .create_index(
                Index::create()
                    .name("connection_activity_listing")
                    .table(ConnectionActivity::Table)
                    .col(ConnectionActivity::ConnectionId)
                    .col(ConnectionActivity::At)
                    .col(ConnectionActivity::Id)
                    .to_owned(),
            )
            .await?;
        // The dashboard's per-day totals of a workspace.
        manager
            .create_index(
                Index::create()
                    .name("connection_activity_workspace")
                    .table(ConnectionActivity::Table)
                    .col(ConnectionActivity::WorkspaceId)
                    .col(ConnectionActivity::At)
                    .to_owned(),
            )
            .await?;
        // Retention.
        manager
            .create_index(
                Index::create()
                    .name("connection_activity_retention")
                    .table(ConnectionActivity::Table)
                    .col(ConnectionActivity::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConnectionActivity::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConnectionActivity {
    Table,
    Id,
    WorkspaceId,
    ConnectionId,
    At,
    /// `proxy_call`, `refresh`, `token_vended` or `webhook_delivery`.
    Kind,
    /// The HTTP method of a proxied call.
    Method,
    /// A proxied call's path without its query, or a webhook's event type.
    Path,
    /// The HTTP status (amoCRM's, amolink's own, or the webhook endpoint's).
    Status,
    /// A short code: `relayed`, `refused`, `refreshed`, `delivered`…
    Outcome,
    LatencyMs,
    RequestBytes,
    ResponseBytes,
}
