//! The domain's failure vocabulary. `web` maps each variant to a status in exactly one place.

use std::time::Duration;

/// An input that does not satisfy a rule; `field` names the form or JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    #[must_use]
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Storage failed. The message is for logs; callers see only the variant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule of the schema refused the write.
    #[error("unique constraint violated: {0}")]
    Duplicate(&'static str),
    /// The database could not be reached or failed.
    #[error("storage failure")]
    Unavailable(#[source] anyhow::Error),
}

/// Why a domain operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Wrong email or password; deliberately does not say which.
    #[error("the email or password is not correct")]
    InvalidCredentials,
    /// Too many attempts; try again after the given time.
    #[error("too many attempts")]
    Throttled { retry_after: Duration },
    /// The signup could not be completed (for example, the email is in use). Deliberately vague.
    #[error("an account could not be created with these details")]
    SignupRefused,
    /// The resource does not exist in the caller's workspace (or at all: the two look the same).
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state of the resource.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// amoCRM refused or failed a step of the protocol; the text is safe to show.
    #[error("amoCRM did not complete the request: {0}")]
    Upstream(String),
    /// The server is saturated; the caller may retry shortly.
    #[error("busy")]
    Busy,
    /// amoCRM's request rate for a connection is spent (or amoCRM asked for a pause): retry after
    /// the given time. `reason` is safe to show.
    #[error("rate limited: {reason}")]
    RateLimited {
        retry_after: Duration,
        reason: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
