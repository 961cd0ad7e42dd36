//! amolink's web layer and binary: pages for people, JSON for machines, and the wiring that
//! composes the domain, storage and the amoCRM client into one server.
//!
//! Handlers only translate: they parse inputs into domain types, call one domain service, and
//! render a template or a redirect. Statuses are chosen in one place ([`error`]).

pub mod api;
pub mod client_ip;
pub mod csrf;
pub mod error;
pub mod maintenance;
pub mod metrics;
pub mod pages;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod settings;
pub mod startup;
pub mod state;
pub mod static_files;
pub mod telemetry;
pub mod webhooks;

pub use startup::Application;
