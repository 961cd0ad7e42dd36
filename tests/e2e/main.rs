//! amolink end to end, over real HTTP, on SQLite and PostgreSQL.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod accounts;
mod activity;
mod api;
mod api_keys;
mod audit;
mod backup;
mod connect;
mod connect_guards;
mod connect_sessions;
mod csrf;
mod deletion;
mod headers;
mod hostile;
mod hygiene;
mod isolation;
mod keeper;
mod key_rotation;
mod languages;
mod lifecycle;
mod lifetime_properties;
mod lifetimes;
mod messages;
mod openapi;
mod operations;
mod passwords;
mod proxy;
mod relay;
mod relay_sim;
mod roles;
mod scale;
mod sessions;
mod shared_account;
mod slow_clients;
mod storage_bounds;
mod teams;
mod throttle;
mod tokens;
mod ux;
mod webhooks;
