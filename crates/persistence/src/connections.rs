//! Connections and their event history. Every query is filtered by the workspace id it is given,
//! except the disconnect-hook lookup by amoCRM client id, which by nature crosses tenants.

use async_trait::async_trait;
use domain::amo::Platform;
use domain::{
    StoreError,
    connections::{
        ConnectionEvent, ConnectionFilter, ConnectionRecord, ConnectionSummary, NewEvent, Page,
        PageCursor, StatusChange, TokenCall,
    },
    end_user::Metadata,
    ids::{ConnectionId, WorkspaceId},
    ports::ConnectionRepository,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, DerivePartialModel, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, TransactionTrait as _,
    sea_query::{Expr, ExprTrait as _, LikeExpr, Order, Query},
};

use crate::{
    Database,
    database::store_error,
    entities::{
        connection_events,
        connections::{self, Column},
    },
    lifecycle::{self, Target},
    stored::{metadata, parse},
    time::{from_millis, to_millis},
};

pub(crate) fn to_record(row: connections::Model) -> Result<ConnectionRecord, StoreError> {
    Ok(ConnectionRecord {
        id: ConnectionId::from_uuid(row.id),
        workspace: WorkspaceId::from_uuid(row.workspace_id),
        platform: parse(&row.platform, "connection platform")?,
        account_id: row.account_id,
        account_name: row.account_name,
        host: row.host,
        api_domain: row.api_domain,
        client_id: row.client_id,
        client_secret: row.client_secret,
        access_token: row.access_token,
        refresh_token: row.refresh_token,
        access_expires_at: row.access_expires_at.map(from_millis),
        access_lifetime: row
            .access_lifetime_secs
            .map(|secs| std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
        token_call: row.token_call_at.map(|at| TokenCall {
            at: from_millis(at),
            after_refusal: row.token_call_refusal,
        }),
        next_refresh_at: row.next_refresh_at.map(from_millis),
        refresh_failures: row.refresh_failures,
        status: parse(&row.status, "connection status")?,
        status_reason: row.status_reason,
        status_at: from_millis(row.status_at),
        connected_at: from_millis(row.connected_at),
        last_refresh_at: row.last_refresh_at.map(from_millis),
        last_error: row.last_error,
        end_user_id: row.end_user_id,
        metadata: metadata(row.metadata.as_deref(), "connection metadata")?,
    })
}

/// The columns a listing shows. The sealed client secret and tokens are most of a row's bytes
/// and no listing shows them, so they are not read (nor decoded) for one.
#[derive(Debug, DerivePartialModel)]
#[sea_orm(entity = "connections::Entity")]
struct SummaryRow {
    id: uuid::Uuid,
    platform: String,
    account_id: i64,
    account_name: String,
    host: String,
    status: String,
    status_reason: Option<String>,
    connected_at: i64,
    access_expires_at: Option<i64>,
    last_refresh_at: Option<i64>,
    last_error: Option<String>,
    end_user_id: Option<String>,
    metadata: Option<String>,
}

impl SummaryRow {
    fn into_summary(self) -> Result<ConnectionSummary, StoreError> {
        Ok(ConnectionSummary {
            id: ConnectionId::from_uuid(self.id),
            platform: parse(&self.platform, "connection platform")?,
            account_id: self.account_id,
            account_name: self.account_name,
            host: self.host,
            status: parse(&self.status, "connection status")?,
            status_reason: self.status_reason,
            connected_at: from_millis(self.connected_at),
            access_expires_at: self.access_expires_at.map(from_millis),
            last_refresh_at: self.last_refresh_at.map(from_millis),
            last_error: self.last_error,
            end_user_id: self.end_user_id,
            metadata: metadata(self.metadata.as_deref(), "connection metadata")?,
        })
    }
}

/// End-user columns are written only when the new record has an end user, so reconnecting
/// through a plain button does not erase what a connect session attached.
fn attributed(value: Option<String>) -> sea_orm::ActiveValue<Option<String>> {
    match value {
        Some(v) => Set(Some(v)),
        None => NotSet,
    }
}

/// Whole seconds of a lifetime, as stored.
pub(crate) fn secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn search_text(record: &ConnectionRecord) -> String {
    format!("{} {}", record.account_name, record.host).to_lowercase()
}

/// Escapes `%`, `_` and `\` so user input matches literally inside a LIKE pattern.
fn like_literal(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[async_trait]
impl ConnectionRepository for Database {
    async fn connection_for_account(
        &self,
        workspace: WorkspaceId,
        platform: Platform,
        account_id: i64,
    ) -> Result<Option<ConnectionId>, StoreError> {
        let row = connections::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(Column::Platform.eq(platform.to_string()))
            .filter(Column::AccountId.eq(account_id))
            .into_tuple::<uuid::Uuid>()
            .one(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(row.map(ConnectionId::from_uuid))
    }

    async fn save_connection(
        &self,
        record: &ConnectionRecord,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let exists = connections::Entity::find_by_id(record.id.as_uuid())
            .filter(Column::WorkspaceId.eq(record.workspace.as_uuid()))
            .one(&txn)
            .await
            .map_err(store_error)?
            .is_some();
        let model = connections::ActiveModel {
            id: Set(record.id.as_uuid()),
            workspace_id: Set(record.workspace.as_uuid()),
            platform: Set(record.platform.to_string()),
            account_id: Set(record.account_id),
            account_name: Set(record.account_name.clone()),
            host: Set(record.host.clone()),
            search_text: Set(search_text(record)),
            api_domain: Set(record.api_domain.clone()),
            client_id: Set(record.client_id.clone()),
            client_secret: Set(record.client_secret.clone()),
            access_token: Set(record.access_token.clone()),
            refresh_token: Set(record.refresh_token.clone()),
            access_expires_at: Set(record.access_expires_at.map(to_millis)),
            access_lifetime_secs: Set(record.access_lifetime.map(secs)),
            token_call_at: Set(record.token_call.map(|call| to_millis(call.at))),
            token_call_refusal: Set(record.token_call.is_some_and(|call| call.after_refusal)),
            status: Set(record.status.as_str().to_owned()),
            status_reason: Set(record.status_reason.clone()),
            status_at: Set(to_millis(record.status_at)),
            connected_at: if exists {
                NotSet
            } else {
                Set(to_millis(record.connected_at))
            },
            last_refresh_at: Set(record.last_refresh_at.map(to_millis)),
            last_error: Set(record.last_error.clone()),
            refresh_failures: Set(record.refresh_failures),
            next_refresh_at: Set(record.next_refresh_at.map(to_millis)),
            lease_owner: Set(None),
            lease_until: Set(None),
            // A reconnect without an end user (a plain button) keeps the earlier attribution.
            end_user_id: attributed(record.end_user_id.clone()),
            metadata: attributed(record.metadata.as_ref().map(Metadata::to_json)),
            updated_at: Set(to_millis(record.status_at)),
        };
        if exists {
            connections::Entity::update(model)
                .exec(&txn)
                .await
                .map_err(store_error)?;
        } else {
            connections::Entity::insert(connections::ActiveModel {
                end_user_id: Set(record.end_user_id.clone()),
                metadata: Set(record.metadata.as_ref().map(Metadata::to_json)),
                ..model
            })
            .exec_without_returning(&txn)
            .await
            .map_err(store_error)?;
        }
        lifecycle::record(&txn, record.workspace, record.id, events).await?;
        txn.commit().await.map_err(store_error)
    }

    async fn list_connections(
        &self,
        workspace: WorkspaceId,
        filter: &ConnectionFilter,
        after: Option<PageCursor>,
        limit: u64,
    ) -> Result<Page<ConnectionSummary>, StoreError> {
        let mut condition = Condition::all().add(Column::WorkspaceId.eq(workspace.as_uuid()));
        if let Some(status) = filter.status {
            condition = condition.add(Column::Status.eq(status.as_str()));
        }
        if let Some(platform) = filter.platform {
            condition = condition.add(Column::Platform.eq(platform.to_string()));
        }
        if let Some(end_user) = &filter.end_user_id {
            condition = condition.add(Column::EndUserId.eq(end_user.as_str()));
        }
        let search = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(search) = search {
            let pattern = format!("%{}%", like_literal(&search.to_lowercase()));
            condition = condition
                .add(Expr::col(Column::SearchText).like(LikeExpr::new(pattern).escape('\\')));
        }
        if let Some(cursor) = after {
            // One row-value comparison is an index range on both engines; the equivalent
            // `a < x OR (a = x AND b < y)` is only a filter on PostgreSQL, which then walks every
            // row before the cursor, so deep pages got slower with depth.
            condition = condition.add(
                Expr::tuple([Expr::col(Column::ConnectedAt), Expr::col(Column::Id)]).lt(
                    Expr::tuple([
                        Expr::val(cursor.connected_at_ms),
                        Expr::val(cursor.id.as_uuid()),
                    ]),
                ),
            );
        }
        let query = if search.is_some() {
            // A `LIKE '%…%'` cannot seek, so a search examines the whole workspace. The listing
            // indexes carry `search_text`: choosing the page's ids from the index alone (an
            // index-only scan on PostgreSQL) and then reading just those rows avoids reading
            // every wide row (sealed tokens are most of a row's bytes).
            let ids = Query::select()
                .column(Column::Id)
                .from(connections::Entity)
                .cond_where(condition)
                .order_by(Column::ConnectedAt, Order::Desc)
                .order_by(Column::Id, Order::Desc)
                .limit(limit + 1)
                .to_owned();
            connections::Entity::find().filter(Column::Id.in_subquery(ids))
        } else {
            connections::Entity::find().filter(condition)
        };
        let mut rows = query
            .order_by_desc(Column::ConnectedAt)
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .into_partial_model::<SummaryRow>()
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more.then(|| rows.last()).flatten().map(|row| PageCursor {
            connected_at_ms: row.connected_at,
            id: ConnectionId::from_uuid(row.id),
        });
        let items = rows
            .into_iter()
            .map(SummaryRow::into_summary)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn connection(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        connections::Entity::find_by_id(id.as_uuid())
            .filter(Column::WorkspaceId.eq(workspace.as_uuid()))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(to_record)
            .transpose()
    }

    async fn events(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        limit: u64,
    ) -> Result<Vec<ConnectionEvent>, StoreError> {
        connection_events::Entity::find()
            .filter(connection_events::Column::WorkspaceId.eq(workspace.as_uuid()))
            .filter(connection_events::Column::ConnectionId.eq(id.as_uuid()))
            .order_by_desc(connection_events::Column::At)
            .limit(limit)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|row| {
                Ok(ConnectionEvent {
                    kind: parse(&row.kind, "connection event kind")?,
                    actor: row.actor,
                    detail: row.detail,
                    at: from_millis(row.at),
                })
            })
            .collect()
    }

    async fn change_status(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await.map_err(store_error)?;
        let moved = lifecycle::apply(&txn, &Target::in_workspace(workspace, id), change).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(moved)
    }

    async fn connections_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        connections::Entity::find()
            .filter(Column::ClientId.eq(client_id))
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(to_record)
            .collect()
    }
}
