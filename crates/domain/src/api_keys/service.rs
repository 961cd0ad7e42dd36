//! Creating, listing, revoking and checking API keys.

use std::sync::Arc;

use super::{
    ApiKey, ApiKeyHasher, ApiKeyInput, ApiKeyRepository, ApiKeySecret, Caller, CreatedApiKey,
    NewApiKey,
    cache::{KeyCache, key_cache},
};
use crate::{
    Error, Message,
    audit::{Audit, AuditAction, AuditTarget, Principal, detail},
    clock::Clock,
    ids::{ApiKeyId, WorkspaceId},
};

/// A workspace may hold this many unrevoked keys; more is a sign of keys being minted per
/// request instead of configured once.
pub const MAX_KEYS_PER_WORKSPACE: u64 = 50;
/// `last_used_at` is written at most this often per key, so busy keys do not turn every API
/// call into a database write.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// The API keys of every workspace.
#[derive(Clone)]
pub struct ApiKeys {
    repo: Arc<dyn ApiKeyRepository>,
    hasher: Arc<ApiKeyHasher>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    /// Keys authenticated recently (see [`super::cache`] for the invalidation bound).
    cache: Arc<KeyCache>,
}

impl ApiKeys {
    /// Stops trusting every key this instance remembers (a workspace and its keys were
    /// deleted): immediate here, within `KEY_CACHE_TTL` on other instances.
    pub fn forget_cached(&self) {
        self.cache.clear();
    }

    #[must_use]
    pub fn new(
        repo: Arc<dyn ApiKeyRepository>,
        hasher: Arc<ApiKeyHasher>,
        clock: Arc<dyn Clock>,
        audit: Audit,
    ) -> Self {
        Self {
            repo,
            hasher,
            clock,
            audit,
            cache: Arc::new(key_cache(super::KEY_CACHE_TTL)),
        }
    }

    /// Reads a cached key again in the background, so a busy key keeps being found in the
    /// cache (see [`super::cache`]).
    fn renew_cached(&self, digest: String, hashes: Vec<String>) {
        let (cache, repo) = (self.cache.clone(), self.repo.clone());
        tokio::spawn(async move {
            let generation = cache.generation();
            match repo.api_key_by_hash(&hashes).await {
                Ok(Some(stored)) => cache.insert(generation, digest, stored),
                Ok(None) => cache.remove(&digest),
                Err(e) => tracing::warn!(error = %e, "could not renew a cached API key"),
            }
        });
    }

    /// Creates a key; the returned secret is the only copy there will ever be.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the workspace already has the maximum number of keys; storage
    /// failures.
    pub async fn create(
        &self,
        workspace: WorkspaceId,
        input: ApiKeyInput,
        by: &Principal,
    ) -> Result<CreatedApiKey, Error> {
        if self.repo.active_api_key_count(workspace).await? >= MAX_KEYS_PER_WORKSPACE {
            return Err(Error::Conflict(
                Message::new("api-keys-at-cap").with("max", MAX_KEYS_PER_WORKSPACE),
            ));
        }
        let secret = ApiKeySecret::mint();
        let digest = self.hasher.primary(&secret);
        let key = ApiKey {
            id: ApiKeyId::random(),
            workspace,
            name: input.name.as_str().to_owned(),
            scopes: input.scopes,
            prefix: secret.display_prefix(),
            created_at: self.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.repo
            .insert_api_key(&NewApiKey {
                key: key.clone(),
                key_hash: digest.hex,
                hash_key_id: digest.key_id,
            })
            .await?;
        tracing::info!(event = "api_key_created", workspace_id = %workspace, api_key_id = %key.id, scopes = %key.scopes.to_list(), "API key created");
        self.audit
            .record(
                Some(workspace),
                by,
                AuditAction::ApiKeyCreated,
                Some(AuditTarget::new("api_key", key.id, key.name.as_str())),
                Some(detail([
                    ("scopes", &key.scopes.to_list()),
                    ("prefix", &key.prefix),
                ])),
            )
            .await;
        Ok(CreatedApiKey { key, secret })
    }

    /// The workspace's keys, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>, Error> {
        Ok(self.repo.api_keys(workspace).await?)
    }

    /// Revokes a key at once; revoking twice is harmless.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not a key of this workspace.
    pub async fn revoke(
        &self,
        workspace: WorkspaceId,
        id: ApiKeyId,
        by: &Principal,
    ) -> Result<(), Error> {
        let key = self
            .repo
            .api_keys(workspace)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or(Error::NotFound)?;
        if self
            .repo
            .revoke_api_key(workspace, id, self.clock.now())
            .await?
        {
            // Immediate on this instance; other instances stop trusting their copy within
            // `KEY_CACHE_TTL`.
            self.cache.clear();
            tracing::info!(event = "api_key_revoked", workspace_id = %workspace, api_key_id = %id, "API key revoked");
            self.audit
                .record(
                    Some(workspace),
                    by,
                    AuditAction::ApiKeyRevoked,
                    Some(AuditTarget::new("api_key", id, key.name.as_str())),
                    Some(detail([("prefix", &key.prefix)])),
                )
                .await;
        }
        Ok(())
    }

    /// The caller behind a bearer value, or `None` for anything that is not a live key
    /// (malformed, unknown or revoked look the same from outside).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn authenticate(&self, raw: &str) -> Result<Option<Caller>, Error> {
        let Some(secret) = ApiKeySecret::parse(raw) else {
            tracing::warn!(
                event = "api_auth_failed",
                reason = "malformed",
                "API request with a malformed key"
            );
            return Ok(None);
        };
        let candidates = self.hasher.candidates(&secret);
        let Some(primary) = candidates.first() else {
            return Ok(None);
        };
        let hashes = || candidates.iter().map(|c| c.hex.clone()).collect::<Vec<_>>();
        let stored = match self.cache.lookup(&primary.hex) {
            Some((stored, renew)) => {
                if renew {
                    self.renew_cached(primary.hex.clone(), hashes());
                }
                stored
            }
            None => {
                let generation = self.cache.generation();
                let Some(stored) = self.repo.api_key_by_hash(&hashes()).await? else {
                    tracing::warn!(
                        event = "api_auth_failed",
                        reason = "unknown",
                        "API request with an unknown key"
                    );
                    return Ok(None);
                };
                self.cache
                    .insert(generation, primary.hex.clone(), stored.clone());
                stored
            }
        };
        let key = stored.key;
        if key.revoked_at.is_some() {
            tracing::warn!(event = "api_auth_failed", reason = "revoked", workspace_id = %key.workspace, api_key_id = %key.id, "API request with a revoked key");
            return Ok(None);
        }
        let now = self.clock.now();
        let stale_before = now - chrono::Duration::seconds(LAST_USED_RESOLUTION_SECS);
        if key.last_used_at.is_none_or(|at| at <= stale_before) {
            self.repo.touch_api_key(key.id, now, stale_before).await?;
            self.cache
                .update(&primary.hex, |s| s.key.last_used_at = Some(now));
        }
        if primary.hex != stored.key_hash {
            self.repo
                .rehash_api_key(key.id, &stored.key_hash, &primary.hex, &primary.key_id)
                .await?;
            self.cache
                .update(&primary.hex, |s| s.key_hash.clone_from(&primary.hex));
        }
        Ok(Some(Caller {
            key: key.id,
            workspace: key.workspace,
            name: key.name,
            scopes: key.scopes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use secrecy::SecretString;
    use std::time::Duration;

    use super::*;
    use crate::{
        StoreError,
        api_keys::{ApiScope, StoredApiKey},
        audit::{AuditCursor, AuditFilter, AuditPage, AuditStore, NewAuditEntry},
        clock::SystemClock,
        crypto::Keyring,
    };

    /// One key in memory; counts the lookups that reach "the database".
    #[derive(Default)]
    struct Store {
        key: Mutex<Option<StoredApiKey>>,
        lookups: AtomicUsize,
    }

    #[async_trait]
    impl ApiKeyRepository for Store {
        async fn insert_api_key(&self, key: &NewApiKey) -> Result<(), StoreError> {
            *self
                .key
                .lock()
                .map_err(|_| StoreError::Duplicate("poisoned"))? = Some(StoredApiKey {
                key: key.key.clone(),
                key_hash: key.key_hash.clone(),
            });
            Ok(())
        }

        async fn api_keys(&self, _: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
            let key = self
                .key
                .lock()
                .map_err(|_| StoreError::Duplicate("poisoned"))?;
            Ok(key.iter().map(|s| s.key.clone()).collect())
        }

        async fn active_api_key_count(&self, _: WorkspaceId) -> Result<u64, StoreError> {
            Ok(0)
        }

        async fn api_key_by_hash(
            &self,
            hashes: &[String],
        ) -> Result<Option<StoredApiKey>, StoreError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let key = self
                .key
                .lock()
                .map_err(|_| StoreError::Duplicate("poisoned"))?;
            Ok(key.clone().filter(|s| hashes.contains(&s.key_hash)))
        }

        async fn revoke_api_key(
            &self,
            _: WorkspaceId,
            _: ApiKeyId,
            at: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            let mut key = self
                .key
                .lock()
                .map_err(|_| StoreError::Duplicate("poisoned"))?;
            if let Some(stored) = key.as_mut() {
                stored.key.revoked_at = Some(at);
            }
            Ok(true)
        }

        async fn touch_api_key(
            &self,
            _: ApiKeyId,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            Ok(())
        }

        async fn rehash_api_key(
            &self,
            _: ApiKeyId,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[async_trait]
    impl AuditStore for Store {
        async fn insert_audit_entry(&self, _: &NewAuditEntry) -> Result<(), StoreError> {
            Ok(())
        }

        async fn audit_entries(
            &self,
            _: WorkspaceId,
            _: &AuditFilter,
            _: Option<AuditCursor>,
            _: u64,
        ) -> Result<AuditPage, StoreError> {
            Err(StoreError::Duplicate("not used"))
        }

        async fn purge_audit_entries(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn service(store: &Arc<Store>) -> ApiKeys {
        use base64::Engine as _;
        let spec = format!(
            "t1:{}",
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
        );
        let keyring = Keyring::parse(&SecretString::from(spec)).expect("the test key ring parses");
        let hasher = ApiKeyHasher::new(&keyring);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        ApiKeys::new(
            store.clone(),
            Arc::new(hasher),
            clock.clone(),
            Audit::new(store.clone(), clock),
        )
    }

    #[tokio::test]
    async fn a_busy_key_is_read_once_and_a_revocation_here_is_immediate() {
        let store = Arc::new(Store::default());
        let keys = service(&store);
        let workspace = WorkspaceId::random();
        let input = ApiKeyInput::parse("worker", &["read"]).map_err(|e| format!("{e:?}"));
        let created = keys
            .create(
                workspace,
                input.unwrap_or_else(|e| panic!("{e}")),
                &Principal::system(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let secret = created.secret.expose().to_owned();
        for _ in 0..5 {
            let caller = keys
                .authenticate(&secret)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(caller.is_some_and(|c| c.may(ApiScope::Read)));
        }
        assert_eq!(
            store.lookups.load(Ordering::SeqCst),
            1,
            "one database read for five requests"
        );
        keys.revoke(workspace, created.key.id, &Principal::system())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            keys.authenticate(&secret)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none(),
            "refused at once on the instance that revoked it"
        );
    }

    #[tokio::test]
    async fn a_cached_key_is_read_again_after_the_bound() {
        let store = Arc::new(Store::default());
        let keys = ApiKeys {
            cache: Arc::new(key_cache(Duration::from_millis(30))),
            ..service(&store)
        };
        let workspace = WorkspaceId::random();
        let input = ApiKeyInput::parse("worker", &["read"]).map_err(|e| format!("{e:?}"));
        let created = keys
            .create(
                workspace,
                input.unwrap_or_else(|e| panic!("{e}")),
                &Principal::system(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let secret = created.secret.expose().to_owned();
        assert!(keys.authenticate(&secret).await.is_ok_and(|c| c.is_some()));
        // Revoked by "another instance": straight in the database, this cache not told.
        store
            .revoke_api_key(workspace, created.key.id, Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(
            keys.authenticate(&secret).await.is_ok_and(|c| c.is_none()),
            "refused once the bound has passed"
        );
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }
}
