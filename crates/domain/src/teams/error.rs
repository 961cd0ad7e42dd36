//! Why a team or account operation did not happen. Each variant is a stable reason the web layer
//! turns into a status and a sentence; none carries text for people.

/// A refused team or account operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    /// The member's role does not allow this (including handing out a role above their reach).
    #[error("the member's role does not allow this")]
    NotPermitted,
    /// The change would leave the workspace without an owner.
    #[error("a workspace must keep at least one owner")]
    LastOwner,
    /// The person is already a member of the workspace.
    #[error("already a member")]
    AlreadyMember,
    /// The member is not (or no longer) in the workspace.
    #[error("not a member")]
    NotAMember,
    /// Use "leave" to remove yourself, "transfer" to hand on ownership.
    #[error("the member cannot do this to themselves")]
    OwnMembership,
    /// The invitation link is unknown.
    #[error("unknown invitation")]
    InviteUnknown,
    #[error("invitation expired")]
    InviteExpired,
    #[error("invitation revoked")]
    InviteRevoked,
    #[error("invitation already used")]
    InviteUsed,
    /// The signed-in account's address is not the invited one.
    #[error("invitation is for another address")]
    InviteForAnotherAccount,
    /// The typed name does not match the workspace's name.
    #[error("workspace name does not match")]
    NameMismatch,
    /// A password-reset link is unknown, used or expired (one answer for all three).
    #[error("password reset link is not valid")]
    ResetLinkInvalid,
    /// The feature needs e-mail, and this server cannot send any.
    #[error("mail is not configured")]
    MailUnavailable,
}
