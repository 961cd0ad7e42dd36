//! Outgoing e-mail, as the domain asks for it: which message, to whom, with which facts. The
//! words are not here: the `web` crate renders each [`Mail`] from templates and delivers it
//! (over SMTP, or into the development outbox when no SMTP server is configured).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::{StoreError, accounts::Email, ids::WorkspaceId, teams::Role};

/// A message amolink sends. Links carry one-time tokens, so they are secrets: `Debug` never
/// prints them.
#[derive(Debug, Clone)]
pub enum Mail {
    /// An invitation to join a workspace.
    Invite {
        workspace: String,
        inviter: String,
        role: Role,
        link: SecretString,
        expires_at: DateTime<Utc>,
    },
    /// A link to choose a new password.
    PasswordReset {
        link: SecretString,
        expires_at: DateTime<Utc>,
    },
}

/// A message and its recipient.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub to: Email,
    /// The workspace the message is about, if any (its copies go when the workspace does).
    pub workspace: Option<WorkspaceId>,
    pub mail: Mail,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// No way to send mail is configured (production without SMTP).
    #[error("mail is not configured")]
    Unavailable,
    #[error("mail delivery failed")]
    Failed(#[source] anyhow::Error),
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Whether mail can be sent at all; features that need it say so when it cannot.
    fn available(&self) -> bool;

    /// Sends one message.
    ///
    /// # Errors
    /// [`MailError::Unavailable`] when no transport is configured; [`MailError::Failed`] when the
    /// transport refused or failed.
    async fn send(&self, envelope: &Envelope) -> Result<(), MailError>;
}

/// A rendered message kept in the development outbox instead of being sent.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub id: uuid::Uuid,
    pub workspace: Option<WorkspaceId>,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// The development outbox (`/dev/outbox`).
#[async_trait]
pub trait MailOutbox: Send + Sync {
    async fn store_mail(&self, mail: &OutboxMail) -> Result<(), StoreError>;

    /// The newest `limit` messages, newest first.
    async fn outbox(&self, limit: u64) -> Result<Vec<OutboxMail>, StoreError>;

    /// Deletes messages stored before `before`.
    async fn purge_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
