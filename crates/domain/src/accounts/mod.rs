//! Sign-up, log-in, passwords and the members of a workspace.

mod email;
mod hashing;
mod password;
mod passwords;
mod preferences;
mod service;
mod sign_in_throttle;
mod throttle;
mod workspace_name;

pub use email::Email;
pub use hashing::{HashingPolicy, PasswordHasher};
pub use password::Password;
pub use passwords::{PasswordResetStore, Passwords, PasswordsDeps, RESET_LIFETIME};
pub use preferences::{Language, Preferences, TimeZoneName};
pub use service::{Accounts, Member, NewAccount, SignIn, SignUpForm};
pub use sign_in_throttle::{
    AttemptLedger, Backoff, KnownDevice, LedgerEntry, Reserved, SignInPolicy, SignInThrottle,
};
pub use throttle::{LoginThrottle, ThrottlePolicy};
pub use workspace_name::WorkspaceName;

/// Roles live with teams; re-exported here because a [`Member`] carries one.
pub use crate::teams::Role;
