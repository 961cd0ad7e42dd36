//! Web sessions: stored server-side in the database so that log-out, expiry, a password change
//! or a removal from a workspace really end them; and the extractors that say who is signed in
//! and what their role lets them do.

mod require;
mod signed_in;
mod store;

pub use require::{
    DeleteWorkspace, ManageApiKeys, ManageButtons, ManageMembers, ManageWebhooks, Needs, Require,
    RevokeConnections, TransferOwnership, ViewAudit, ViewConnections, ViewMembers,
};
pub use signed_in::{
    Account, SignedIn, Timeouts, begin, end, has_user, keep_after_ending_others, switch,
};
pub use store::DatabaseSessionStore;
