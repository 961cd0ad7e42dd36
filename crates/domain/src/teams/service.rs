//! The team use cases: invite, accept, change roles, transfer ownership, remove, leave, and
//! delete the workspace.
//!
//! Every operation takes the acting [`Member`] (from the session, so from the workspace the
//! session is in) and checks the permission table itself, so a handler that forgot its extractor
//! still could not let a viewer remove an owner. Every change is recorded in the audit trail.

use std::{net::IpAddr, sync::Arc, time::Duration};

use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::{
    Acceptance, InviteRecord, InviteState, Membership, NewInvite, NewUser, Permission, Role,
    TeamError, TeamStore, Teammate, WorkspaceDeletionStore,
};
use crate::{
    Error, StoreError,
    accounts::{Accounts, Email, Member, Password, PasswordHasher},
    api_keys::ApiKeys,
    audit::{Audit, AuditAction, AuditTarget, Principal, detail},
    clock::Clock,
    connect::{OneTimeToken, hash_token},
    connections::Connections,
    ids::{InviteId, UserId, WorkspaceId},
    mail::{Envelope, Mail, Mailer},
};

/// How long an invitation link works.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a deleted workspace's remaining rows wait for its `connection.revoked` webhooks to be
/// delivered before they go anyway (the webhook retry schedule spans about a day).
pub const DELETION_GRACE: Duration = Duration::from_secs(3 * 24 * 3600);
/// Connections revoked per storage round trip while deleting a workspace.
const REVOKE_BATCH: u64 = 200;

/// Whether an invitation e-mail went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteMail {
    Sent,
    /// No mail transport: the link is shown to copy instead.
    NotConfigured,
    /// The transport failed (logged); the link is shown to copy instead.
    Failed,
}

/// A new invitation: the link exists only here and in the e-mail.
#[derive(Debug)]
pub struct CreatedInvite {
    pub invite: InviteRecord,
    pub link: SecretString,
    pub mail: InviteMail,
}

/// What the team services need.
#[derive(Clone)]
pub struct TeamsDeps {
    pub store: Arc<dyn TeamStore>,
    pub deletion: Arc<dyn WorkspaceDeletionStore>,
    pub accounts: Accounts,
    pub connections: Connections,
    /// Told when a workspace is deleted, so its API keys stop working at once here.
    pub api_keys: ApiKeys,
    pub hasher: PasswordHasher,
    pub mailer: Arc<dyn Mailer>,
    pub audit: Audit,
    pub clock: Arc<dyn Clock>,
    /// The page invitation links open (`{PUBLIC_URL}/invite`); the token goes in the query, so
    /// access logs (which record paths only) never see it.
    pub invite_page: Url,
}

/// Memberships, invitations and workspace deletion.
#[derive(Clone)]
pub struct Teams {
    deps: TeamsDeps,
}

fn require(member: &Member, permission: Permission) -> Result<(), Error> {
    if member.role.allows(permission) {
        Ok(())
    } else {
        Err(TeamError::NotPermitted.into())
    }
}

fn user_target(mate: &Teammate) -> AuditTarget {
    AuditTarget::new("user", mate.user, mate.email.as_str())
}

impl Teams {
    #[must_use]
    pub const fn new(deps: TeamsDeps) -> Self {
        Self { deps }
    }

    /// Whether invitations can be e-mailed (otherwise their links are only shown to copy).
    #[must_use]
    pub fn mail_available(&self) -> bool {
        self.deps.mailer.available()
    }

    /// The workspaces `user` belongs to.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, Error> {
        Ok(self.deps.store.memberships(user).await?)
    }

    /// The members of the actor's workspace.
    ///
    /// # Errors
    /// [`TeamError::NotPermitted`]; storage failures.
    pub async fn teammates(&self, actor: &Member) -> Result<Vec<Teammate>, Error> {
        require(actor, Permission::ViewMembers)?;
        Ok(self.deps.store.teammates(actor.workspace_id).await?)
    }

    /// The invitations of the actor's workspace, newest first.
    ///
    /// # Errors
    /// [`TeamError::NotPermitted`]; storage failures.
    pub async fn invites(&self, actor: &Member) -> Result<Vec<InviteRecord>, Error> {
        require(actor, Permission::ManageMembers)?;
        Ok(self.deps.store.invites(actor.workspace_id).await?)
    }

    async fn teammate(&self, workspace: WorkspaceId, user: UserId) -> Result<Teammate, Error> {
        self.deps
            .store
            .teammates(workspace)
            .await?
            .into_iter()
            .find(|m| m.user == user)
            .ok_or_else(|| TeamError::NotAMember.into())
    }

    /// Invites `raw_email` with `raw_role`: a single-use link valid for seven days, e-mailed
    /// when mail is configured and returned to be shown either way.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad address or role; [`TeamError::NotPermitted`] for a role above
    /// the actor's reach; [`TeamError::AlreadyMember`]; storage failures.
    pub async fn invite(
        &self,
        actor: &Member,
        by: &Principal,
        raw_email: &str,
        raw_role: &str,
    ) -> Result<CreatedInvite, Error> {
        require(actor, Permission::ManageMembers)?;
        let email = Email::parse(raw_email)?;
        let role: Role = raw_role.parse()?;
        if !actor.role.may_assign(None, role) {
            return Err(TeamError::NotPermitted.into());
        }
        let members = self.deps.store.teammates(actor.workspace_id).await?;
        if members.iter().any(|m| m.email == email) {
            return Err(TeamError::AlreadyMember.into());
        }
        let token = OneTimeToken::mint();
        let now = self.deps.clock.now();
        let expires_at =
            now + chrono::Duration::from_std(INVITE_LIFETIME).unwrap_or(chrono::Duration::days(7));
        let invite = NewInvite {
            id: InviteId::random(),
            workspace: actor.workspace_id,
            email: email.clone(),
            role,
            token_hash: token.hash(),
            invited_by: actor.user_id,
            invited_by_email: actor.email.to_string(),
            created_at: now,
            expires_at,
        };
        self.deps.store.insert_invite(&invite).await?;
        let link = self.invite_link(&token);
        let mail = self.mail_invite(actor, &invite, &link).await;
        self.deps
            .audit
            .record(
                Some(actor.workspace_id),
                by,
                AuditAction::MemberInvited,
                Some(AuditTarget::new("invite", invite.id, email.as_str())),
                Some(detail([("role", role.as_str())])),
            )
            .await;
        tracing::info!(event = "member_invited", workspace_id = %actor.workspace_id, invite_id = %invite.id, role = role.as_str(), "member invited");
        Ok(CreatedInvite {
            invite: InviteRecord {
                id: invite.id,
                workspace: invite.workspace,
                workspace_name: actor.workspace_name.clone(),
                email,
                role,
                invited_by: Some(actor.user_id),
                invited_by_email: invite.invited_by_email,
                created_at: now,
                expires_at,
                accepted_at: None,
                revoked_at: None,
            },
            link,
            mail,
        })
    }

    fn invite_link(&self, token: &OneTimeToken) -> SecretString {
        let mut url = self.deps.invite_page.clone();
        url.query_pairs_mut()
            .clear()
            .append_pair("token", token.expose());
        SecretString::from(url.to_string())
    }

    async fn mail_invite(
        &self,
        actor: &Member,
        invite: &NewInvite,
        link: &SecretString,
    ) -> InviteMail {
        if !self.deps.mailer.available() {
            return InviteMail::NotConfigured;
        }
        let envelope = Envelope {
            to: invite.email.clone(),
            workspace: Some(invite.workspace),
            mail: Mail::Invite {
                workspace: actor.workspace_name.clone(),
                inviter: actor.email.to_string(),
                role: invite.role,
                link: SecretString::from(link.expose_secret().to_owned()),
                expires_at: invite.expires_at,
            },
        };
        match self.deps.mailer.send(&envelope).await {
            Ok(()) => InviteMail::Sent,
            Err(e) => {
                tracing::warn!(error = %e, invite_id = %invite.id, "invitation e-mail not sent");
                InviteMail::Failed
            }
        }
    }

    /// Revokes a pending invitation: its link stops working at once.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it is not a pending invitation of the actor's workspace.
    pub async fn revoke_invite(
        &self,
        actor: &Member,
        by: &Principal,
        id: InviteId,
    ) -> Result<(), Error> {
        require(actor, Permission::ManageMembers)?;
        let invite = self
            .deps
            .store
            .invites(actor.workspace_id)
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or(Error::NotFound)?;
        if self
            .deps
            .store
            .revoke_invite(actor.workspace_id, id, self.deps.clock.now())
            .await?
        {
            self.deps
                .audit
                .record(
                    Some(actor.workspace_id),
                    by,
                    AuditAction::InviteRevoked,
                    Some(AuditTarget::new("invite", id, invite.email.as_str())),
                    None,
                )
                .await;
        }
        Ok(())
    }

    /// The pending invitation behind a link.
    ///
    /// # Errors
    /// [`TeamError::InviteUnknown`], [`TeamError::InviteExpired`], [`TeamError::InviteRevoked`]
    /// or [`TeamError::InviteUsed`].
    pub async fn invite_for_link(&self, token: &str) -> Result<InviteRecord, Error> {
        if token.is_empty() || token.len() > 128 {
            return Err(TeamError::InviteUnknown.into());
        }
        let invite = self
            .deps
            .store
            .invite_by_token(&hash_token(token))
            .await?
            .ok_or(TeamError::InviteUnknown)?;
        match invite.state(self.deps.clock.now()) {
            InviteState::Pending => Ok(invite),
            InviteState::Expired => Err(TeamError::InviteExpired.into()),
            InviteState::Revoked => Err(TeamError::InviteRevoked.into()),
            InviteState::Accepted => Err(TeamError::InviteUsed.into()),
        }
    }

    /// Accepts an invitation for the signed-in account, which must have the invited address.
    ///
    /// # Errors
    /// The link's errors ([`Teams::invite_for_link`]); [`TeamError::InviteForAnotherAccount`];
    /// [`TeamError::AlreadyMember`].
    pub async fn accept_as(
        &self,
        token: &str,
        user: UserId,
        email: &Email,
        client: IpAddr,
    ) -> Result<Member, Error> {
        let invite = self.invite_for_link(token).await?;
        if &invite.email != email {
            tracing::warn!(event = "invite_wrong_account", invite_id = %invite.id, "invitation opened by another account");
            return Err(TeamError::InviteForAnotherAccount.into());
        }
        let outcome = self
            .deps
            .store
            .accept_invite(&invite, user, self.deps.clock.now())
            .await?;
        self.joined(invite, outcome, user, client).await
    }

    /// Accepts an invitation without a session: with the password of the existing account at the
    /// invited address, or, when there is none, creating that account with `password`.
    ///
    /// # Errors
    /// The link's errors; [`Error::InvalidCredentials`] / [`Error::Throttled`] for a wrong
    /// password of an existing account; [`Error::Invalid`] for a new password that breaks the
    /// rules; [`TeamError::AlreadyMember`].
    pub async fn accept_with_password(
        &self,
        token: &str,
        raw_password: String,
        client: IpAddr,
    ) -> Result<Member, Error> {
        let invite = self.invite_for_link(token).await?;
        if self.deps.accounts.has_account(&invite.email).await? {
            let password = Password::for_login(raw_password)?;
            let signed_in = self
                .deps
                .accounts
                .log_in(invite.email.as_str(), &password, client)
                .await?;
            return self
                .accept_as(token, signed_in.user, &signed_in.email, client)
                .await;
        }
        let password = Password::for_new_account(raw_password)?;
        let user = NewUser {
            id: UserId::random(),
            email: invite.email.clone(),
            password_hash: self.deps.hasher.hash(&password).await?,
        };
        let outcome = match self
            .deps
            .store
            .accept_invite_as_new_user(&invite, &user, self.deps.clock.now())
            .await
        {
            Ok(outcome) => outcome,
            // Someone created the account meanwhile: they must sign in to accept.
            Err(StoreError::Duplicate(_)) => return Err(Error::InvalidCredentials),
            Err(e) => return Err(e.into()),
        };
        self.joined(invite, outcome, user.id, client).await
    }

    async fn joined(
        &self,
        invite: InviteRecord,
        outcome: Acceptance,
        user: UserId,
        client: IpAddr,
    ) -> Result<Member, Error> {
        match outcome {
            Acceptance::Joined => {}
            Acceptance::AlreadyMember => return Err(TeamError::AlreadyMember.into()),
            // Used, revoked or expired between the lookup and the write: say which.
            Acceptance::Gone => {
                let now = self.deps.clock.now();
                let fresh = self
                    .deps
                    .store
                    .invites(invite.workspace)
                    .await?
                    .into_iter()
                    .find(|i| i.id == invite.id);
                return Err(match fresh.map(|i| i.state(now)) {
                    Some(InviteState::Expired) => TeamError::InviteExpired,
                    Some(InviteState::Revoked) => TeamError::InviteRevoked,
                    Some(InviteState::Accepted) => TeamError::InviteUsed,
                    _ => TeamError::InviteUnknown,
                }
                .into());
            }
        }
        let member = Member {
            user_id: user,
            workspace_id: invite.workspace,
            email: invite.email.clone(),
            role: invite.role,
            workspace_name: invite.workspace_name.clone(),
        };
        self.deps
            .audit
            .record(
                Some(invite.workspace),
                &Principal::member(&member, client),
                AuditAction::MemberJoined,
                Some(AuditTarget::new("user", user, invite.email.as_str())),
                Some(detail([
                    ("role", invite.role.as_str()),
                    ("invite_id", &invite.id.to_string()),
                ])),
            )
            .await;
        tracing::info!(event = "member_joined", workspace_id = %invite.workspace, user_id = %user, "invitation accepted");
        Ok(member)
    }

    /// Gives a member another role.
    ///
    /// # Errors
    /// [`TeamError::NotPermitted`] when the actor may not make this change;
    /// [`TeamError::OwnMembership`] for the actor's own role; [`TeamError::NotAMember`];
    /// [`TeamError::LastOwner`].
    pub async fn change_role(
        &self,
        actor: &Member,
        by: &Principal,
        user: UserId,
        raw_role: &str,
    ) -> Result<(), Error> {
        require(actor, Permission::ManageMembers)?;
        let role: Role = raw_role.parse()?;
        let mate = self.teammate(actor.workspace_id, user).await?;
        if user == actor.user_id {
            return Err(TeamError::OwnMembership.into());
        }
        if !actor.role.may_assign(Some(mate.role), role) {
            return Err(TeamError::NotPermitted.into());
        }
        if mate.role == role {
            return Ok(());
        }
        self.deps
            .store
            .set_role(actor.workspace_id, user, role)
            .await?
            .done()?;
        self.deps
            .audit
            .record(
                Some(actor.workspace_id),
                by,
                AuditAction::RoleChanged,
                Some(user_target(&mate)),
                Some(detail([
                    ("from", mate.role.as_str()),
                    ("to", role.as_str()),
                ])),
            )
            .await;
        Ok(())
    }

    /// Makes another member an owner and the acting owner an admin, in one step.
    ///
    /// # Errors
    /// [`TeamError::NotPermitted`] unless the actor is an owner; [`TeamError::OwnMembership`];
    /// [`TeamError::NotAMember`].
    pub async fn transfer_ownership(
        &self,
        actor: &Member,
        by: &Principal,
        user: UserId,
    ) -> Result<(), Error> {
        require(actor, Permission::TransferOwnership)?;
        let mate = self.teammate(actor.workspace_id, user).await?;
        if user == actor.user_id {
            return Err(TeamError::OwnMembership.into());
        }
        self.deps
            .store
            .transfer_ownership(actor.workspace_id, actor.user_id, user)
            .await?
            .done()?;
        self.deps
            .audit
            .record(
                Some(actor.workspace_id),
                by,
                AuditAction::OwnershipTransferred,
                Some(user_target(&mate)),
                Some(detail([("from", mate.role.as_str()), ("to", "owner")])),
            )
            .await;
        Ok(())
    }

    /// Removes another member; their sessions in this workspace end at once.
    ///
    /// # Errors
    /// [`TeamError::NotPermitted`] (only owners remove owners); [`TeamError::OwnMembership`] (use
    /// leave); [`TeamError::NotAMember`]; [`TeamError::LastOwner`].
    pub async fn remove_member(
        &self,
        actor: &Member,
        by: &Principal,
        user: UserId,
    ) -> Result<(), Error> {
        require(actor, Permission::ManageMembers)?;
        let mate = self.teammate(actor.workspace_id, user).await?;
        if user == actor.user_id {
            return Err(TeamError::OwnMembership.into());
        }
        if mate.role == Role::Owner && actor.role != Role::Owner {
            return Err(TeamError::NotPermitted.into());
        }
        self.deps
            .store
            .remove_member(actor.workspace_id, user)
            .await?
            .done()?;
        self.deps
            .audit
            .record(
                Some(actor.workspace_id),
                by,
                AuditAction::MemberRemoved,
                Some(user_target(&mate)),
                Some(detail([("role", mate.role.as_str())])),
            )
            .await;
        tracing::info!(event = "member_removed", workspace_id = %actor.workspace_id, user_id = %user, "member removed");
        Ok(())
    }

    /// The actor leaves the workspace; their sessions in it end.
    ///
    /// # Errors
    /// [`TeamError::LastOwner`] for the only owner.
    pub async fn leave(&self, actor: &Member, by: &Principal) -> Result<(), Error> {
        self.deps
            .store
            .remove_member(actor.workspace_id, actor.user_id)
            .await?
            .done()?;
        self.deps
            .audit
            .record(
                Some(actor.workspace_id),
                by,
                AuditAction::MemberLeft,
                Some(AuditTarget::new(
                    "user",
                    actor.user_id,
                    actor.email.as_str(),
                )),
                Some(detail([("role", actor.role.as_str())])),
            )
            .await;
        Ok(())
    }

    /// Deletes the actor's workspace, once they typed its name.
    ///
    /// At once: nobody can get in any more (members, invitations, sessions, API keys and connect
    /// buttons go), and every connection is revoked through the usual revoke path, so its
    /// credentials are erased and the tenant's webhook endpoints get `connection.revoked` for
    /// it. The remaining rows go when those webhooks have been delivered (at once if there are
    /// none; otherwise housekeeping, see [`Teams::finish_deletions`]).
    ///
    /// # Errors
    /// [`TeamError::NotPermitted`] unless the actor is an owner; [`TeamError::NameMismatch`].
    pub async fn delete_workspace(
        &self,
        actor: &Member,
        by: &Principal,
        typed_name: &str,
    ) -> Result<(), Error> {
        require(actor, Permission::DeleteWorkspace)?;
        if typed_name.trim() != actor.workspace_name {
            return Err(TeamError::NameMismatch.into());
        }
        let workspace = actor.workspace_id;
        if !self
            .deps
            .deletion
            .begin_deletion(workspace, self.deps.clock.now())
            .await?
        {
            return Err(Error::NotFound);
        }
        tracing::info!(event = "workspace_deleting", workspace_id = %workspace, "workspace deletion started");
        // Its keys stop working now, not when a cached copy expires.
        self.deps.api_keys.forget_cached();
        self.revoke_all(workspace, by).await?;
        // Recorded without the workspace id: this entry outlives the workspace's rows.
        self.deps
            .audit
            .record(
                None,
                by,
                AuditAction::WorkspaceDeleted,
                Some(AuditTarget::new(
                    "workspace",
                    workspace,
                    actor.workspace_name.as_str(),
                )),
                None,
            )
            .await;
        // Nobody can reach the workspace any more and its connections are revoked: the deletion
        // has happened. Removing the rows is housekeeping's to retry if it fails here.
        if let Err(e) = self.finish_deletion(workspace, self.deps.clock.now()).await {
            tracing::warn!(error = %e, workspace_id = %workspace, "workspace rows not removed yet; housekeeping will retry");
        }
        Ok(())
    }

    async fn revoke_all(&self, workspace: WorkspaceId, by: &Principal) -> Result<(), Error> {
        loop {
            let batch = self
                .deps
                .deletion
                .unrevoked_connections(workspace, REVOKE_BATCH)
                .await?;
            if batch.is_empty() {
                return Ok(());
            }
            for id in batch {
                self.deps.connections.revoke(workspace, id, by).await?;
            }
        }
    }

    /// Removes the rows of a workspace being deleted once nothing is left to tell its webhook
    /// endpoints (or the grace period is over).
    async fn finish_deletion(
        &self,
        workspace: WorkspaceId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, Error> {
        let grace = chrono::Duration::from_std(DELETION_GRACE).unwrap_or(chrono::Duration::days(3));
        let overdue = self.deps.clock.now() - since > grace;
        if !overdue && self.deps.deletion.pending_deliveries(workspace).await? > 0 {
            return Ok(false);
        }
        self.deps.deletion.purge_workspace(workspace).await?;
        tracing::info!(event = "workspace_deleted", workspace_id = %workspace, "workspace rows removed");
        Ok(true)
    }

    /// Housekeeping for workspaces being deleted: revokes any connection that slipped in (a
    /// connect flow that was mid-exchange when deletion began) and removes the rows of those
    /// whose webhooks are delivered. Answers how many workspaces were finished.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn finish_deletions(&self) -> Result<u64, Error> {
        let mut finished = 0;
        for (workspace, since) in self.deps.deletion.deleting_workspaces().await? {
            self.revoke_all(workspace, &Principal::system()).await?;
            if self.finish_deletion(workspace, since).await? {
                finished += 1;
            }
        }
        Ok(finished)
    }

    /// Deletes invitations that ended more than `keep` ago.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_invites(&self, keep: Duration) -> Result<u64, Error> {
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(30));
        Ok(self
            .deps
            .store
            .purge_invites(self.deps.clock.now() - keep)
            .await?)
    }
}
