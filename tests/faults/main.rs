//! Storage faults under load (issue 14, acceptance 5; security.md F1, F13, R48): the PostgreSQL
//! server restarted underneath a serving amolink, and the SQLite database held locked by another
//! process. Requests fail fast with `503` while storage is gone, recover by themselves, and no
//! write amolink acknowledged is lost.
//!
//! These run in their own test binary, one at a time: the PostgreSQL test starts and restarts a
//! throwaway cluster of its own (never the shared server the other suites use).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod load;
mod postgres_restart;
mod sqlite_locked;

/// One fault scenario at a time: their timings would disturb each other on a 2-core machine.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
