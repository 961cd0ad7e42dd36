//! Shared application state handed to every handler.

use std::sync::Arc;

use domain::{
    accounts::Accounts, clock::Clock, connect::ConnectService, connections::Connections,
    keeper::Keeper, ports::AccountRepository,
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
    /// For readiness checks.
    pub health: Arc<dyn AccountRepository>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub session_timeouts: Timeouts,
    pub button_scripts: ButtonScripts,
}
