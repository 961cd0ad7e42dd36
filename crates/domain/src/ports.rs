//! What the domain needs from storage. `persistence` implements these traits; every method that
//! touches tenant data takes the [`WorkspaceId`] first, and that id always comes from the
//! authenticated session, never from the request.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use amocrm::Platform;

use crate::{
    StoreError,
    accounts::{Email, Member, NewAccount, Preferences},
    connect::{Button, ButtonKey, ButtonSettings, Flow, FlowOutcome, NewFlow},
    connections::{
        ConnectionEvent, ConnectionFilter, ConnectionRecord, ConnectionSummary, NewEvent, Page,
        PageCursor, StatusChange,
    },
    ids::{ButtonId, ConnectionId, FlowId, UserId, WorkspaceId},
    teams::NewWorkspace,
};

/// A user row as needed to check a login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
}

#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Creates the workspace, its first user and their owner membership atomically.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the email is already registered.
    async fn create_account(
        &self,
        account: &NewAccount,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Creates a workspace owned by an existing user, with its first button.
    async fn create_workspace(
        &self,
        workspace: &NewWorkspace,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;

    /// The user as a member of `workspace`, unless they do not belong to it (or it is being
    /// deleted).
    async fn member(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<Option<Member>, StoreError>;

    /// The user as a member of the workspace they joined first, if any.
    async fn first_member(&self, user: UserId) -> Result<Option<Member>, StoreError>;

    async fn user_email(&self, user: UserId) -> Result<Option<Email>, StoreError>;

    async fn set_password_hash(&self, user: UserId, hash: &str) -> Result<(), StoreError>;

    /// The user's interface preferences (none chosen: the default).
    async fn preferences(&self, user: UserId) -> Result<Preferences, StoreError>;

    async fn set_preferences(
        &self,
        user: UserId,
        preferences: &Preferences,
    ) -> Result<(), StoreError>;

    /// Answers whether the database is reachable (used by `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Server-side web sessions. Keys are stored only as SHA-256 hex, so a database leak yields no
/// usable session cookie.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// The session state, unless missing or expired at `now`.
    async fn load(&self, key_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;

    /// `user` and `workspace` mirror the signed-in user and their current workspace (from the
    /// state), so all of a user's sessions, or those in one workspace, can be ended at once.
    async fn insert(
        &self,
        key_hash: &str,
        state: &str,
        user: Option<UserId>,
        workspace: Option<WorkspaceId>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Replaces the state; answers `false` when the session no longer exists.
    async fn update(
        &self,
        key_hash: &str,
        state: &str,
        user: Option<UserId>,
        workspace: Option<WorkspaceId>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn set_expiry(&self, key_hash: &str, expires_at: DateTime<Utc>)
    -> Result<(), StoreError>;

    async fn delete(&self, key_hash: &str) -> Result<(), StoreError>;

    /// Ends every session of a user (password change, account disabled).
    async fn delete_for_user(&self, user: UserId) -> Result<u64, StoreError>;

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Connect buttons.
#[async_trait]
pub trait ButtonRepository: Send + Sync {
    async fn buttons(&self, workspace: WorkspaceId) -> Result<Vec<Button>, StoreError>;

    /// Public lookup by the key in `/connect/{key}`.
    async fn button_by_key(&self, key: &ButtonKey) -> Result<Option<Button>, StoreError>;

    async fn insert_button(&self, button: &Button, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Replaces the settings of the workspace's button `id` (its key stays). Answers whether
    /// the button exists in that workspace.
    async fn update_button(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
        settings: &ButtonSettings,
    ) -> Result<bool, StoreError>;

    /// Deletes the workspace's button `id` and the connect sessions minted for it (connections
    /// made through it do not depend on it). Answers whether it existed.
    async fn delete_button(&self, workspace: WorkspaceId, id: ButtonId)
    -> Result<bool, StoreError>;
}

/// Connect flows. The state-changing methods are compare-and-set updates, so concurrent callbacks
/// and webhook deliveries cannot both win.
#[async_trait]
pub trait FlowRepository: Send + Sync {
    async fn insert_flow(&self, flow: &NewFlow) -> Result<(), StoreError>;

    async fn flow_by_state(&self, state_hash: &str) -> Result<Option<Flow>, StoreError>;

    async fn flow(&self, id: FlowId) -> Result<Option<Flow>, StoreError>;

    /// Stores the client credentials unless the flow already has some, is finished or expired.
    async fn attach_secrets(
        &self,
        id: FlowId,
        client_id: &str,
        sealed_secret: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Moves a live `pending` flow to `claimed`; exactly one caller gets `true`.
    async fn claim_flow(&self, id: FlowId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Ends a flow and erases its sealed secret (the connection holds its own copy).
    async fn finish_flow(&self, id: FlowId, outcome: &FlowOutcome) -> Result<(), StoreError>;

    /// Deletes flows that expired before `before`, with whatever secret they held.
    async fn purge_flows(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Connections and their event history.
#[async_trait]
pub trait ConnectionRepository: Send + Sync {
    /// The id of the workspace's connection to this amoCRM account, if any.
    async fn connection_for_account(
        &self,
        workspace: WorkspaceId,
        platform: Platform,
        account_id: i64,
    ) -> Result<Option<ConnectionId>, StoreError>;

    /// Inserts the connection, or replaces the credentials and metadata of the existing row with
    /// this id (keeping its first `connected_at`), and appends `events` — in one transaction.
    async fn save_connection(
        &self,
        record: &ConnectionRecord,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;

    async fn list_connections(
        &self,
        workspace: WorkspaceId,
        filter: &ConnectionFilter,
        after: Option<PageCursor>,
        limit: u64,
    ) -> Result<Page<ConnectionSummary>, StoreError>;

    async fn connection(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError>;

    /// The newest `limit` events, newest first.
    async fn events(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        limit: u64,
    ) -> Result<Vec<ConnectionEvent>, StoreError>;

    /// Applies a lifecycle transition (see `connections::lifecycle`) to a connection of the
    /// workspace: compare-and-set of its status, the erasure the transition asks for, its event
    /// and the event's effects, in one transaction. Answers whether the row moved.
    async fn change_status(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        change: &StatusChange,
    ) -> Result<bool, StoreError>;

    /// Connections of any workspace using this amoCRM client id (for amoCRM's disconnect hook).
    async fn connections_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError>;
}
