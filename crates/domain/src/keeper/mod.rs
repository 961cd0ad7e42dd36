//! The token keeper: refreshes every usable connection ahead of its access token's expiry,
//! exactly once per cycle, with any number of amolink instances sharing one database.
//!
//! Safety rests on four rules (security.md R37–R41):
//! 1. a per-connection lease, claimed by compare-and-set against *database* time, so only one
//!    instance refreshes a connection and a dead instance's leases simply expire;
//! 2. the row is re-read after the claim and skipped if another instance already refreshed it;
//! 3. a journal row is written before each call to amoCRM, so an interrupted refresh can be
//!    resolved by whoever comes next (with amoCRM's grace window: retried; without: marked
//!    needs-re-auth with the reason — never silently broken);
//! 4. the rotated pair is written in one conditional transaction the moment it arrives, retried
//!    while the lease is held, and never onto a revoked row.

mod policy;
mod service;
mod stats;
mod store;

pub use policy::RefreshPolicy;
pub use service::{FreshToken, Keeper, KeeperDeps, RefreshOutcome};
pub use stats::KeeperStats;
pub use store::{AttemptOutcome, Claimed, KeeperStore, RefreshAttempt, RefreshFailure, Refreshed};
