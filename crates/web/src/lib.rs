//! amolink's web layer and binary: pages for people, JSON for machines, and the wiring that
//! composes the domain, storage and the amoCRM client into one server.
//!
//! Handlers only translate: they parse inputs into domain types, hand them to the domain (one use
//! case per request), and render a template or a redirect. They hold no SQL and no business
//! rules. Statuses are chosen in one place ([`error`]).

pub mod api;
pub mod charts;
pub mod client_ip;
pub mod csrf;
pub mod device;
pub mod error;
pub mod error_chrome;
pub mod flash;
pub mod i18n;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod pages;
pub mod relay;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod settings;
pub mod shutdown;
pub mod slow_clients;
pub mod startup;
pub mod state;
pub mod static_files;
pub mod telemetry;
pub mod webhooks;

pub use startup::Application;
