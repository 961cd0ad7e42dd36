//! Sign-up, log-in and the members of a workspace.

mod email;
mod hashing;
mod password;
mod service;
mod throttle;
mod workspace_name;

pub use email::Email;
pub use hashing::{HashingPolicy, PasswordHasher};
pub use password::Password;
pub use service::{Accounts, Member, NewAccount, Role, SignUpForm};
pub use throttle::{LoginThrottle, ThrottlePolicy};
pub use workspace_name::WorkspaceName;
