//! Who is signed in, with the idle and absolute timeouts enforced on every request.

use std::time::Duration;

use actix_session::{Session, SessionExt as _};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use domain::{accounts::Member, ids::UserId};
use futures_util::future::LocalBoxFuture;

use super::store::USER_KEY;
use crate::{
    csrf,
    error::{AppError, PageError},
    state::AppState,
};

const CREATED_KEY: &str = "created";
const SEEN_KEY: &str = "seen";
/// `last seen` is written at most this often, so browsing does not write on every request.
const SEEN_RESOLUTION_SECS: i64 = 60;

/// How long a session may sit unused, and how long it may live at all.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// Starts a signed-in session for `member`, under a fresh session id.
///
/// Everything from before the log-in (including the anonymous CSRF token) is dropped, and the old
/// id is deleted from the store, so a session id planted before log-in is worthless.
///
/// # Errors
/// When the session state cannot be written.
pub fn begin(session: &Session, member: &Member, now_secs: i64) -> Result<(), AppError> {
    session.clear();
    session.renew();
    let insert = |key: &str, value: String| {
        session
            .insert(key, value)
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))
    };
    insert(USER_KEY, member.user_id.to_string())?;
    insert(CREATED_KEY, now_secs.to_string())?;
    insert(SEEN_KEY, now_secs.to_string())?;
    Ok(())
}

/// Ends the session: its row is deleted and the cookie removed.
pub fn end(session: &Session) {
    session.purge();
}

/// Drops a timed-out session's state under a fresh id (the old row is deleted), leaving an
/// anonymous session that the page being served can still use, e.g. for its CSRF token.
fn forget(session: &Session) {
    session.clear();
    session.renew();
}

/// The signed-in member; handlers that take it cannot run for anonymous visitors.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: Member,
    /// The session's CSRF token, for forms on the page.
    pub csrf_token: String,
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // A state-changing request without a live session cannot carry a valid CSRF token
        // either (it is bound to the session): refuse it as forged rather than redirect, so a
        // cross-site form gets 403 whatever order the handler's extractors resolve in.
        let unsafe_method = !req.method().is_safe();
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let member = match current_member(&session, &state).await {
                Err(AppError::SignInRequired) if unsafe_method => return Err(AppError::Csrf.into()),
                other => other?,
            };
            let csrf_token = csrf::token(&session)?;
            Ok(Self { member, csrf_token })
        })
    }
}

fn read_i64(session: &Session, key: &str) -> Option<i64> {
    session.get::<String>(key).ok().flatten()?.parse().ok()
}

async fn current_member(session: &Session, state: &AppState) -> Result<Member, AppError> {
    let Some(user) = session
        .get::<String>(USER_KEY)
        .ok()
        .flatten()
        .and_then(|raw| raw.parse::<UserId>().ok())
    else {
        return Err(AppError::SignInRequired);
    };
    let now = state.clock.now().timestamp();
    let timeouts = state.session_timeouts;
    let created = read_i64(session, CREATED_KEY).unwrap_or(i64::MIN);
    let seen = read_i64(session, SEEN_KEY).unwrap_or(i64::MIN);
    let expired = now.saturating_sub(created) > secs(timeouts.absolute)
        || now.saturating_sub(seen) > secs(timeouts.idle);
    if expired {
        forget(session);
        return Err(AppError::SignInRequired);
    }
    let Some(member) = state.accounts.member(user).await? else {
        forget(session);
        return Err(AppError::SignInRequired);
    };
    if now.saturating_sub(seen) >= SEEN_RESOLUTION_SECS {
        session
            .insert(SEEN_KEY, now.to_string())
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))?;
    }
    Ok(member)
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
