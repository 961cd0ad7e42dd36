//! Teams: who belongs to which workspace with which role, what each role may do (one permission
//! table, [`Permission::least_role`]), invitations, and leaving, removing and deleting.

mod error;
mod model;
mod port;
mod roles;
mod service;

pub use error::TeamError;
pub use model::{
    Acceptance, InviteRecord, InviteState, Membership, MembershipChange, NewInvite, NewUser,
    NewWorkspace, Teammate,
};
pub use port::{TeamStore, WorkspaceDeletionStore};
pub use roles::{Permission, Role};
pub use service::{CreatedInvite, DELETION_GRACE, INVITE_LIFETIME, InviteMail, Teams, TeamsDeps};
