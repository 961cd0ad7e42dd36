//! amolink's domain: tenants and their users, the amoCRM connection lifecycle, and the rules
//! that keep credentials safe.
//!
//! This crate knows no HTTP framework and no ORM. It states what it needs from storage as port
//! traits ([`ports`]) that the `persistence` crate implements, and it parses every input into a
//! type that can only hold valid values, so the services below never re-check them.

mod text;

pub mod access;
pub mod accounts;
pub mod activity;
pub mod amo;
pub mod api_keys;
pub mod audit;
pub mod buttons;
pub mod clock;
pub mod connect;
pub mod connect_sessions;
pub mod connections;
pub mod crypto;
pub mod end_user;
pub mod error;
pub mod governor;
pub mod ids;
pub mod keeper;
pub mod key_rotation;
pub mod mail;
pub mod paging;
pub mod ports;
pub mod relay;
pub mod teams;
mod trusted_cache;
pub mod webhooks;

pub use error::{Error, Message, StoreError, ValidationError};
