//! sea-orm entities: one module per table, mirroring the migrations. Rows never leave this
//! crate; the query modules map them to domain types.

pub mod api_keys;
pub mod audit_events;
pub mod connect_buttons;
pub mod connect_flows;
pub mod connect_sessions;
pub mod connection_activity;
pub mod connection_events;
pub mod connections;
pub mod invites;
pub mod mail_outbox;
pub mod memberships;
pub mod password_resets;
pub mod refresh_attempts;
pub mod relay_events;
pub mod relay_inbound;
pub mod relay_settings;
pub mod relay_subscriptions;
pub mod users;
pub mod web_sessions;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
pub mod webhook_messages;
pub mod workspaces;
