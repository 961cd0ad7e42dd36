//! amolink end to end, over real HTTP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod accounts;
mod csrf;
mod headers;
mod isolation;
mod operations;
mod sessions;
