//! amolink's storage: sea-orm over SQLite (the embedded default) or PostgreSQL (production),
//! implementing the domain's port traits with the same queries on both engines.

mod accounts;
mod buttons;
mod connections;
mod database;
mod entities;
mod flows;
mod sealed;
mod sessions;
mod time;

pub use database::{Database, Engine};
