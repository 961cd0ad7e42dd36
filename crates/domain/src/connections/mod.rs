//! Connected amoCRM / Kommo accounts: what the tenant sees and may do with them.

pub mod lifecycle;
mod model;
mod service;

pub use lifecycle::{Effects, Erasure, RelayEffect, StatusChange, Transition};
pub use model::{
    Actor, ConnectionEvent, ConnectionFilter, ConnectionRecord, ConnectionStatus,
    ConnectionSummary, EventKind, NewEvent, Page, PageCursor, SealedColumn, TokenCall,
};
pub use service::{Connections, MAX_STATUS_LOOKUPS};
