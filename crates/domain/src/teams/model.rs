//! Members, memberships and invitations as the team pages and services see them.

use chrono::{DateTime, Utc};

use super::{Role, TeamError};
use crate::{
    accounts::Email,
    connect::Button,
    ids::{InviteId, UserId, WorkspaceId},
};

/// One workspace a user belongs to (for the workspace switcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub workspace: WorkspaceId,
    pub workspace_name: String,
    pub role: Role,
}

/// A member of a workspace, as the team page lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teammate {
    pub user: UserId,
    pub email: Email,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InviteState {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// A stored invitation (its token is not stored, only the token's hash).
#[derive(Debug, Clone)]
pub struct InviteRecord {
    pub id: InviteId,
    pub workspace: WorkspaceId,
    pub workspace_name: String,
    pub email: Email,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub invited_by_email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl InviteRecord {
    /// Where the invitation stands at `now`. A used or revoked link says so even after it
    /// would have expired.
    #[must_use]
    pub fn state(&self, now: DateTime<Utc>) -> InviteState {
        if self.accepted_at.is_some() {
            InviteState::Accepted
        } else if self.revoked_at.is_some() {
            InviteState::Revoked
        } else if self.expires_at <= now {
            InviteState::Expired
        } else {
            InviteState::Pending
        }
    }
}

/// An invitation to store.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: InviteId,
    pub workspace: WorkspaceId,
    pub email: Email,
    pub role: Role,
    pub token_hash: String,
    pub invited_by: UserId,
    pub invited_by_email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A login created by accepting an invitation.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
}

/// A second (or later) workspace created by a signed-in user.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub id: WorkspaceId,
    pub name: crate::accounts::WorkspaceName,
    pub owner: UserId,
    pub default_button: Button,
}

/// How a membership change ended, decided in storage under a lock on the workspace so two
/// concurrent changes cannot both remove the last owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    Done,
    NotAMember,
    /// Refused: the workspace would have no owner left.
    LastOwner,
}

impl MembershipChange {
    /// The change as a result: a refusal becomes its [`TeamError`].
    ///
    /// # Errors
    /// [`TeamError::NotAMember`] and [`TeamError::LastOwner`].
    pub const fn done(self) -> Result<(), TeamError> {
        match self {
            Self::Done => Ok(()),
            Self::NotAMember => Err(TeamError::NotAMember),
            Self::LastOwner => Err(TeamError::LastOwner),
        }
    }
}

/// How accepting an invitation ended (a compare-and-set on the invitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    Joined,
    /// The invitation was used, revoked or expired meanwhile.
    Gone,
    AlreadyMember,
}
