//! The domain's failure vocabulary. `web` maps each variant to a status in exactly one place.

use std::time::Duration;

/// Something to tell a person, as a stable code and its parameters. The domain never writes
/// sentences: `web` renders the code from its catalogue (`msg-<code>`) in the reader's language,
/// and the API's problem documents carry the code for programs to branch on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Kebab-case, stable across releases (`email-missing-at`).
    pub code: &'static str,
    /// Named values the rendering may use (`max` → `80`).
    pub params: Vec<(&'static str, String)>,
}

impl Message {
    #[must_use]
    pub const fn new(code: &'static str) -> Self {
        Self {
            code,
            params: Vec::new(),
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.params.push((name, value.to_string()));
        self
    }
}

/// For logs: the code and its parameters (`too-long(max=80)`).
impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)?;
        if !self.params.is_empty() {
            let params: Vec<String> = self
                .params
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            write!(f, "({})", params.join(", "))?;
        }
        Ok(())
    }
}

/// An input that does not satisfy a rule; `field` names the form or JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: Message,
}

impl ValidationError {
    #[must_use]
    pub const fn new(field: &'static str, code: &'static str) -> Self {
        Self {
            field,
            message: Message::new(code),
        }
    }

    /// Adds a parameter to the message.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.message = self.message.with(name, value);
        self
    }

    /// The message's code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        self.message.code
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
    Conflict(Message),
    /// amoCRM refused or failed a step of the protocol; the message is safe to show.
    #[error("amoCRM did not complete the request: {0}")]
    Upstream(Message),
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
    /// The connection's access token has too little time left to hand out or use, and amoCRM
    /// may not be asked for a new one before `retry_after` (the keeper's interval rule).
    #[error("the access token cannot be refreshed yet")]
    RefreshDeferred { retry_after: Duration },
    /// A team or account rule refused the operation.
    #[error(transparent)]
    Team(#[from] crate::teams::TeamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
