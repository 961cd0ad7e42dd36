//! What the API-key service needs from storage. Defined here rather than in `ports.rs` because
//! nothing else uses it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ApiKey, NewApiKey, StoredApiKey};
use crate::{
    StoreError,
    ids::{ApiKeyId, WorkspaceId},
};

#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    async fn insert_api_key(&self, key: &NewApiKey) -> Result<(), StoreError>;

    /// The workspace's keys, revoked ones included, newest first.
    async fn api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>, StoreError>;

    /// How many unrevoked keys the workspace has.
    async fn active_api_key_count(&self, workspace: WorkspaceId) -> Result<u64, StoreError>;

    /// The key whose stored hash is one of `hashes` (one indexed query). This lookup crosses
    /// workspaces by nature: the key is what tells which workspace is calling.
    async fn api_key_by_hash(&self, hashes: &[String]) -> Result<Option<StoredApiKey>, StoreError>;

    /// Marks the key revoked unless it already is; answers whether this call revoked it.
    async fn revoke_api_key(
        &self,
        workspace: WorkspaceId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Sets `last_used_at = at` unless it is already later than `stale_before` (a conditional
    /// update, so instances racing on the same key write once).
    async fn touch_api_key(
        &self,
        id: ApiKeyId,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Replaces the stored hash (after a master-key rotation) if it is still `old_hash`.
    async fn rehash_api_key(
        &self,
        id: ApiKeyId,
        old_hash: &str,
        new_hash: &str,
        hash_key_id: &str,
    ) -> Result<(), StoreError>;
}
