//! amolink end to end, over real HTTP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod accounts;
mod api;
mod api_keys;
mod connect;
mod connect_guards;
mod connect_sessions;
mod csrf;
mod headers;
mod isolation;
mod keeper;
mod key_rotation;
mod lifecycle;
mod operations;
mod proxy;
mod sessions;
mod tokens;
mod webhooks;
