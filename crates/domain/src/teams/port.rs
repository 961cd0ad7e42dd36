//! What teams need from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Acceptance, InviteRecord, Membership, MembershipChange, NewInvite, NewUser, Role, Teammate,
};
use crate::{
    StoreError,
    ids::{ConnectionId, InviteId, UserId, WorkspaceId},
};

/// Memberships and invitations. Every change that could remove a workspace's last owner is
/// decided in storage, under a lock on the workspace row, so concurrent changes are serialised.
#[async_trait]
pub trait TeamStore: Send + Sync {
    /// The workspaces a user belongs to, the one joined first first.
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;

    /// The members of a workspace, owners first, then by address.
    async fn teammates(&self, workspace: WorkspaceId) -> Result<Vec<Teammate>, StoreError>;

    async fn set_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
    ) -> Result<MembershipChange, StoreError>;

    /// Makes `to` an owner and `from` (an owner) an admin, together.
    async fn transfer_ownership(
        &self,
        workspace: WorkspaceId,
        from: UserId,
        to: UserId,
    ) -> Result<MembershipChange, StoreError>;

    /// Removes the membership and ends the user's sessions in that workspace, together.
    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<MembershipChange, StoreError>;

    /// Stores an invitation; earlier pending invitations of the same address to the same
    /// workspace are revoked, so one address has one live link.
    async fn insert_invite(&self, invite: &NewInvite) -> Result<(), StoreError>;

    /// The workspace's invitations, newest first.
    async fn invites(&self, workspace: WorkspaceId) -> Result<Vec<InviteRecord>, StoreError>;

    /// Public lookup by the SHA-256 hex of a link's token.
    async fn invite_by_token(&self, token_hash: &str) -> Result<Option<InviteRecord>, StoreError>;

    /// Revokes a pending invitation; answers whether this call revoked it.
    async fn revoke_invite(
        &self,
        workspace: WorkspaceId,
        id: InviteId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks a pending, unexpired invitation accepted by `user` and adds the membership, in one
    /// transaction; exactly one of several concurrent acceptances wins.
    async fn accept_invite(
        &self,
        invite: &InviteRecord,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Acceptance, StoreError>;

    /// [`TeamStore::accept_invite`] for a person without an account: the user is created in the
    /// same transaction.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when an account with the address exists.
    async fn accept_invite_as_new_user(
        &self,
        invite: &InviteRecord,
        user: &NewUser,
        at: DateTime<Utc>,
    ) -> Result<Acceptance, StoreError>;

    /// Deletes invitations that expired, were used or were revoked before `before`.
    async fn purge_invites(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Deleting a workspace, in two steps: at once everything that lets anyone in, then (once the
/// tenant has been told about its revoked connections) every remaining row.
#[async_trait]
pub trait WorkspaceDeletionStore: Send + Sync {
    /// Marks the workspace as being deleted and removes every way in: memberships, invitations,
    /// web sessions, API keys, connect buttons, connect sessions and flows. Answers `false` when
    /// the workspace is gone or already being deleted.
    async fn begin_deletion(
        &self,
        workspace: WorkspaceId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` of the workspace's connections that are not revoked yet.
    async fn unrevoked_connections(
        &self,
        workspace: WorkspaceId,
        limit: u64,
    ) -> Result<Vec<ConnectionId>, StoreError>;

    /// Workspaces whose deletion has begun, and since when.
    async fn deleting_workspaces(&self) -> Result<Vec<(WorkspaceId, DateTime<Utc>)>, StoreError>;

    /// Webhook deliveries of the workspace still waiting to be sent.
    async fn pending_deliveries(&self, workspace: WorkspaceId) -> Result<u64, StoreError>;

    /// Deletes every remaining row of the workspace from every table, in one transaction.
    async fn purge_workspace(&self, workspace: WorkspaceId) -> Result<(), StoreError>;
}
