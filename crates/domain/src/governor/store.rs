use async_trait::async_trait;

use super::{Budget, Integration};
use crate::StoreError;

/// What the governor needs from storage: the integration's [`Budget`], changed atomically with
/// respect to every instance sharing the database.
#[async_trait]
pub trait RateBudgetStore: Send + Sync {
    /// Locks the integration's budget (creating an empty one if it has none), calls `change`
    /// with it and the database's current time in unix milliseconds, stores it if `change`
    /// answers `true`, and releases the lock — all in one transaction, so no other instance can
    /// take a share in between. `change` must not block: it runs while the lock is held.
    async fn update_budget(
        &self,
        integration: &Integration,
        change: &mut (dyn for<'b> FnMut(&'b mut Budget, i64) -> bool + Send),
    ) -> Result<(), StoreError>;
}
