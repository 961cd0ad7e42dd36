//! Creating, listing, revoking and checking API keys.

use std::sync::Arc;

use super::{
    ApiKey, ApiKeyHasher, ApiKeyInput, ApiKeyRepository, ApiKeySecret, Caller, CreatedApiKey,
    NewApiKey,
};
use crate::{
    Error,
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
}

impl ApiKeys {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ApiKeyRepository>,
        hasher: Arc<ApiKeyHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            hasher,
            clock,
        }
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
    ) -> Result<CreatedApiKey, Error> {
        if self.repo.active_api_key_count(workspace).await? >= MAX_KEYS_PER_WORKSPACE {
            return Err(Error::Conflict(
                "this workspace already has 50 API keys; revoke unused ones first",
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
    pub async fn revoke(&self, workspace: WorkspaceId, id: ApiKeyId) -> Result<(), Error> {
        let exists = self
            .repo
            .api_keys(workspace)
            .await?
            .iter()
            .any(|k| k.id == id);
        if !exists {
            return Err(Error::NotFound);
        }
        if self
            .repo
            .revoke_api_key(workspace, id, self.clock.now())
            .await?
        {
            tracing::info!(event = "api_key_revoked", workspace_id = %workspace, api_key_id = %id, "API key revoked");
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
        let hashes: Vec<String> = candidates.iter().map(|c| c.hex.clone()).collect();
        let Some(stored) = self.repo.api_key_by_hash(&hashes).await? else {
            tracing::warn!(
                event = "api_auth_failed",
                reason = "unknown",
                "API request with an unknown key"
            );
            return Ok(None);
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
        }
        if let Some(primary) = candidates.first()
            && primary.hex != stored.key_hash
        {
            self.repo
                .rehash_api_key(key.id, &stored.key_hash, &primary.hex, &primary.key_id)
                .await?;
        }
        Ok(Some(Caller {
            key: key.id,
            workspace: key.workspace,
            name: key.name,
            scopes: key.scopes,
        }))
    }
}
