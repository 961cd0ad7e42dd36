//! amolink's storage: sea-orm over SQLite (the embedded default) or PostgreSQL (production),
//! implementing the domain's port traits with the same queries on both engines.

mod accounts;
mod api_keys;
mod buttons;
mod connect_sessions;
mod connections;
mod database;
mod entities;
mod flows;
mod keeper;
mod rate_limits;
mod sealed;
mod sessions;
mod time;
mod webhooks;

pub use database::{Database, Engine};
