//! Who is signed in, in which workspace, with the idle and absolute timeouts enforced on every
//! request.

use std::{net::IpAddr, time::Duration};

use actix_session::{Session, SessionExt as _};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use domain::{
    accounts::{Email, Member},
    audit::Principal,
    ids::{UserId, WorkspaceId},
    teams::Membership,
};
use futures_util::future::LocalBoxFuture;

use super::store::{USER_KEY, WORKSPACE_KEY};
use crate::{
    client_ip::client_ip,
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

fn write(session: &Session, key: &str, value: String) -> Result<(), AppError> {
    session
        .insert(key, value)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))
}

/// Starts a signed-in session for `user` in `workspace` (none when they belong to no workspace
/// yet), under a fresh session id.
///
/// Everything from before the log-in (including the anonymous CSRF token) is dropped, and the old
/// id is deleted from the store, so a session id planted before log-in is worthless.
///
/// # Errors
/// When the session state cannot be written.
pub fn begin(
    session: &Session,
    user: UserId,
    workspace: Option<WorkspaceId>,
    now_secs: i64,
) -> Result<(), AppError> {
    session.clear();
    session.renew();
    write(session, USER_KEY, user.to_string())?;
    if let Some(workspace) = workspace {
        write(session, WORKSPACE_KEY, workspace.to_string())?;
    }
    write(session, CREATED_KEY, now_secs.to_string())?;
    write(session, SEEN_KEY, now_secs.to_string())?;
    Ok(())
}

/// Whether the session belongs to a signed-in user (without checking it is still valid).
#[must_use]
pub fn has_user(session: &Session) -> bool {
    session.contains_key(USER_KEY)
}

/// Moves the session to another workspace the user belongs to (or to none), under a fresh
/// session id: the user's privileges change with the workspace.
///
/// # Errors
/// When the session state cannot be written.
pub fn switch(session: &Session, workspace: Option<WorkspaceId>) -> Result<(), AppError> {
    match workspace {
        Some(workspace) => write(session, WORKSPACE_KEY, workspace.to_string())?,
        None => {
            session.remove(WORKSPACE_KEY);
        }
    }
    session.renew();
    Ok(())
}

/// Keeps the current browser signed in under a fresh id after every session of the user was
/// ended in storage (password change): the renewed session is saved as a new row.
pub fn keep_after_ending_others(session: &Session) {
    session.renew();
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

/// The signed-in member in the session's current workspace; handlers that take it cannot run
/// for anonymous visitors. Handlers that need a permission take [`super::Require`] instead.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: Member,
    /// The session's CSRF token, for forms on the page.
    pub csrf_token: String,
    /// Every workspace the user belongs to (the switcher in the header).
    pub workspaces: Vec<Membership>,
    /// The client address (from a trusted proxy's header, or the peer).
    pub client: IpAddr,
    /// The one-time message of the action that redirected here; taken by page views only.
    pub flash: Option<crate::flash::Notice>,
}

impl SignedIn {
    /// The member as the audit trail and connection history name them.
    #[must_use]
    pub fn principal(&self) -> Principal {
        Principal::member(&self.member, self.client)
    }
}

/// A signed-in user, whether or not they belong to any workspace (creating a first or another
/// workspace needs no membership).
#[derive(Debug, Clone)]
pub struct Account {
    pub user: UserId,
    pub email: Email,
    pub csrf_token: String,
    pub client: IpAddr,
}

/// The session as read: the user and the workspace it names.
struct Current {
    user: UserId,
    workspace: Option<WorkspaceId>,
}

fn read_i64(session: &Session, key: &str) -> Option<i64> {
    session.get::<String>(key).ok().flatten()?.parse().ok()
}

fn read_id<T: std::str::FromStr>(session: &Session, key: &str) -> Option<T> {
    session
        .get::<String>(key)
        .ok()
        .flatten()
        .and_then(|raw| raw.parse().ok())
}

/// The user of a live session (timeouts checked, `last seen` bumped unless `bump` is false: a
/// page's own background fetch, such as the status badges' poll, is not the person being there,
/// so it must not keep an unattended session alive).
fn current(session: &Session, state: &AppState, bump: bool) -> Result<Current, AppError> {
    let Some(user) = read_id::<UserId>(session, USER_KEY) else {
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
    if bump && now.saturating_sub(seen) >= SEEN_RESOLUTION_SECS {
        write(session, SEEN_KEY, now.to_string())?;
    }
    Ok(Current {
        user,
        workspace: read_id(session, WORKSPACE_KEY),
    })
}

async fn current_member(
    session: &Session,
    state: &AppState,
    bump: bool,
) -> Result<Member, AppError> {
    let Current { user, workspace } = current(session, state, bump)?;
    if let Some(workspace) = workspace {
        // A session names a workspace the user was removed from only if the removal raced this
        // request (removal deletes those sessions): treat it as ended.
        return match state.accounts.member(user, workspace).await? {
            Some(member) => Ok(member),
            None => {
                forget(session);
                Err(AppError::SignInRequired)
            }
        };
    }
    match state.accounts.first_member(user).await? {
        Some(member) => {
            write(session, WORKSPACE_KEY, member.workspace_id.to_string())?;
            Ok(member)
        }
        None if state.accounts.user_email(user).await?.is_some() => Err(AppError::NoWorkspace),
        None => {
            forget(session);
            Err(AppError::SignInRequired)
        }
    }
}

/// A state-changing request without a live session cannot carry a valid CSRF token either (it
/// is bound to the session): refuse it as forged rather than redirect, so a cross-site form gets
/// 403 whatever order the handler's extractors resolve in.
fn refuse_anonymous(error: AppError, unsafe_method: bool) -> AppError {
    match error {
        AppError::SignInRequired if unsafe_method => AppError::Csrf,
        other => other,
    }
}

/// A page's script fetching in the background (it says so with `x-amolink-fetch`).
fn is_script_fetch(req: &HttpRequest) -> bool {
    req.headers().contains_key("x-amolink-fetch")
}

/// A GET of a page (not a script's fetch of a fragment or JSON): the view a flash is meant for.
fn is_page_view(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::GET
        && req
            .headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|accept| accept.contains("text/html") || accept.contains("*/*"))
        && !is_script_fetch(req)
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let unsafe_method = !req.method().is_safe();
        let page_view = is_page_view(req);
        let bump = !is_script_fetch(req);
        let client = state
            .as_ref()
            .map(|s| client_ip(req, &s.settings.trusted_proxies));
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let member = current_member(&session, &state, bump)
                .await
                .map_err(|e| refuse_anonymous(e, unsafe_method))?;
            let csrf_token = csrf::session_token(&session)?;
            let workspaces = state.teams.memberships(member.user_id).await?;
            let flash = if page_view {
                crate::flash::take_notice(&session)
            } else {
                None
            };
            Ok(Self {
                member,
                csrf_token,
                workspaces,
                client: client.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                flash,
            })
        })
    }
}

impl FromRequest for Account {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let unsafe_method = !req.method().is_safe();
        let client = state
            .as_ref()
            .map(|s| client_ip(req, &s.settings.trusted_proxies));
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let Current { user, .. } =
                current(&session, &state, true).map_err(|e| refuse_anonymous(e, unsafe_method))?;
            let Some(email) = state.accounts.user_email(user).await? else {
                forget(&session);
                return Err(refuse_anonymous(AppError::SignInRequired, unsafe_method).into());
            };
            Ok(Self {
                user,
                email,
                csrf_token: csrf::session_token(&session)?,
                client: client.unwrap_or(IpAddr::from([0, 0, 0, 0])),
            })
        })
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
