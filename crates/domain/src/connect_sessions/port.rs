//! What connect sessions need from storage (used by nothing else, so defined here).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ConnectSession, NewConnectSession};
use crate::{
    StoreError,
    ids::{ConnectSessionId, WorkspaceId},
};

#[async_trait]
pub trait ConnectSessionRepository: Send + Sync {
    async fn insert_connect_session(&self, session: &NewConnectSession) -> Result<(), StoreError>;

    /// Public lookup by the token in `/connect/s/{token}` (its SHA-256 hex).
    async fn connect_session_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConnectSession>, StoreError>;

    /// Binds an unexpired session to the browser `binding_hash`, unless another browser already
    /// redeemed it; answers whether the session now belongs to this browser. A compare-and-set,
    /// so two browsers racing on one link cannot both win.
    async fn redeem_connect_session(
        &self,
        id: ConnectSessionId,
        binding_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Whether a flow started from this session (by the browser that redeemed it) made a
    /// connection.
    async fn connect_session_completed(&self, id: ConnectSessionId) -> Result<bool, StoreError>;

    /// How many of the workspace's sessions are still usable at `now` (not yet expired).
    async fn open_connect_session_count(
        &self,
        workspace: WorkspaceId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes sessions that expired before `before`.
    async fn purge_connect_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
