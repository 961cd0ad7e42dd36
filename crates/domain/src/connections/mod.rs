//! Connected amoCRM / Kommo accounts: what the tenant sees and may do with them.

mod cache;
pub mod lifecycle;
mod model;
mod service;

pub use cache::{CONNECTION_CACHE_TTL, CachedConnections, ConnectionCache};
pub use lifecycle::{Effects, Erasure, RelayEffect, StatusChange, Transition};
pub use model::{
    Actor, ConnectionEvent, ConnectionFilter, ConnectionRecord, ConnectionStatus,
    ConnectionSummary, EventKind, NewEvent, Page, PageCursor, SealedColumn, TokenCall,
};
pub use service::{Connections, MAX_STATUS_LOOKUPS};
