//! One-time messages for the page a form redirects to (post/redirect/get): "Connection revoked",
//! "API key created", … and, once, a secret that page must show (a new API key). They live in
//! the server-side session and are taken by the next full page view.
//!
//! A secret is sealed with the master key ring (bound to the workspace and this purpose) before
//! it enters the session, so the session table never holds it in clear; it is opened and
//! dropped by the one page view that shows it.

use actix_session::Session;
use domain::{
    crypto::{Binding, Keyring},
    ids::WorkspaceId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

const NOTICE_KEY: &str = "flash";
const SECRET_KEY: &str = "flash_secret";
const SECRET_COLUMN: &str = "session_flash_secret";

/// What just happened; its text is the catalogue's `flash-<notice>` (locales/*/ux.ftl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Notice {
    ConnectionRevoked,
    ApiKeyCreated,
    ApiKeyRevoked,
    EndpointCreated,
    EndpointDeleted,
    TestEventSent,
    ButtonSaved,
    ButtonDeleted,
}

impl Notice {
    /// The message in the request's language (catalogue id `flash-<notice>`).
    #[must_use]
    pub fn text(self) -> String {
        crate::i18n::t(&format!("flash-{}", <&'static str>::from(self)))
    }
}

/// Shows `notice` on the next page view.
///
/// # Errors
/// When the session cannot be written.
pub fn notice(session: &Session, notice: Notice) -> Result<(), AppError> {
    session
        .insert(NOTICE_KEY, <&'static str>::from(notice))
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("cannot write the session: {e}")))
}

/// Takes the pending notice, if any.
#[must_use]
pub fn take_notice(session: &Session) -> Option<Notice> {
    session.remove_as::<String>(NOTICE_KEY)?.ok()?.parse().ok()
}

#[derive(Serialize, Deserialize)]
struct SealedSecret {
    label: String,
    sealed: String,
}

fn binding(workspace: WorkspaceId) -> Binding {
    Binding {
        workspace,
        row: Uuid::nil(),
        column: SECRET_COLUMN,
    }
}

/// A secret (with a label naming it) for the next page view of this workspace to show once.
///
/// # Errors
/// When the session cannot be written.
pub fn secret(
    session: &Session,
    keyring: &Keyring,
    workspace: WorkspaceId,
    label: &str,
    secret: &str,
) -> Result<(), AppError> {
    let value = SealedSecret {
        label: label.to_owned(),
        sealed: keyring.seal(secret, &binding(workspace)),
    };
    session
        .insert(SECRET_KEY, value)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("cannot write the session: {e}")))
}

/// Takes the pending secret: `(label, secret)`. One sealed for another workspace (the member
/// switched in between) does not open and is dropped.
#[must_use]
pub fn take_secret(
    session: &Session,
    keyring: &Keyring,
    workspace: WorkspaceId,
) -> Option<(String, secrecy::SecretString)> {
    let value = session.remove_as::<SealedSecret>(SECRET_KEY)?.ok()?;
    let secret = keyring.open(&value.sealed, &binding(workspace)).ok()?;
    Some((value.label, secret))
}
