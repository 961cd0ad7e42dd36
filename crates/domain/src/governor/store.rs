use async_trait::async_trait;

use super::{Budget, Integration};
use crate::StoreError;

/// What the governor needs from storage: the integration's [`Budget`], changed atomically with
/// respect to every instance sharing the database.
#[async_trait]
pub trait RateBudgetStore: Send + Sync {
    /// Changes the integration's budget (an empty one if it has none) atomically with respect to
    /// every instance: calls `change` with it and the database's current time in unix
    /// milliseconds, and stores it if `change` answers `true` — unless another instance changed
    /// the budget in between, in which case `change` is called again with the new one. So
    /// `change` may run more than once; what it saw last is what was stored. It must not block
    /// (it may run while a lock is held).
    async fn update_budget(
        &self,
        integration: &Integration,
        change: &mut (dyn for<'b> FnMut(&'b mut Budget, i64) -> bool + Send),
    ) -> Result<(), StoreError>;
}
