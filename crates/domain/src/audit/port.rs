//! What the audit trail needs from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditCursor, AuditFilter, AuditPage, NewAuditEntry};
use crate::{StoreError, ids::WorkspaceId};

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_entry(&self, entry: &NewAuditEntry) -> Result<(), StoreError>;

    /// The workspace's entries, newest first.
    async fn audit_entries(
        &self,
        workspace: WorkspaceId,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u64,
    ) -> Result<AuditPage, StoreError>;

    /// Deletes entries recorded before `before` (retention).
    async fn purge_audit_entries(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
