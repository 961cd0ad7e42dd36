//! Several real `amolink serve` processes on one PostgreSQL refreshing the same connections
//! (issue 5, acceptance 1–3): nothing is refreshed twice, nothing is lost, a `kill -9` is
//! survived; and two of them behind haproxy (issue 15, `haproxy.rs`).
//!
//! CI runs short versions. `AMOLINK_LONG_TESTS=1 cargo test -p amolink-tests --test instances
//! -- --nocapture` runs the long ones (1 000 connections, more cycles and repetitions) and
//! prints the tallies.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod fleet;
mod haproxy;
mod scenarios;
