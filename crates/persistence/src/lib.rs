//! amolink's storage: sea-orm over SQLite (the embedded default) or PostgreSQL (production),
//! implementing the domain's port traits with the same queries on both engines.

mod accounts;
mod activity;
mod api_keys;
mod audit;
mod buttons;
mod connect_sessions;
mod connections;
mod database;
mod entities;
mod files;
mod flows;
mod group_commit;
mod keeper;
mod lifecycle;
mod login_throttle;
mod rate_limits;
mod relay;
mod sealed;
mod sessions;
mod stored;
mod teams;
mod time;
mod webhooks;

pub use database::{Database, Engine};
pub use files::owner_only;
