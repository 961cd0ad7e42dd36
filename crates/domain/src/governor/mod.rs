//! The rate governor: never more than 7 requests per second per amoCRM integration, across every
//! amolink instance sharing the database (docs/amocrm-protocol.md §6; docs/security-requirements.md R36, F5).
//!
//! amoCRM counts requests per integration (`client_id`). Every external-button install is its
//! own integration, which exists from the secrets webhook on — before the connection does — so
//! the key is the [`Integration`]: the connect-time account call, the keeper's subdomain lookups
//! and the proxy all spend the same budget. Going over earns 429, and repeated 429s earn a
//! block (403 for *every* request of the account for a while), so the governor must be right
//! even with several instances and no coordinator but the database.
//!
//! What counts: every request amolink sends to an account's API (`/api/v4/…`, the account
//! lookup when connecting, the subdomain lookup). Calls to the OAuth token endpoint are not API
//! calls and are bounded by the keeper's own interval rule instead. Tokens vended to a tenant
//! are used by the tenant's own code, which amolink cannot pace: amoCRM counts those calls
//! against the same integration, so a tenant mixing vended tokens with the proxy must keep its
//! direct calls under the remainder.
//!
//! ## Design
//!
//! **A shared budget per integration** ([`Budget`]), one row in the database, read and written
//! under an exclusive row lock in one short transaction ([`RateBudgetStore`]) with the
//! *database's* clock, so instances with skewed clocks agree. It lends each instance a
//! **share**: a number of slots it may spend in any window `W` until a time `T`. The rule that
//! keeps the limit: the slots of every share whose `T + W` has not passed add up to at most 7.
//! A share keeps counting for a window after it ends, since the sends made just before `T` still
//! occupy it, and an instance renewing with fewer slots keeps the difference counted for a
//! window too. `W` is one second plus a safety margin (200 ms: the network and amoCRM's front
//! end may deliver one request later than the next; on a busy machine the simulator saw 100 ms
//! of such jitter).
//!
//! **Spending a share costs nothing shared**: each instance keeps its own sends of the last
//! window in memory and admits a request at once while fewer than its slots are in the window —
//! no database write, no sleep. Only taking or renewing a share (every
//! [`GovernorPolicy::share_term`], 3 s, while an integration is busy on an instance) is a
//! transaction. A share is sized to what its callers need (those in line and the sends of the
//! last window, at least half the budget: a quiet connection then costs one write per term),
//! and a full one grows, doubling, while the budget has slots free — so an idle integration's
//! burst goes at once (in up to two writes: 4, then 7 slots), and a second
//! instance finds the slots the first does not need free instead of waiting for its share to
//! end. Instances competing for one integration split the slots when they renew (one that found
//! none free leaves a note the holders read, and an instance that held a share in the last two
//! terms still competes, so instances taking turns split the budget rather than each holding all
//! of it for a term while the other waits).
//!
//! **Ends are conservative**: an instance computes its local end of a share from an instant taken
//! before the transaction that granted it, never later than the database's `T`, so it never
//! sends under an expired share; a dead instance's share simply ends and frees a window later.
//!
//! **A fair in-process queue per integration** ([`Governor`]): local callers line up on a FIFO
//! lock; the head sends when a slot is free in this instance's share, waits for the oldest of
//! its sends to leave the window otherwise, and renews the share when it ends.
//!
//! **Bounded waiting**: a caller waits at most `max_wait` (10 s); longer, and it gets
//! [`crate::Error::RateLimited`] with how long until capacity frees, and a caller that finds its
//! local queue already longer than `max_wait` can drain is refused at once.
//!
//! **Pauses**: amoCRM's 429 `retry_after`, or a block, pauses the integration in the budget (no
//! share is lent until it ends) and in the local lane at once; other instances stop when their
//! current share ends (within `share_term`).

mod budget;
mod service;
mod store;

pub use budget::{Budget, Lease, Limit, Share};
pub use service::{Governor, GovernorPolicy};
pub use store::RateBudgetStore;

/// An amoCRM integration: its `client_id`, the unit amoCRM rate-limits. Each external-button
/// install creates its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Integration(String);

impl Integration {
    #[must_use]
    pub fn new(client_id: &str) -> Self {
        Self(client_id.to_owned())
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
