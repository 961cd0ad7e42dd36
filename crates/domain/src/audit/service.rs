//! Recording and reading the trail.

use std::{sync::Arc, time::Duration};

use serde_json::{Map, Value};

use super::{
    AuditAction, AuditCursor, AuditFilter, AuditPage, AuditStore, AuditTarget, NewAuditEntry,
    Principal,
};
use crate::{Error, clock::Clock, ids::WorkspaceId};

/// The largest page a listing returns.
pub const MAX_AUDIT_PAGE: u64 = 200;

/// The audit trail of every workspace.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
}

impl Audit {
    #[must_use]
    pub fn new(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Records that `principal` did `action` in `workspace`.
    ///
    /// Called after the action succeeded. A failure to record does not undo the action (it
    /// happened); it is logged as an error for operators, with the action and workspace so the
    /// gap can be reconstructed.
    pub async fn record(
        &self,
        workspace: Option<WorkspaceId>,
        principal: &Principal,
        action: AuditAction,
        target: Option<AuditTarget>,
        detail: Option<Map<String, Value>>,
    ) {
        let entry = NewAuditEntry {
            workspace,
            at: self.clock.now(),
            action,
            principal: principal.clone(),
            target,
            detail,
        };
        if let Err(e) = self.store.insert_audit_entry(&entry).await {
            tracing::error!(error = %e, action = action.as_str(), workspace_id = ?workspace.map(|w| w.to_string()), "could not record an audit entry");
        }
    }

    /// One page of the workspace's trail, newest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed cursor; storage failures.
    pub async fn list(
        &self,
        workspace: WorkspaceId,
        filter: &AuditFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<AuditPage, Error> {
        let after = cursor.map(AuditCursor::decode).transpose()?;
        Ok(self
            .store
            .audit_entries(workspace, filter, after, limit.clamp(1, MAX_AUDIT_PAGE))
            .await?)
    }

    /// Deletes entries older than `retention`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge(&self, retention: Duration) -> Result<u64, Error> {
        let keep = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(365));
        Ok(self
            .store
            .purge_audit_entries(self.clock.now() - keep)
            .await?)
    }
}
