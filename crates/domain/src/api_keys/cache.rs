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

use std::time::Duration;

use super::StoredApiKey;
use crate::trusted_cache::TrustedCache;

/// How long a key read from the database is trusted without reading it again: the bound for a
/// revocation on another instance to take effect here.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// Keys kept at most; the least recently used go first.
const CAPACITY: usize = 10_000;

/// A bounded map from lookup digest to the stored key, trusted for a period (see
/// [`TrustedCache`]); revoking a key on this instance clears it.
pub(super) type KeyCache = TrustedCache<String, StoredApiKey>;

/// A key cache trusting its entries for `ttl`.
pub(super) fn key_cache(ttl: Duration) -> KeyCache {
    TrustedCache::new(ttl, CAPACITY)
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
        let cache = key_cache(Duration::from_millis(50));
        cache.insert(cache.generation(), "d".into(), stored());
        assert!(cache.get("d").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("d").is_none(), "expired entries are read again");
    }

    #[test]
    fn the_first_use_past_half_the_period_and_only_it_renews() {
        let cache = key_cache(Duration::from_millis(100));
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
        let cache = key_cache(Duration::from_secs(60));
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
        let cache = key_cache(Duration::from_secs(60));
        let before = cache.generation();
        cache.clear();
        cache.insert(before, "d".into(), stored());
        assert!(cache.get("d").is_none());
    }
}
