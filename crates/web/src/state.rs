//! Shared application state handed to every handler.

use std::sync::Arc;

use domain::{accounts::Accounts, clock::Clock, ports::AccountRepository};

use crate::{metrics::Metrics, session::Timeouts, settings::Settings};

/// Everything handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub accounts: Accounts,
    /// For readiness checks.
    pub health: Arc<dyn AccountRepository>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub session_timeouts: Timeouts,
}
