//! sea-orm entities: one module per table, mirroring the migrations. Rows never leave this
//! crate; the query modules map them to domain types.

pub mod users;
pub mod web_sessions;
pub mod workspaces;
