//! Connect buttons, connect flows (one per hosted-page view), connections and their history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConnectButtons::Table)
                    .col(pk_uuid(ConnectButtons::Id))
                    .col(uuid(ConnectButtons::WorkspaceId))
                    .col(string_len_uniq(ConnectButtons::Key, 32))
                    .col(string_len(ConnectButtons::Platform, 16))
                    .col(string_len(ConnectButtons::Name, 255))
                    .col(text(ConnectButtons::Description))
                    .col(text(ConnectButtons::LogoUrl))
                    .col(string_len(ConnectButtons::Scopes, 64))
                    .col(string_len(ConnectButtons::Title, 120))
                    .col(string_len(ConnectButtons::Color, 16))
                    .col(boolean(ConnectButtons::Compact))
                    .col(string_len(ConnectButtons::Mode, 16))
                    .col(big_integer(ConnectButtons::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConnectButtons::Table, ConnectButtons::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("connect_buttons_workspace")
                    .table(ConnectButtons::Table)
                    .col(ConnectButtons::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConnectFlows::Table)
                    .col(pk_uuid(ConnectFlows::Id))
                    .col(uuid(ConnectFlows::WorkspaceId))
                    .col(uuid(ConnectFlows::ButtonId))
                    .col(string_len_uniq(ConnectFlows::StateHash, 64))
                    .col(string_len(ConnectFlows::BindingHash, 64))
                    .col(string_len(ConnectFlows::Platform, 16))
                    .col(string_len(ConnectFlows::Status, 16))
                    .col(string_len_null(ConnectFlows::ClientId, 64))
                    .col(text_null(ConnectFlows::ClientSecret))
                    .col(big_integer_null(ConnectFlows::SecretsAt))
                    .col(big_integer_null(ConnectFlows::ClaimedAt))
                    .col(uuid_null(ConnectFlows::ConnectionId))
                    .col(string_len_null(ConnectFlows::Failure, 64))
                    .col(string_len_null(ConnectFlows::EndUserId, 255))
                    .col(text_null(ConnectFlows::Metadata))
                    .col(big_integer(ConnectFlows::CreatedAt))
                    .col(big_integer(ConnectFlows::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConnectFlows::Table, ConnectFlows::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("connect_flows_expiry")
                    .table(ConnectFlows::Table)
                    .col(ConnectFlows::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .col(pk_uuid(Connections::Id))
                    .col(uuid(Connections::WorkspaceId))
                    .col(string_len(Connections::Platform, 16))
                    .col(big_integer(Connections::AccountId))
                    .col(string_len(Connections::AccountName, 255))
                    .col(string_len(Connections::Host, 255))
                    .col(text(Connections::SearchText))
                    .col(string_len_null(Connections::ApiDomain, 255))
                    .col(string_len(Connections::ClientId, 64))
                    .col(text_null(Connections::ClientSecret))
                    .col(text_null(Connections::AccessToken))
                    .col(text_null(Connections::RefreshToken))
                    .col(big_integer_null(Connections::AccessExpiresAt))
                    .col(string_len(Connections::Status, 24))
                    .col(text_null(Connections::StatusReason))
                    .col(big_integer(Connections::StatusAt))
                    .col(big_integer(Connections::ConnectedAt))
                    .col(big_integer_null(Connections::LastRefreshAt))
                    .col(text_null(Connections::LastError))
                    .col(integer(Connections::RefreshFailures).default(0))
                    .col(big_integer_null(Connections::NextRefreshAt))
                    .col(string_len_null(Connections::LeaseOwner, 64))
                    .col(big_integer_null(Connections::LeaseUntil))
                    .col(string_len_null(Connections::EndUserId, 255))
                    .col(text_null(Connections::Metadata))
                    .col(big_integer(Connections::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Connections::Table, Connections::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("connections_account")
                    .table(Connections::Table)
                    .col(Connections::WorkspaceId)
                    .col(Connections::Platform)
                    .col(Connections::AccountId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "connections_listing",
                vec![
                    Connections::WorkspaceId,
                    Connections::ConnectedAt,
                    Connections::Id,
                ],
            ),
            ("connections_client", vec![Connections::ClientId]),
            (
                "connections_due",
                vec![Connections::Status, Connections::NextRefreshAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Connections::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ConnectionEvents::Table)
                    .col(pk_uuid(ConnectionEvents::Id))
                    .col(uuid(ConnectionEvents::ConnectionId))
                    .col(uuid(ConnectionEvents::WorkspaceId))
                    .col(string_len(ConnectionEvents::Kind, 32))
                    .col(string_len(ConnectionEvents::Actor, 320))
                    .col(text_null(ConnectionEvents::Detail))
                    .col(big_integer(ConnectionEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConnectionEvents::Table, ConnectionEvents::ConnectionId)
                            .to(Connections::Table, Connections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("connection_events_history")
                    .table(ConnectionEvents::Table)
                    .col(ConnectionEvents::ConnectionId)
                    .col(ConnectionEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConnectionEvents::Table.into_iden(),
            Connections::Table.into_iden(),
            ConnectFlows::Table.into_iden(),
            ConnectButtons::Table.into_iden(),
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
    WorkspaceId,
    Key,
    Platform,
    Name,
    Description,
    LogoUrl,
    Scopes,
    Title,
    Color,
    Compact,
    Mode,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConnectFlows {
    Table,
    Id,
    WorkspaceId,
    ButtonId,
    StateHash,
    BindingHash,
    Platform,
    Status,
    ClientId,
    ClientSecret,
    SecretsAt,
    ClaimedAt,
    ConnectionId,
    Failure,
    EndUserId,
    Metadata,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    WorkspaceId,
    Platform,
    AccountId,
    AccountName,
    Host,
    /// Lower-cased account name and host, for case-insensitive search on both engines.
    SearchText,
    ApiDomain,
    ClientId,
    ClientSecret,
    AccessToken,
    RefreshToken,
    AccessExpiresAt,
    Status,
    StatusReason,
    StatusAt,
    ConnectedAt,
    LastRefreshAt,
    LastError,
    RefreshFailures,
    NextRefreshAt,
    LeaseOwner,
    LeaseUntil,
    EndUserId,
    Metadata,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConnectionEvents {
    Table,
    Id,
    ConnectionId,
    WorkspaceId,
    Kind,
    Actor,
    Detail,
    At,
}
