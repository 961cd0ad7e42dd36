//! Minting and opening connect sessions.

use std::{sync::Arc, time::Duration};

use subtle::ConstantTimeEq as _;

use super::{ConnectSessionRepository, CreatedSession, NewConnectSession, SessionRequest};
use crate::{
    Error, Message, ValidationError,
    clock::Clock,
    connect::{ConnectService, OneTimeToken, StartedFlow, hash_token},
    ids::{ConnectSessionId, WorkspaceId},
    ports::ButtonRepository,
};

/// How long a connect URL stays usable (Nango uses the same 30 minutes).
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

/// The most connect sessions one workspace may hold open (unexpired) at once: a tenant mints one
/// per end user about to connect; the cap keeps a leaked or looping API key from filling the
/// database. With expired sessions purged an hour after expiry, a workspace stores at most
/// about three times this many.
pub const MAX_OPEN_SESSIONS_PER_WORKSPACE: u64 = 1_000;

/// The link did its job: its browser connected an account through it.
fn completed() -> Error {
    Error::Invalid(ValidationError::new("session", "connect-session-used"))
}

fn unusable() -> Error {
    Error::Invalid(ValidationError::new("session", "connect-session-expired"))
}

/// Whether `raw` could be a [`OneTimeToken`] (43 base64url characters).
fn token_shaped(raw: &str) -> bool {
    raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Connect sessions of every workspace.
#[derive(Clone)]
pub struct ConnectSessions {
    repo: Arc<dyn ConnectSessionRepository>,
    buttons: Arc<dyn ButtonRepository>,
    connect: ConnectService,
    clock: Arc<dyn Clock>,
}

impl ConnectSessions {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ConnectSessionRepository>,
        buttons: Arc<dyn ButtonRepository>,
        connect: ConnectService,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            buttons,
            connect,
            clock,
        }
    }

    /// Mints a session for one end user.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the requested button is not one of the workspace's;
    /// [`Error::Conflict`] when the workspace has no button at all or already holds
    /// [`MAX_OPEN_SESSIONS_PER_WORKSPACE`] unexpired sessions; storage failures.
    pub async fn create(
        &self,
        workspace: WorkspaceId,
        request: SessionRequest,
    ) -> Result<CreatedSession, Error> {
        if self
            .repo
            .open_connect_session_count(workspace, self.clock.now())
            .await?
            >= MAX_OPEN_SESSIONS_PER_WORKSPACE
        {
            return Err(Error::Conflict(
                Message::new("connect-sessions-at-cap")
                    .with("max", MAX_OPEN_SESSIONS_PER_WORKSPACE)
                    .with("minutes", SESSION_TTL.as_secs() / 60),
            ));
        }
        let buttons = self.buttons.buttons(workspace).await?;
        let button = match request.button {
            Some(id) => buttons.iter().find(|b| b.id == id).ok_or(Error::NotFound)?,
            None => buttons
                .first()
                .ok_or(Error::Conflict(Message::new("no-connect-button")))?,
        };
        let token = OneTimeToken::mint();
        let now = self.clock.now();
        let session = NewConnectSession {
            id: ConnectSessionId::random(),
            workspace,
            button: button.id,
            token_hash: token.hash(),
            end_user: request.end_user,
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(SESSION_TTL).unwrap_or(chrono::Duration::zero()),
        };
        self.repo.insert_connect_session(&session).await?;
        tracing::info!(event = "connect_session_created", workspace_id = %workspace, connect_session_id = %session.id, "connect session created");
        Ok(CreatedSession {
            id: session.id,
            token,
            button: session.button,
            end_user: session.end_user,
            expires_at: session.expires_at,
        })
    }

    /// Opens `/connect/s/{token}`: the first browser to open an unexpired link redeems it, and
    /// only that browser may open it again (a reload) until it expires. Each view starts a fresh
    /// connect flow carrying the session's end user and metadata.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown, expired or already redeemed link (one answer for all);
    /// storage failures.
    pub async fn open(
        &self,
        raw_token: &str,
        existing_binding: Option<&str>,
    ) -> Result<StartedFlow, Error> {
        if !token_shaped(raw_token) {
            return Err(unusable());
        }
        let now = self.clock.now();
        let session = self
            .repo
            .connect_session_by_token(&hash_token(raw_token))
            .await?
            .filter(|s| s.expires_at > now)
            .ok_or_else(unusable)?;
        let binding = existing_binding
            .filter(|b| token_shaped(b))
            .map_or_else(|| OneTimeToken::mint().expose().to_owned(), str::to_owned);
        let binding_hash = hash_token(&binding);
        let ours = match &session.binding_hash {
            Some(existing) => {
                let same = bool::from(existing.as_bytes().ct_eq(binding_hash.as_bytes()));
                if same && self.repo.connect_session_completed(session.id).await? {
                    return Err(completed());
                }
                same
            }
            None => {
                self.repo
                    .redeem_connect_session(session.id, &binding_hash, now)
                    .await?
            }
        };
        if !ours {
            tracing::warn!(event = "connect_session_refused", workspace_id = %session.workspace, connect_session_id = %session.id, "connect link opened by a second browser");
            return Err(unusable());
        }
        let button = self
            .buttons
            .buttons(session.workspace)
            .await?
            .into_iter()
            .find(|b| b.id == session.button)
            .ok_or_else(unusable)?;
        self.connect
            .start(button.key.as_str(), Some(&binding), Some(session.end_user))
            .await
    }

    /// Deletes sessions that expired more than an hour ago.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        Ok(self
            .repo
            .purge_connect_sessions(self.clock.now() - chrono::Duration::hours(1))
            .await?)
    }
}
