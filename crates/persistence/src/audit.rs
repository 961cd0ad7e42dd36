//! The audit trail and the development mail outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    audit::{AuditCursor, AuditEntry, AuditFilter, AuditPage, AuditStore, NewAuditEntry},
    ids::WorkspaceId,
    mail::{MailOutbox, OutboxMail},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use crate::{
    Database,
    database::store_error,
    entities::{
        audit_events::{self, Column},
        mail_outbox,
    },
    time::{from_millis, to_millis},
};

fn to_entry(row: audit_events::Model) -> AuditEntry {
    AuditEntry {
        id: row.id,
        at: from_millis(row.at),
        action: row.action,
        actor_kind: row.actor_kind,
        actor_id: row.actor_id,
        actor_label: row.actor_label,
        target_kind: row.target_kind,
        target_id: row.target_id,
        target_label: row.target_label,
        client_ip: row.client_ip,
        // Written by us as a JSON object; anything else is dropped rather than failing the page.
        detail: row
            .detail
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw).ok()),
    }
}

#[async_trait]
impl AuditStore for Database {
    async fn insert_audit_entry(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        let actor = &entry.principal.actor;
        let clip = |value: &str, max: usize| value.chars().take(max).collect::<String>();
        audit_events::Entity::insert(audit_events::ActiveModel {
            // Time-ordered (UUIDv7, monotonic within the process): entries recorded in the same
            // millisecond still list in the order they happened.
            id: Set(uuid::Uuid::now_v7()),
            workspace_id: Set(entry.workspace.map(|w| w.as_uuid())),
            at: Set(to_millis(entry.at)),
            action: Set(entry.action.as_str().to_owned()),
            actor_kind: Set(actor.kind().to_owned()),
            actor_id: Set(actor.id()),
            actor_label: Set(clip(actor.label(), 320)),
            target_kind: Set(entry.target.as_ref().map(|t| t.kind.to_owned())),
            target_id: Set(entry.target.as_ref().map(|t| clip(&t.id, 64))),
            target_label: Set(entry.target.as_ref().map(|t| clip(&t.label, 320))),
            client_ip: Set(entry.principal.client.map(|ip| ip.to_string())),
            detail: Set(entry
                .detail
                .as_ref()
                .map(|d| serde_json::Value::Object(d.clone()).to_string())),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn audit_entries(
        &self,
        workspace: WorkspaceId,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u64,
    ) -> Result<AuditPage, StoreError> {
        let mut query =
            audit_events::Entity::find().filter(Column::WorkspaceId.eq(workspace.as_uuid()));
        if let Some(action) = filter.action {
            query = query.filter(Column::Action.eq(action.as_str()));
        }
        if let Some(actor) = filter.actor.as_deref() {
            query = query.filter(
                Condition::any()
                    .add(Column::ActorLabel.eq(actor))
                    .add(Column::ActorId.eq(actor)),
            );
        }
        if let Some(since) = filter.since {
            query = query.filter(Column::At.gte(to_millis(since)));
        }
        if let Some(until) = filter.until {
            query = query.filter(Column::At.lt(to_millis(until)));
        }
        if let Some(cursor) = after {
            query = query.filter(
                Condition::any().add(Column::At.lt(cursor.at_ms)).add(
                    Condition::all()
                        .add(Column::At.eq(cursor.at_ms))
                        .add(Column::Id.lt(cursor.id)),
                ),
            );
        }
        let mut rows = query
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more.then(|| rows.last()).flatten().map(|last| AuditCursor {
            at_ms: last.at,
            id: last.id,
        });
        Ok(AuditPage {
            items: rows.into_iter().map(to_entry).collect(),
            next,
        })
    }

    async fn purge_audit_entries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = audit_events::Entity::delete_many()
            .filter(Column::At.lt(to_millis(before)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}

#[async_trait]
impl MailOutbox for Database {
    async fn store_mail(&self, mail: &OutboxMail) -> Result<(), StoreError> {
        mail_outbox::Entity::insert(mail_outbox::ActiveModel {
            id: Set(mail.id),
            workspace_id: Set(mail.workspace.map(|w| w.as_uuid())),
            to_address: Set(mail.to.clone()),
            subject: Set(mail.subject.chars().take(255).collect()),
            body: Set(mail.body.clone()),
            created_at: Set(to_millis(mail.created_at)),
        })
        .exec_without_returning(&self.conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn outbox(&self, limit: u64) -> Result<Vec<OutboxMail>, StoreError> {
        Ok(mail_outbox::Entity::find()
            .order_by_desc(mail_outbox::Column::CreatedAt)
            .order_by_desc(mail_outbox::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|row| OutboxMail {
                id: row.id,
                workspace: row.workspace_id.map(WorkspaceId::from_uuid),
                to: row.to_address,
                subject: row.subject,
                body: row.body,
                created_at: from_millis(row.created_at),
            })
            .collect())
    }

    async fn purge_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::CreatedAt.lt(to_millis(before)))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected)
    }
}
