//! Listing indexes that keep `/connections` and `GET /api/v1/connections` fast with 100 000
//! connections in one workspace (measured in `BENCHMARKS.md`, `bench connections-page`).
//!
//! - `connections_listing_search` replaces `connections_listing` (its prefix) and carries
//!   `search_text`, so a `LIKE '%…%'` search reads only this narrow index instead of every wide
//!   row (sealed tokens are most of a row's bytes): SQLite tests the pattern on the index entry
//!   before it seeks the row, PostgreSQL answers the listing's id subquery with an index-only scan.
//! - `connections_status_listing` and `connections_end_user_listing` serve the status and end-user
//!   filters in listing order; without them a rare status or one end user's connections meant
//!   walking the whole workspace.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes this migration creates, most selective columns first, listing order last.
fn indexes() -> [(&'static str, Vec<Connections>); 3] {
    use Connections::{ConnectedAt, EndUserId, Id, SearchText, Status, WorkspaceId};
    [
        (
            "connections_listing_search",
            vec![WorkspaceId, ConnectedAt, Id, SearchText],
        ),
        (
            "connections_status_listing",
            vec![WorkspaceId, Status, ConnectedAt, Id, SearchText],
        ),
        (
            "connections_end_user_listing",
            vec![WorkspaceId, EndUserId, ConnectedAt, Id],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(Connections::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("connections_listing")
                    .table(Connections::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("connections_listing")
                    .table(Connections::Table)
                    .col(Connections::WorkspaceId)
                    .col(Connections::ConnectedAt)
                    .col(Connections::Id)
                    .to_owned(),
            )
            .await?;
        for (name, _) in indexes() {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Connections::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Connections {
    Table,
    Id,
    WorkspaceId,
    SearchText,
    Status,
    ConnectedAt,
    EndUserId,
}
