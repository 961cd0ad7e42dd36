//! sea-orm entities: one module per table, mirroring the migrations. Rows never leave this
//! crate; the query modules map them to domain types.

pub mod connect_buttons;
pub mod connect_flows;
pub mod connection_events;
pub mod connections;
pub mod users;
pub mod web_sessions;
pub mod workspaces;
