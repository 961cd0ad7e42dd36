use async_trait::async_trait;

use super::Ledger;
use crate::{StoreError, ids::ConnectionId};

/// What the governor needs from storage: the connection's [`Ledger`], changed atomically with
/// respect to every instance sharing the database.
#[async_trait]
pub trait RateLedgerStore: Send + Sync {
    /// Locks the connection's ledger (creating an empty one if it has none), calls `change` with
    /// it and the database's current time in unix milliseconds, stores it if `change` answers
    /// `true`, and releases the lock — all in one transaction, so no other instance can reserve
    /// in between. `change` must not block: it runs while the lock is held.
    async fn update_ledger(
        &self,
        connection: ConnectionId,
        change: &mut (dyn for<'l> FnMut(&'l mut Ledger, i64) -> bool + Send),
    ) -> Result<(), StoreError>;
}
