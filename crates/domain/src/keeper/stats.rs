use std::{
    collections::BTreeMap,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct KeeperStats {
    refreshed: AtomicU64,
    takeovers: AtomicU64,
    /// reason → count
    failed: Mutex<BTreeMap<&'static str, u64>>,
}

impl KeeperStats {
    pub(crate) fn refreshed(&self) {
        self.refreshed.fetch_add(1, Ordering::Relaxed);
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
