//! amolink's domain: tenants and their users, the amoCRM connection lifecycle, and the rules
//! that keep credentials safe.
//!
//! This crate knows no HTTP framework and no ORM. It states what it needs from storage as port
//! traits ([`ports`]) that the `persistence` crate implements, and it parses every input into a
//! type that can only hold valid values, so the services below never re-check them.

pub mod accounts;
pub mod clock;
pub mod connect;
pub mod connections;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod key_rotation;
pub mod ports;

pub use error::{Error, StoreError, ValidationError};
