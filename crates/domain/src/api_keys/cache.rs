//! The API keys this instance authenticated recently, so a busy key costs no database read per
//! request.
//!
//! Invalidation: an entry is trusted for at most [`KEY_CACHE_TTL`] after it was read from the
//! database; after that the next request reads the key again. That is the bound within which a
//! revocation (or a workspace deletion) made on another instance reaches this one. A revocation
//! made on this instance empties the cache at once, so it is immediate here. Unknown keys are
//! never cached: a key created anywhere works on every instance at its first use.
//!
//! The entries are keyed by the primary lookup digest (an HMAC of the secret), never by the
//! secret itself.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::sync::Cache;

use super::StoredApiKey;

/// How long a key read from the database is trusted without reading it again: the bound for a
/// revocation on another instance to take effect here.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// Keys kept at most; the least recently used go first.
const CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Entry {
    stored: StoredApiKey,
    read_at: Instant,
    /// Set by the first use past half the trust period, which reads the key again in the
    /// background: a busy key's entry is renewed before it runs out (the bound is unchanged).
    renewing: Arc<AtomicBool>,
}

/// A bounded map from lookup digest to the stored key, with a trust period.
pub(super) struct KeyCache {
    entries: Cache<String, Entry>,
    ttl: Duration,
    /// Bumped by every [`KeyCache::clear`]: a read that began before a revocation on this
    /// instance must not put back what the revocation cleared.
    generation: AtomicU64,
}

impl KeyCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            entries: Cache::new(CAPACITY),
            ttl,
            generation: AtomicU64::new(0),
        }
    }

    /// The stored key for `digest` if it was read from the database within the trust period.
    #[cfg(test)]
    pub(super) fn get(&self, digest: &str) -> Option<StoredApiKey> {
        self.lookup(digest).map(|(stored, _)| stored)
    }

    /// [`Self::get`], and whether the caller should read the key again (the first use past
    /// half the trust period).
    pub(super) fn lookup(&self, digest: &str) -> Option<(StoredApiKey, bool)> {
        let entry = self.entries.get(digest)?;
        let age = entry.read_at.elapsed();
        if age >= self.ttl {
            self.entries.remove(digest);
            return None;
        }
        let renew = age >= self.ttl / 2 && !entry.renewing.swap(true, Ordering::AcqRel);
        Some((entry.stored, renew))
    }

    /// Forgets one key (read again and found gone).
    pub(super) fn remove(&self, digest: &str) {
        self.entries.remove(digest);
    }

    /// Where the cache stands before a database read; see [`KeyCache::insert`].
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a key read from the database by a read that began at `generation`, unless the
    /// cache was cleared since (the read may predate a revocation).
    pub(super) fn insert(&self, generation: u64, digest: String, stored: StoredApiKey) {
        if self.generation() != generation {
            return;
        }
        self.entries.insert(
            digest,
            Entry {
                stored,
                read_at: Instant::now(),
                renewing: Arc::default(),
            },
        );
    }

    /// Updates what is known of a cached key (its `last_used_at` or hash) without extending
    /// its trust period.
    pub(super) fn update(&self, digest: &str, change: impl FnOnce(&mut StoredApiKey)) {
        if let Some(mut entry) = self.entries.get(digest) {
            change(&mut entry.stored);
            self.entries.insert(digest.to_owned(), entry);
        }
    }

    /// Forgets every key (after a revocation on this instance; revocations are rare).
    pub(super) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{
        api_keys::{ApiKey, ApiScopes},
        ids::{ApiKeyId, WorkspaceId},
    };

    fn stored() -> StoredApiKey {
        StoredApiKey {
            key: ApiKey {
                id: ApiKeyId::random(),
                workspace: WorkspaceId::random(),
                name: "k".into(),
                scopes: ApiScopes::default(),
                prefix: "alk_x".into(),
                created_at: Utc::now(),
                last_used_at: None,
                revoked_at: None,
            },
            key_hash: "h".into(),
        }
    }

    #[test]
    fn an_entry_is_trusted_only_within_its_period() {
        let cache = KeyCache::new(Duration::from_millis(50));
        cache.insert(cache.generation(), "d".into(), stored());
        assert!(cache.get("d").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("d").is_none(), "expired entries are read again");
    }

    #[test]
    fn the_first_use_past_half_the_period_and_only_it_renews() {
        let cache = KeyCache::new(Duration::from_millis(100));
        cache.insert(cache.generation(), "d".into(), stored());
        assert_eq!(cache.lookup("d").map(|(_, renew)| renew), Some(false));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.lookup("d").map(|(_, renew)| renew), Some(true));
        assert_eq!(cache.lookup("d").map(|(_, renew)| renew), Some(false));
        cache.insert(cache.generation(), "d".into(), stored());
        assert_eq!(
            cache.lookup("d").map(|(_, renew)| renew),
            Some(false),
            "a renewed entry starts a new period"
        );
    }

    #[test]
    fn clearing_forgets_every_key_and_updates_keep_the_period() {
        let cache = KeyCache::new(Duration::from_secs(60));
        cache.insert(cache.generation(), "d".into(), stored());
        let now = Utc::now();
        cache.update("d", |s| s.key.last_used_at = Some(now));
        assert_eq!(cache.get("d").and_then(|s| s.key.last_used_at), Some(now));
        cache.update("absent", |s| s.key.last_used_at = Some(now));
        assert!(cache.get("absent").is_none(), "update never inserts");
        cache.clear();
        assert!(cache.get("d").is_none());
    }

    #[test]
    fn a_read_that_began_before_a_clear_is_not_cached() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let before = cache.generation();
        cache.clear();
        cache.insert(before, "d".into(), stored());
        assert!(cache.get("d").is_none());
    }
}
