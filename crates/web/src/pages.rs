//! View models: one askama template struct per page. They hold display strings, never storage
//! rows or secrets, and askama escapes every value they print.

use amocrm::Platform;
use askama::Template;
use chrono::{DateTime, Utc};
use domain::{
    ValidationError,
    connect::Button,
    connections::{ConnectionEvent, ConnectionStatus, ConnectionSummary},
};

use crate::{error::Problem, session::SignedIn};

/// What the layout needs: who is signed in and which tab is active.
#[derive(Debug, Default)]
pub struct Chrome {
    pub user: Option<ChromeUser>,
    pub active: &'static str,
}

#[derive(Debug)]
pub struct ChromeUser {
    pub email: String,
    pub workspace: String,
    /// For the log-out form.
    pub csrf_token: String,
}

impl Chrome {
    #[must_use]
    pub fn anonymous() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn signed_in(who: &SignedIn, active: &'static str) -> Self {
        Self {
            user: Some(ChromeUser {
                email: who.member.email.to_string(),
                workspace: who.member.workspace_name.clone(),
                csrf_token: who.csrf_token.clone(),
            }),
            active,
        }
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub workspace: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub workspace: String,
    pub csrf_token: String,
    pub buttons: Vec<ButtonView>,
    pub recent: Vec<ConnectionRow>,
    pub default_logo: String,
    pub errors: Vec<String>,
}

/// A connect button as the dashboard shows it.
#[derive(Debug)]
pub struct ButtonView {
    pub key: String,
    pub name: String,
    pub platform_name: &'static str,
    pub title: String,
    pub color: &'static str,
    pub compact: bool,
    pub mode: &'static str,
    pub scopes: String,
    pub hosted_url: String,
    pub embed_snippet: String,
}

impl ButtonView {
    #[must_use]
    pub fn new(button: &Button, public_base: &str) -> Self {
        let s = &button.settings;
        Self {
            key: button.key.to_string(),
            name: s.name.clone(),
            platform_name: platform_name(s.platform),
            title: s.title.clone(),
            color: s.color.as_str(),
            compact: s.compact,
            mode: s.mode.as_str(),
            scopes: s.scopes_attribute(),
            hosted_url: format!("{public_base}/connect/{}", button.key),
            embed_snippet: format!(
                "<script src=\"{public_base}/embed/{}.js\" async></script>",
                button.key
            ),
        }
    }
}

/// A connection as a table row: display strings only.
#[derive(Debug)]
pub struct ConnectionRow {
    pub id: String,
    pub account_name: String,
    pub account_id: i64,
    pub host: String,
    pub platform_name: &'static str,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub status_reason: String,
    pub connected_at: String,
    pub expires_at: String,
    pub last_refresh: String,
    pub last_error: String,
    pub end_user: String,
    /// The end user's metadata as compact JSON (empty when none).
    pub metadata: String,
}

impl From<&ConnectionSummary> for ConnectionRow {
    fn from(c: &ConnectionSummary) -> Self {
        Self {
            id: c.id.to_string(),
            account_name: c.account_name.clone(),
            account_id: c.account_id,
            host: c.host.clone(),
            platform_name: platform_name(c.platform),
            status_label: c.status.label(),
            status_class: status_class(c.status),
            status_reason: c.status_reason.clone().unwrap_or_else(|| "—".to_owned()),
            connected_at: when(Some(c.connected_at)),
            expires_at: when(c.access_expires_at),
            last_refresh: when(c.last_refresh_at),
            last_error: c.last_error.clone().unwrap_or_else(|| "—".to_owned()),
            end_user: c.end_user_id.clone().unwrap_or_default(),
            metadata: c.metadata.as_ref().map(|m| m.to_json()).unwrap_or_default(),
        }
    }
}

/// An event as a table row.
#[derive(Debug)]
pub struct EventRow {
    pub at: String,
    pub label: &'static str,
    pub actor: String,
    pub detail: String,
}

impl From<&ConnectionEvent> for EventRow {
    fn from(e: &ConnectionEvent) -> Self {
        Self {
            at: when(Some(e.at)),
            label: e.kind.label(),
            actor: e.actor.clone(),
            detail: e.detail.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "connections.html")]
pub struct ConnectionsPage {
    pub chrome: Chrome,
    pub rows: Vec<ConnectionRow>,
    pub statuses: Vec<(&'static str, &'static str)>,
    pub q: String,
    pub status: String,
    pub platform: String,
    pub filtered: bool,
    pub first_page: String,
    pub next_page: String,
}

#[derive(Template)]
#[template(path = "connection.html")]
pub struct ConnectionPage {
    pub chrome: Chrome,
    pub c: ConnectionRow,
    pub events: Vec<EventRow>,
    pub revoked: bool,
    pub csrf_token: String,
}

/// The hosted connect page: amoCRM's official button tag, every attribute escaped.
#[derive(Template)]
#[template(path = "connect.html")]
pub struct ConnectPage {
    pub platform_name: &'static str,
    pub kommo: bool,
    pub script_class: &'static str,
    pub script_src: String,
    pub name: String,
    pub description: String,
    pub redirect_uri: String,
    pub secrets_uri: String,
    pub logo_url: String,
    pub scopes: String,
    pub title: String,
    pub compact: bool,
    pub color: &'static str,
    pub mode: &'static str,
    pub state: String,
    pub demo: bool,
}

#[derive(Template)]
#[template(path = "connect_done.html")]
pub struct ConnectDonePage {
    pub connected: bool,
    pub account_name: String,
    pub message: String,
    pub mode: &'static str,
}

#[derive(Template)]
#[template(path = "connect_declined.html")]
pub struct ConnectDeclinedPage;

#[must_use]
pub const fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::AmoCrm => "amoCRM",
        Platform::Kommo => "Kommo",
    }
}

const fn status_class(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Active => "ok",
        ConnectionStatus::Degraded | ConnectionStatus::RateLimited => "warn",
        ConnectionStatus::NeedsReauth
        | ConnectionStatus::Disconnected
        | ConnectionStatus::Revoked => "bad",
    }
}

/// A timestamp for people, or an em dash when there is none.
fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
}

impl ErrorPage {
    #[must_use]
    pub fn from_problem(problem: &Problem) -> Self {
        Self {
            chrome: Chrome::anonymous(),
            status: problem.status.as_u16(),
            title: problem.title,
            detail: problem.detail.clone(),
        }
    }
}

/// Human messages for a list of validation errors.
#[must_use]
pub fn messages(errors: &[ValidationError]) -> Vec<String> {
    errors.iter().map(|e| e.message.clone()).collect()
}
