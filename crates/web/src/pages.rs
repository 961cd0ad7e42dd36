//! View models: one askama template struct per page. They hold display strings, never storage
//! rows or secrets, and askama escapes every value they print.

use crate::i18n::Translate as _;
use askama::Template;
use chrono::{DateTime, Utc};
use domain::amo::Platform;
use domain::{
    ValidationError,
    connect::Button,
    connections::{ConnectionEvent, ConnectionStatus, ConnectionSummary},
    teams::{Permission, Role},
};

use crate::{error::Problem, session::SignedIn};

/// What the layout needs: who is signed in, where, what their role lets them reach, and which
/// tab is active.
#[derive(Debug, Default)]
pub struct Chrome {
    pub user: Option<ChromeUser>,
    pub active: &'static str,
    /// What the member may do: links and buttons they cannot use are not rendered.
    pub can: Can,
    /// The one-time message of the action that led here.
    pub flash: Option<String>,
}

#[derive(Debug)]
pub struct ChromeUser {
    pub email: String,
    pub workspace: String,
    pub role: &'static str,
    /// For the log-out and workspace-switch forms.
    pub csrf_token: String,
    /// Every workspace of the user, for the switcher.
    pub workspaces: Vec<WorkspaceChoice>,
}

/// One entry of the workspace switcher.
#[derive(Debug)]
pub struct WorkspaceChoice {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub current: bool,
}

/// The member's permissions, one flag per thing a page may offer.
#[derive(Debug, Default, Clone, Copy)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one flag per permission, read by templates"
)]
pub struct Can {
    pub manage_buttons: bool,
    pub manage_api_keys: bool,
    pub manage_webhooks: bool,
    pub revoke_connections: bool,
    pub view_members: bool,
    pub manage_members: bool,
    pub view_audit: bool,
    pub delete_workspace: bool,
    pub transfer_ownership: bool,
}

impl Can {
    #[must_use]
    pub const fn of(role: Role) -> Self {
        Self {
            manage_buttons: role.allows(Permission::ManageButtons),
            manage_api_keys: role.allows(Permission::ManageApiKeys),
            manage_webhooks: role.allows(Permission::ManageWebhooks),
            revoke_connections: role.allows(Permission::RevokeConnections),
            view_members: role.allows(Permission::ViewMembers),
            manage_members: role.allows(Permission::ManageMembers),
            view_audit: role.allows(Permission::ViewAudit),
            delete_workspace: role.allows(Permission::DeleteWorkspace),
            transfer_ownership: role.allows(Permission::TransferOwnership),
        }
    }
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
                role: who.member.role.as_str(),
                csrf_token: who.csrf_token.clone(),
                workspaces: who
                    .workspaces
                    .iter()
                    .map(|w| WorkspaceChoice {
                        id: w.workspace.to_string(),
                        name: w.workspace_name.clone(),
                        role: w.role.as_str(),
                        current: w.workspace == who.member.workspace_id,
                    })
                    .collect(),
            }),
            active,
            can: Can::of(who.member.role),
            flash: who.flash.map(crate::flash::Notice::text),
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
    /// Each field's problem, shown next to it.
    pub fields: FieldErrors,
    /// The e-mail may already have an account: offer to log in or reset the password (worded
    /// so it reveals nothing about which e-mails are registered).
    pub maybe_registered: bool,
}

/// Validation messages by form field, for inline display (`aria-describedby`).
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    #[must_use]
    pub fn of(errors: &[ValidationError]) -> Self {
        Self(
            errors
                .iter()
                .map(|e| (e.field, crate::i18n::domain_message(&e.message)))
                .collect(),
        )
    }

    /// The message for `field`, or empty.
    #[must_use]
    pub fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map_or("", |(_, m)| m.as_str())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub errors: Vec<String>,
    /// What just happened (`password_reset`), if anything.
    pub notice: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub workspace: String,
    pub csrf_token: String,
    pub buttons: Vec<ButtonView>,
    pub recent: Vec<ConnectionRow>,
    /// The add-button form: empty, or what was typed when it was refused.
    pub form: ButtonForm,
    pub errors: Vec<String>,
    /// Connections by status and 14 days of activity (`_charts.html`).
    pub charts: crate::charts::DashboardCharts,
}

/// `GET /buttons/{id}`: one button's edit form.
#[derive(Template)]
#[template(path = "button_edit.html")]
pub struct ButtonEditPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub button: ButtonView,
    pub form: ButtonForm,
    pub errors: Vec<String>,
}

/// A platform the button form offers, with the defaults its script switches to.
#[derive(Debug)]
pub struct PlatformChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub title: &'static str,
    pub color: &'static str,
}

/// The add and edit form of a connect button, as typed (or as stored).
#[derive(Debug, Clone, Default)]
pub struct ButtonForm {
    /// Where it posts: `/buttons` or `/buttons/{id}`.
    pub action: String,
    /// The submit button's catalogue id.
    pub submit: &'static str,
    pub platform: String,
    pub name: String,
    pub description: String,
    pub logo_url: String,
    pub title: String,
    pub color: String,
    pub mode: String,
    pub scope_crm: bool,
    pub scope_notifications: bool,
    pub compact: bool,
}

impl ButtonForm {
    /// A new button: amoCRM's defaults.
    #[must_use]
    pub fn new_button(default_logo: &str) -> Self {
        Self {
            action: "/buttons".to_owned(),
            submit: "dash-add-submit",
            platform: "amocrm".to_owned(),
            logo_url: default_logo.to_owned(),
            title: domain::connect::default_title(Platform::AmoCrm).to_owned(),
            color: domain::connect::ButtonColor::default_for(Platform::AmoCrm)
                .as_str()
                .to_owned(),
            mode: "popup".to_owned(),
            scope_crm: true,
            ..Self::default()
        }
    }

    /// A stored button's settings, to edit.
    #[must_use]
    pub fn of(button: &Button) -> Self {
        let s = &button.settings;
        Self {
            action: format!("/buttons/{}", button.id),
            submit: "button-save",
            platform: s.platform.to_string(),
            name: s.name.clone(),
            description: s.description.clone(),
            logo_url: s.logo_url.to_string(),
            title: s.title.clone(),
            color: s.color.as_str().to_owned(),
            mode: s.mode.as_str().to_owned(),
            scope_crm: s.scopes.contains(&domain::connect::Scope::Crm),
            scope_notifications: s.scopes.contains(&domain::connect::Scope::Notifications),
            compact: s.compact,
        }
    }

    /// The platforms, each with the title and colour its button starts with.
    #[must_use]
    pub fn platforms(&self) -> Vec<PlatformChoice> {
        [
            (Platform::AmoCrm, "amoCRM (amocrm.ru)"),
            (Platform::Kommo, "Kommo (kommo.com)"),
        ]
        .into_iter()
        .map(|(platform, label)| PlatformChoice {
            value: match platform {
                Platform::AmoCrm => "amocrm",
                Platform::Kommo => "kommo",
            },
            label,
            title: domain::connect::default_title(platform),
            color: domain::connect::ButtonColor::default_for(platform).as_str(),
        })
        .collect()
    }

    /// Every colour with the platform that offers it (`amocrm` / `kommo`).
    #[must_use]
    pub fn colours(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("default", "amocrm"),
            ("blue", "amocrm"),
            ("violet", "amocrm"),
            ("green", "amocrm"),
            ("orange", "amocrm"),
            ("red", "amocrm"),
            ("light", "kommo"),
            ("dark", "kommo"),
        ]
    }
}

/// A connect button as the dashboard shows it.
#[derive(Debug)]
pub struct ButtonView {
    pub id: String,
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
            id: button.id.to_string(),
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
    /// The status's code (`active`…): the page prints its catalogue label `status-…`.
    pub status: &'static str,
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
            status: c.status.as_str(),
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
    /// The event kind's code: the page prints its catalogue label `event-…`.
    pub kind: &'static str,
    pub actor: String,
    pub detail: String,
}

impl From<&ConnectionEvent> for EventRow {
    fn from(e: &ConnectionEvent) -> Self {
        Self {
            at: when(Some(e.at)),
            kind: e.kind.as_str(),
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
    /// Every status's code, for the filter.
    pub statuses: Vec<&'static str>,
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
    /// The account's amoCRM events subscription, once one was asked for.
    pub relay: Option<RelayRow>,
    /// Charts, timeline and the activity list (`_activity.html`).
    pub activity: crate::charts::ConnectionActivity,
}

/// A connection's events subscription for display.
#[derive(Debug)]
pub struct RelayRow {
    pub status: &'static str,
    pub status_class: &'static str,
    pub reason: String,
    pub last_checked: String,
    pub subscribed_events: usize,
    /// amoCRM stopped sending at (status paused), or empty.
    pub paused_since: String,
    /// The last closed gap, or empty.
    pub gap_from: String,
    pub gap_until: String,
}

impl From<&domain::relay::Subscription> for RelayRow {
    fn from(s: &domain::relay::Subscription) -> Self {
        use domain::relay::SubscriptionStatus as S;
        let at = |t: Option<DateTime<Utc>>| t.map(crate::i18n::datetime).unwrap_or_default();
        Self {
            status: s.status.as_str(),
            status_class: match s.status {
                S::Subscribed => "ok",
                S::Pending => "warn",
                S::Paused | S::Failed => "bad",
                S::Unsubscribed => "muted",
            },
            reason: s.reason.clone().unwrap_or_default(),
            last_checked: at(s.last_checked_at),
            subscribed_events: s.settings.len(),
            paused_since: if s.status == S::Paused {
                at(s.paused_at)
            } else {
                String::new()
            },
            gap_from: at(s.gap_from),
            gap_until: at(s.gap_until),
        }
    }
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
    /// The embedding page's origin (empty when the page was opened directly).
    pub embed_origin: String,
}

#[derive(Template)]
#[template(path = "connect_done.html")]
pub struct ConnectDonePage {
    pub connected: bool,
    pub account_name: String,
    /// The catalogue id of what to tell the end user when it failed.
    pub message: &'static str,
    pub mode: &'static str,
    pub connection_id: String,
    pub end_user_id: String,
    pub back: Back,
}

#[derive(Template)]
#[template(path = "connect_declined.html")]
pub struct ConnectDeclinedPage {
    pub back: Back,
}

/// Where a connect result page sends the end user back to, and which page hears the outcome.
#[derive(Debug, Default)]
pub struct Back {
    /// The embedding page's origin, the only target of the outcome's `postMessage`.
    pub embed_origin: String,
    /// A "Back to {host}" link, when the tenant gave a return URL.
    pub link: Option<(String, String)>,
}

impl Back {
    #[must_use]
    pub fn new(to: &crate::routes::ReturnTo) -> Self {
        Self {
            embed_origin: to.embed_origin.clone().unwrap_or_default(),
            link: to.return_url.clone().zip(to.return_host()),
        }
    }
}

#[must_use]
pub const fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::AmoCrm => "amoCRM",
        Platform::Kommo => "Kommo",
    }
}

/// The badge colour of a status (`ok`, `warn`, `bad`).
#[must_use]
pub const fn status_class(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Active => "ok",
        ConnectionStatus::Degraded | ConnectionStatus::RateLimited => "warn",
        ConnectionStatus::NeedsReauth
        | ConnectionStatus::Disconnected
        | ConnectionStatus::Revoked => "bad",
    }
}

/// A timestamp for people, or an em dash when there is none.
pub(crate) fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), crate::i18n::datetime)
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: String,
    pub detail: String,
}

impl ErrorPage {
    #[must_use]
    pub fn from_problem(problem: &Problem) -> Self {
        Self {
            chrome: Chrome::anonymous(),
            status: problem.status.as_u16(),
            title: problem.localized_title(),
            detail: problem.localized_detail(),
        }
    }
}

/// Human messages for a list of validation errors.
#[must_use]
pub fn messages(errors: &[ValidationError]) -> Vec<String> {
    errors.iter().map(validation_message).collect()
}

/// A refused input for people, in the request's language.
#[must_use]
pub fn validation_message(error: &ValidationError) -> String {
    crate::i18n::domain_message(&error.message)
}
