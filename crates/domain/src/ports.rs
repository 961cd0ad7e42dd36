//! What the domain needs from storage. `persistence` implements these traits; every method that
//! touches tenant data takes the [`WorkspaceId`] first, and that id always comes from the
//! authenticated session, never from the request.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    StoreError,
    accounts::{Email, Member, NewAccount, Role},
    ids::{UserId, WorkspaceId},
};

/// A user row as needed to check a login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
}

#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Creates the workspace and its first user (the owner) atomically.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the email is already registered.
    async fn create_account(&self, account: &NewAccount, at: DateTime<Utc>)
    -> Result<(), StoreError>;

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;

    async fn member(&self, user: UserId) -> Result<Option<Member>, StoreError>;

    async fn set_password_hash(&self, user: UserId, hash: &str) -> Result<(), StoreError>;

    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<(Email, Role)>, StoreError>;

    /// Answers whether the database is reachable (used by `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Server-side web sessions. Keys are stored only as SHA-256 hex, so a database leak yields no
/// usable session cookie.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// The session state, unless missing or expired at `now`.
    async fn load(&self, key_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;

    async fn insert(
        &self,
        key_hash: &str,
        state: &str,
        user: Option<UserId>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Replaces the state; answers `false` when the session no longer exists.
    async fn update(
        &self,
        key_hash: &str,
        state: &str,
        user: Option<UserId>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn set_expiry(&self, key_hash: &str, expires_at: DateTime<Utc>)
    -> Result<(), StoreError>;

    async fn delete(&self, key_hash: &str) -> Result<(), StoreError>;

    /// Ends every session of a user (password change, account disabled).
    async fn delete_for_user(&self, user: UserId) -> Result<u64, StoreError>;

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
