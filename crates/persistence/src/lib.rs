//! amolink's storage: sea-orm over SQLite (the embedded default) or PostgreSQL (production),
//! implementing the domain's port traits with the same queries on both engines.

mod accounts;
mod database;
mod entities;
mod sessions;
mod time;

pub use database::{Database, Engine};
