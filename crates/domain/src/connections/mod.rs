//! Connected amoCRM / Kommo accounts: what the tenant sees and may do with them.

mod model;
mod service;

pub use model::{
    Actor, ConnectionEvent, ConnectionFilter, ConnectionRecord, ConnectionStatus,
    ConnectionSummary, EventKind, NewEvent, Page, PageCursor, SealedColumn,
};
pub use service::Connections;
