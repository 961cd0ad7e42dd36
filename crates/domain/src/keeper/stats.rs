use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::ids::ConnectionId;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct KeeperStats {
    refreshed: AtomicU64,
    takeovers: AtomicU64,
    /// Refreshes wanted but not made because the interval rule forbade them.
    refused_by_policy: AtomicU64,
    /// Calls to amoCRM's token endpoint this instance made, per connection. One entry per
    /// connection this instance refreshed since it started.
    calls: Mutex<HashMap<ConnectionId, u64>>,
    /// reason → count
    failed: Mutex<BTreeMap<&'static str, u64>>,
}

impl KeeperStats {
    pub(crate) fn refreshed(&self) {
        self.refreshed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_call(&self, id: ConnectionId) {
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default() += 1;
    }

    pub(crate) fn refused_by_policy(&self) {
        self.refused_by_policy.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn takeover(&self) {
        self.takeovers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, reason: &'static str) {
        *self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_default() += 1;
    }

    #[must_use]
    pub fn refreshed_total(&self) -> u64 {
        self.refreshed.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn refused_by_policy_total(&self) -> u64 {
        self.refused_by_policy.load(Ordering::Relaxed)
    }

    /// Token-endpoint calls per connection, sorted by connection id.
    #[must_use]
    pub fn token_calls(&self) -> Vec<(ConnectionId, u64)> {
        let mut calls: Vec<_> = self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, count)| (*id, *count))
            .collect();
        calls.sort_unstable_by_key(|(id, _)| id.as_uuid());
        calls
    }

    #[must_use]
    pub fn takeovers_total(&self) -> u64 {
        self.takeovers.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn failures(&self) -> BTreeMap<&'static str, u64> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
