//! Online re-encryption of every sealed value under the primary master key
//! (`amolink keys rotate`).
//!
//! Each value is re-sealed and written back with a compare-and-set on its old ciphertext, so a
//! concurrent write (a refresh, a revoke) is never overwritten with stale data: the row is simply
//! left for the writer, which already sealed under the primary key. Every row is independent,
//! so the job can be interrupted and run again at any time.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::{
    Error, StoreError,
    crypto::{Binding, Keyring},
    ids::WorkspaceId,
};

/// One sealed column value as stored.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub table: &'static str,
    pub row: Uuid,
    pub workspace: WorkspaceId,
    /// The storage column, e.g. `access_token`.
    pub column: &'static str,
    /// The column name bound into the ciphertext, e.g. `connections.access_token`.
    pub binding_column: &'static str,
    pub sealed: String,
}

/// Storage access for rotation.
#[async_trait]
pub trait SealedValues: Send + Sync {
    /// Sealed values of rows with id greater than `after` (in id order, one table after the
    /// other), at most `limit` rows' worth. `None` for `after` starts at the beginning.
    async fn sealed_after(
        &self,
        table: &'static str,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<SealedValue>, StoreError>;

    /// Replaces `value.sealed` with `resealed` unless the column changed meanwhile.
    async fn replace_sealed(&self, value: &SealedValue, resealed: &str)
    -> Result<bool, StoreError>;

    /// The tables holding sealed values.
    fn sealed_tables(&self) -> &'static [&'static str];
}

/// What a rotation run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub examined: u64,
    pub resealed: u64,
    /// Changed by someone else between read and write (they sealed it under the primary key).
    pub changed_meanwhile: u64,
    /// Could not be opened with any key in the ring: corrupt or sealed under a removed key.
    pub unreadable: u64,
}

/// Re-seals every value not under the primary key.
///
/// # Errors
/// Storage failures (the run can simply be repeated).
pub async fn rotate(
    store: &Arc<dyn SealedValues>,
    keyring: &Keyring,
) -> Result<RotationReport, Error> {
    const BATCH: u64 = 500;
    let mut report = RotationReport::default();
    for table in store.sealed_tables() {
        let mut after = None;
        loop {
            let batch = store.sealed_after(table, after, BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.row);
            for value in batch.iter().filter(|v| !v.sealed.is_empty()) {
                report.examined += 1;
                let binding = Binding {
                    workspace: value.workspace,
                    row: value.row,
                    column: value.binding_column,
                };
                match keyring.reseal(&value.sealed, &binding) {
                    Ok(None) => {}
                    Ok(Some(resealed)) => {
                        if store.replace_sealed(value, &resealed).await? {
                            report.resealed += 1;
                        } else {
                            report.changed_meanwhile += 1;
                        }
                    }
                    Err(e) => {
                        report.unreadable += 1;
                        tracing::error!(table, row = %value.row, column = value.column, error = %e, "a sealed value cannot be opened");
                    }
                }
            }
        }
    }
    tracing::info!(
        event = "key_rotation",
        primary = keyring.primary_id(),
        examined = report.examined,
        resealed = report.resealed,
        changed_meanwhile = report.changed_meanwhile,
        unreadable = report.unreadable,
        "key rotation finished"
    );
    Ok(report)
}
