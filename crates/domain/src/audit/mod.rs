//! The audit trail: who did what to a workspace, when and from which address. Services record
//! an entry after each action that changes who can do what or what the workspace holds; admins
//! read it on a page and through `GET /api/v1/audit-events`; it is kept for a configurable
//! number of days.

mod model;
mod port;
mod service;

pub use model::{
    AuditAction, AuditActor, AuditCursor, AuditEntry, AuditFilter, AuditPage, AuditTarget,
    NewAuditEntry, Principal, detail,
};
pub use port::AuditStore;
pub use service::{Audit, MAX_AUDIT_PAGE};
