//! What this instance read from the database recently, trusted from memory for a fixed period:
//! the rule behind the API-key and connection caches (`api_keys::cache`, `connections::cache`).
//!
//! - **The bound.** An entry is trusted for at most the cache's period after it was read; then
//!   the next use reads the database again. That is how long a change made on another instance
//!   may go unseen here.
//! - **Local changes are immediate.** Forgetting an entry (or clearing the cache) also bumps a
//!   generation, and a read that began before the bump does not put its result back: it may
//!   predate the change.
//! - **Busy entries do not run out.** The first use past half the period is told to read the
//!   entry again (once per entry; the caller does it off the request path), so an entry in use
//!   is renewed before its period ends — without ever being used past it.
//!
//! Hand-written on top of `quick_cache` (bounded, least recently used out first) because the
//! generation guard and the renewal signal are what make its invalidation bound hold; a cache
//! crate's time-to-live alone gives neither.

use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::{Equivalent, sync::Cache};

#[derive(Clone)]
struct Entry<V> {
    value: V,
    read_at: Instant,
    /// Set by the first use past half the period (see the module documentation).
    renewing: Arc<AtomicBool>,
}

/// A bounded map whose entries are trusted for a fixed period; see the module documentation.
pub struct TrustedCache<K, V> {
    entries: Cache<K, Entry<V>>,
    ttl: Duration,
    generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> TrustedCache<K, V> {
    /// Entries are trusted for `ttl`; at most `capacity` are kept.
    #[must_use]
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity),
            ttl,
            generation: AtomicU64::new(0),
        }
    }

    /// The value for `key` if it was read within the period.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entry(key).map(|entry| entry.value)
    }

    /// [`Self::get`], and whether the caller should read the value again (the first use past
    /// half the period).
    pub fn lookup<Q>(&self, key: &Q) -> Option<(V, bool)>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.entry(key)?;
        let renew =
            entry.read_at.elapsed() >= self.ttl / 2 && !entry.renewing.swap(true, Ordering::AcqRel);
        Some((entry.value, renew))
    }

    fn entry<Q>(&self, key: &Q) -> Option<Entry<V>>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.entries.get(key)?;
        if entry.read_at.elapsed() >= self.ttl {
            self.entries.remove(key);
            return None;
        }
        Some(entry)
    }

    /// Where the cache stands before a database read; see [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a value read by a read that began at `generation`, unless something was
    /// forgotten since (the read may predate that change). Its period starts now.
    pub fn insert(&self, generation: u64, key: K, value: V) {
        if self.generation() != generation {
            return;
        }
        self.entries.insert(
            key,
            Entry {
                value,
                read_at: Instant::now(),
                renewing: Arc::default(),
            },
        );
    }

    /// Updates what is known of a cached value without extending its period.
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(mut entry) = self.entries.get(key) {
            change(&mut entry.value);
            self.entries.insert(key.to_owned(), entry);
        }
    }

    /// Drops one entry (read again and found gone); reads in flight may still put it back.
    pub fn remove<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.entries.remove(key);
    }

    /// Forgets one entry this instance changed: no read that began before comes back.
    pub fn forget<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(key);
    }

    /// Forgets every entry, the same way.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}
