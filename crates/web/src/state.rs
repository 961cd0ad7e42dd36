//! Shared application state handed to every handler.

use std::sync::Arc;

use domain::{
    accounts::{Accounts, Passwords},
    activity::Activity,
    audit::Audit,
    buttons::Buttons,
    clock::Clock,
    connect::ConnectService,
    connections::Connections,
    keeper::Keeper,
    mail::MailOutbox,
    ports::AccountRepository,
    teams::Teams,
};

use crate::{metrics::Metrics, session::Timeouts, settings::Settings};

/// Where the hosted connect page loads amoCRM's button script from.
#[derive(Debug, Clone)]
pub enum ButtonScripts {
    /// `https://www.amocrm.ru/auth/button.min.js` and Kommo's equivalent.
    Official,
    /// The simulator mounted in demo mode, under this URL prefix.
    Simulator(String),
}

/// Everything handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub accounts: Accounts,
    pub connect: ConnectService,
    pub connections: Connections,
    /// API keys and connect sessions for the tenant API.
    pub api: crate::api::ApiState,
    pub keeper: Arc<Keeper>,
    /// Token vending and the proxy for the tenant API.
    pub access: domain::access::Access,
    /// The workspace's outgoing webhook endpoints.
    pub webhooks: domain::webhooks::Webhooks,
    /// amoCRM events: the receiver, relay settings and the event feed.
    pub relay: crate::relay::RelayState,
    /// For readiness checks.
    pub health: Arc<dyn AccountRepository>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub session_timeouts: Timeouts,
    pub button_scripts: ButtonScripts,
    /// Members, invitations, workspace deletion.
    pub teams: Teams,
    /// Password change and reset.
    pub passwords: Passwords,
    pub audit: Audit,
    /// Per-connection activity: the recorder, listings and chart numbers.
    pub activity: Activity,
    /// Connect buttons added by members (recorded in the audit trail).
    pub buttons: Buttons,
    /// The development mail outbox (`/dev/outbox`).
    pub outbox: Arc<dyn MailOutbox>,
    /// Seals the one-time secrets a redirect carries in the session (`crate::flash`).
    pub keyring: Arc<domain::crypto::Keyring>,
}
