//! Connect sessions: a tenant's backend asks for a short-lived, single-use hosted connect URL for
//! one of its end users; the connection made through it carries that end user and metadata.

mod model;
mod port;
mod service;

pub use model::{ConnectSession, CreatedSession, NewConnectSession, SessionRequest};
pub use port::ConnectSessionRepository;
pub use service::{ConnectSessions, MAX_OPEN_SESSIONS_PER_WORKSPACE, SESSION_TTL};
