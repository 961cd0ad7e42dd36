//! A connection's health as the proxy observes it: amoCRM blocking the integration, and
//! answering again afterwards.

use async_trait::async_trait;

use crate::{
    StoreError,
    connections::StatusChange,
    ids::{ConnectionId, WorkspaceId},
};

/// The status changes the proxy makes. Each is a compare-and-set that writes its event in the
/// same transaction, and only when the status really changed.
#[async_trait]
pub trait ConnectionHealthStore: Send + Sync {
    /// [`Transition::RateLimit`](crate::connections::Transition::RateLimit); answers whether
    /// the status changed.
    async fn mark_rate_limited(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        change: &StatusChange,
    ) -> Result<bool, StoreError>;

    /// [`Transition::Resume`](crate::connections::Transition::Resume), unless its refreshes
    /// are failing (then the keeper owns the status); answers whether it changed.
    async fn clear_rate_limited(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        change: &StatusChange,
    ) -> Result<bool, StoreError>;
}
