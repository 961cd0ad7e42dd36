//! Web sessions: stored server-side in the database so that log-out and expiry really end them.

mod signed_in;
mod store;

pub use signed_in::{SignedIn, Timeouts, begin, end};
pub use store::DatabaseSessionStore;
