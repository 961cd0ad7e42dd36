//! Connect sessions as requested and stored.

use chrono::{DateTime, Utc};

use crate::{
    connect::OneTimeToken,
    end_user::EndUser,
    ids::{ButtonId, ConnectSessionId, WorkspaceId},
};

/// What the tenant asks for.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub end_user: EndUser,
    /// The button whose integration settings to use; the workspace's first button when absent.
    pub button: Option<ButtonId>,
}

/// A session to store; only the SHA-256 of its token is kept.
#[derive(Debug, Clone)]
pub struct NewConnectSession {
    pub id: ConnectSessionId,
    pub workspace: WorkspaceId,
    pub button: ButtonId,
    pub token_hash: String,
    pub end_user: EndUser,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored session.
#[derive(Debug, Clone)]
pub struct ConnectSession {
    pub id: ConnectSessionId,
    pub workspace: WorkspaceId,
    pub button: ButtonId,
    pub end_user: EndUser,
    pub expires_at: DateTime<Utc>,
    /// The browser that redeemed it (SHA-256 of its binding cookie), once opened.
    pub binding_hash: Option<String>,
}

/// A new session: the token exists only here and in the URL handed to the tenant.
#[derive(Debug)]
pub struct CreatedSession {
    pub id: ConnectSessionId,
    pub token: OneTimeToken,
    pub button: ButtonId,
    pub end_user: EndUser,
    pub expires_at: DateTime<Utc>,
}
