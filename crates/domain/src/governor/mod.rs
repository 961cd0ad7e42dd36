//! The rate governor: never more than 7 requests per second per amoCRM integration, across every
//! amolink instance sharing the database (amocrm.md §6; security.md R36, §3.4 F5).
//!
//! amoCRM counts requests per integration (`client_id`). Every external-button install is its
//! own integration, so the key is the connection. Going over earns 429, and repeated 429s earn a
//! block (403 for *every* request of the account for a while), so the governor must be right
//! even with several instances and no coordinator but the database.
//!
//! ## Design
//!
//! **A shared send-time ledger** ([`Ledger`]), one row per connection, read and written under an
//! exclusive row lock in one short transaction ([`RateLedgerStore`]), with the *database's*
//! clock, so instances with skewed clocks agree. It holds the last 7 reserved send times (unix
//! ms, sorted) and a pause. A caller reserves the time
//!
//! ```text
//! t = max(db_now, paused_until, last reserved, 7th-latest reserved + W)
//! ```
//!
//! where `W` is one second plus a safety margin (100 ms). Because every reservation is at or
//! after the previous one and at least `W` after the one seven places back, no window of length
//! `W` ever holds more than 7 reserved times — a burst of 7 goes out at once, then one more per
//! freed slot. (A fixed per-second bucket would allow 14 across a boundary; GCRA with a burst of
//! 7 allows 14 in a sliding second too.)
//!
//! **Reserved time vs. send time.** amoCRM sees sends, not reservations. A send is never early:
//! the local instant of a reservation is computed from the moment the database clock was read,
//! so the caller sleeps at least until it. A send can be late (a slow commit, a busy machine),
//! and a request sent `d` late crowds the next window by `d`; so reservations are made slightly
//! ahead (twice the recent commit time) and a caller that wakes more than `max_lateness` (50 ms)
//! after its slot gives it up unused and reserves again. The rest of the margin covers the trip
//! to amoCRM.
//!
//! **A fair in-process queue per connection** ([`Governor`]): local callers line up on a FIFO
//! lock; only the head reserves a time (so an instance holds at most one pending reservation per
//! connection and cannot hoard future slots), sleeps until it, and passes the lock on the moment
//! its request may go. Instances compete for slots only through the ledger, whose "never before
//! the last reservation" rule keeps them in arrival order too.
//!
//! **Bounded waiting**: a caller waits at most `max_wait` (10 s). A reservation further out is
//! not written; the caller gets [`crate::Error::RateLimited`] with how long until capacity
//! frees, and a caller that finds its local queue already longer than `max_wait` can drain is
//! refused at once instead of after ten useless seconds.
//!
//! **Pauses**: amoCRM's 429 `retry_after`, or a block, pauses the connection in the ledger (so
//! every instance stops) and in the local lane (so reservations already made here re-check
//! before sending).

mod ledger;
mod service;
mod store;

pub use ledger::{Ledger, Limit, Reservation};
pub use service::{Governor, GovernorPolicy};
pub use store::RateLedgerStore;
