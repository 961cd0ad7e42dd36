//! The token keeper: refreshes every usable connection ahead of its access token's expiry,
//! exactly once per cycle, with any number of amolink instances sharing one database.
//!
//! Safety rests on four rules (docs/security-requirements.md R37–R41):
//! 1. a per-connection lease, claimed by compare-and-set against *database* time, so only one
//!    instance refreshes a connection and a dead instance's leases simply expire;
//! 2. the row is re-read after the claim and skipped if another instance already refreshed it;
//! 3. a journal row is written before each call to amoCRM, so an interrupted refresh can be
//!    resolved by whoever comes next (with amoCRM's grace window: retried; without: marked
//!    needs-re-auth with the reason — never silently broken);
//! 4. the rotated pair is written in one conditional transaction the moment it arrives, retried
//!    while the lease is held, and never onto a revoked row.
//!
//! And on the truth of lifetimes (issue 9):
//! 5. the expiry stored is amoCRM's word: the moment the token request was *sent* plus the
//!    lifetime amoCRM stated (see `amocrm::LifetimeSource`), never stretched; a token is never
//!    handed out or used within [`SEND_GUARD`] of that expiry;
//! 6. amoCRM's token endpoint is called at most once per [`RefreshPolicy::min_interval`] per
//!    connection, by whoever calls it (the rule is checked under the lease, against the call
//!    time stored on the row, so it holds across instances), plus once per refusal of the
//!    current access token; and a token obtained by a refresh made for a request is used for
//!    that request whatever its remaining life, so no request can loop on refreshes;
//! 7. callers never insist on more validity than half the token's stated life.

mod policy;
mod service;
mod stats;
mod store;

pub use policy::{RefreshCause, RefreshPolicy};
pub use service::{FreshToken, Keeper, KeeperDeps, RefreshOutcome, SEND_GUARD, Wanted};
pub use stats::KeeperStats;
pub use store::{AttemptOutcome, Claimed, KeeperStore, RefreshAttempt, RefreshFailure, Refreshed};
