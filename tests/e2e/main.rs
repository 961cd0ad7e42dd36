//! amolink end to end, over real HTTP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod accounts;
mod connect;
mod connect_guards;
mod csrf;
mod headers;
mod isolation;
mod key_rotation;
mod lifecycle;
mod operations;
mod sessions;
