//! [`Sim`]: the shared simulator state and the in-process test API. Every method here has an HTTP
//! twin under `/_sim/admin/` (see `admin.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::Notify;

use crate::config::{AccountSeed, ConfigPatch, IntegrationTokens, SimConfig};
use crate::faults::{Fault, Route};
use crate::hooks;
use crate::journal::{Event, JournalEntry};
use crate::outbound;
use crate::store::{AccountView, Integration, IntegrationKind, State, Stats};
use crate::tokens;
use crate::witness::{InvariantLimits, TokenCall, Violation, WitnessTotals};

/// Errors of the test/admin API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    #[error("no integration with client_id {0}")]
    UnknownIntegration(String),
    #[error("no account with id {0}")]
    UnknownAccount(i64),
    #[error("account {0} already exists")]
    AccountExists(i64),
    #[error("{0:?} is not a valid subdomain")]
    InvalidSubdomain(String),
    #[error("subdomain {0:?} is taken")]
    SubdomainTaken(String),
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    #[error("invalid integration: {0}")]
    InvalidIntegration(String),
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    #[error("no entity with id {0}")]
    UnknownEntity(i64),
    #[error("rejected: {0}")]
    Rejected(String),
}

/// An integration registered beforehand, for the `data-client-id` button variant.
#[derive(Debug, Clone, Deserialize)]
pub struct NewIntegration {
    pub name: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

/// What [`Sim::install_for_tests`] created.
#[derive(Debug, Clone)]
pub struct SeededInstall {
    pub client_id: String,
    pub client_secret: String,
    /// A fresh authorization code, exchangeable once at the account's token endpoint.
    pub code: String,
}

fn default_scopes() -> Vec<String> {
    vec!["crm".to_owned()]
}

/// Handle to one simulator; cheap to clone, shared by every worker and test.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    /// What `reset` returns to.
    initial: SimConfig,
    /// Wakes the webhook sender.
    hooks_wake: Arc<Notify>,
    /// The webhook sender was started (with the first subscription).
    hooks_sender: Once,
}

impl Sim {
    /// A simulator with `config`'s accounts and settings.
    pub fn new(config: SimConfig) -> Self {
        let hooks_wake = Arc::new(Notify::new());
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config.clone(), hooks_wake.clone())),
                initial: config,
                hooks_wake,
                hooks_sender: Once::new(),
            }),
        }
    }

    /// The simulator behind a weak handle, while it exists.
    pub(crate) fn upgrade(inner: &Weak<Inner>) -> Option<Self> {
        inner.upgrade().map(|inner| Self { inner })
    }

    /// Starts the webhook sender if it is not running yet.
    pub(crate) fn ensure_hook_sender(&self) {
        self.inner.hooks_sender.call_once(|| {
            hooks::start_sender(Arc::downgrade(&self.inner), self.inner.hooks_wake.clone());
        });
    }

    /// Makes the webhook sender look for due deliveries now.
    pub(crate) fn wake_hooks(&self) {
        self.inner.hooks_wake.notify_one();
    }

    /// Runs `f` under the lock. A panic elsewhere must not wedge the simulator, so poisoning is
    /// ignored (every transition leaves the state consistent before it can panic).
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// Path prefix of the browser routes (fixed for the simulator's life).
    pub fn browser_prefix(&self) -> &str {
        &self.inner.initial.browser_prefix
    }

    pub(crate) fn record(&self, event: Event) {
        self.with_state(|s| s.record(event));
    }

    /// Current settings.
    pub fn config(&self) -> SimConfig {
        self.with_state(|s| s.config.clone())
    }

    /// Changes settings while running.
    pub fn update_config(&self, patch: ConfigPatch) -> SimConfig {
        self.with_state(|s| {
            patch.apply(&mut s.config);
            s.journal.set_capacity(s.config.journal_capacity);
            s.config.clone()
        })
    }

    /// Forgets everything and starts over from the configuration given to [`Sim::new`].
    pub fn reset(&self) {
        let fresh = State::new(self.inner.initial.clone(), self.inner.hooks_wake.clone());
        self.with_state(|s| *s = fresh);
    }

    /// The whole journal.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal_since(0)
    }

    /// Journal entries with `seq > since`.
    pub fn journal_since(&self, since: u64) -> Vec<JournalEntry> {
        self.with_state(|s| s.journal.since(since))
    }

    /// The `seq` of the newest journal entry ever recorded (older ones may have been dropped,
    /// see `SimConfig::journal_capacity`); pass it to [`Sim::journal_since`] later.
    pub fn journal_last_seq(&self) -> u64 {
        self.with_state(|s| s.journal.last_seq())
    }

    /// Simulator time.
    pub fn now(&self) -> DateTime<Utc> {
        self.with_state(|s| s.clock.now())
    }

    /// Moves simulator time forward (expires codes and tokens without waiting).
    pub fn advance_clock(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.with_state(|s| s.clock.advance(by));
    }

    /// Seconds the clock has been advanced by.
    pub fn clock_offset_secs(&self) -> i64 {
        self.with_state(|s| s.clock.offset_secs())
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.with_state(|s| s.stats.clone())
    }

    /// How many rotated-out refresh tokens were presented.
    pub fn stale_refresh_presentations(&self) -> u64 {
        self.stats().stale_refresh_presentations
    }

    /// Every account.
    pub fn accounts(&self) -> Vec<AccountView> {
        self.with_state(|s| s.accounts.values().map(|a| a.view()).collect())
    }

    /// Adds an account of the demo user.
    pub fn add_account(&self, seed: AccountSeed) -> Result<AccountView, SimError> {
        self.with_state(|s| s.add_account(seed))
    }

    /// Moves an account to another subdomain; the old host answers 404 from now on.
    pub fn rename_subdomain(&self, account_id: i64, subdomain: &str) -> Result<(), SimError> {
        self.with_state(|s| s.rename_subdomain(account_id, subdomain))
    }

    /// Marks an account paid or unpaid (unpaid accounts answer 402 on the API).
    pub fn set_account_paid(&self, account_id: i64, paid: bool) -> Result<(), SimError> {
        self.with_state(|s| s.account_mut(account_id).map(|a| a.paid = paid))
    }

    /// Every integration, secrets included (this is a test double), oldest first.
    pub fn integrations(&self) -> Vec<Integration> {
        let mut all: Vec<Integration> =
            self.with_state(|s| s.integrations.values().cloned().collect());
        all.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        all
    }

    /// Registers an integration for the `data-client-id` variant; it is installed into an
    /// account when an administrator of that account first allows it.
    pub fn register_integration(&self, spec: NewIntegration) -> Result<Integration, SimError> {
        if url::Url::parse(&spec.redirect_uri).is_err() {
            return Err(SimError::InvalidIntegration(
                "redirect_uri must be an absolute URL".into(),
            ));
        }
        self.with_state(|s| {
            let integration = Integration {
                client_id: uuid::Uuid::new_v4().to_string(),
                client_secret: tokens::new_client_secret(),
                kind: IntegrationKind::Registered,
                name: spec.name,
                description: spec.description,
                redirect_uri: spec.redirect_uri,
                secrets_uri: None,
                logo: spec.logo,
                scopes: spec.scopes,
                installed_in: Default::default(),
                created_at: s.clock.now(),
                tokens: Default::default(),
                api_refusal_probability: 0.0,
            };
            s.integrations
                .insert(integration.client_id.clone(), integration.clone());
            Ok(integration)
        })
    }

    /// Installs a new external integration into `account_id` as if an administrator had allowed a
    /// metadata button (without the consent pages and the secrets delivery), and issues an
    /// authorization code for it. For seeding load tests and benchmarks with real grants.
    pub fn install_for_tests(
        &self,
        account_id: i64,
        redirect_uri: &str,
    ) -> Result<SeededInstall, SimError> {
        if url::Url::parse(redirect_uri).is_err() {
            return Err(SimError::InvalidIntegration(
                "redirect_uri must be an absolute URL".into(),
            ));
        }
        self.with_state(|s| {
            if !s.accounts.contains_key(&account_id) {
                return Err(SimError::UnknownAccount(account_id));
            }
            let integration = Integration {
                client_id: uuid::Uuid::new_v4().to_string(),
                client_secret: tokens::new_client_secret(),
                kind: IntegrationKind::External,
                name: "seeded".to_owned(),
                description: String::new(),
                redirect_uri: redirect_uri.to_owned(),
                secrets_uri: None,
                logo: None,
                scopes: default_scopes(),
                installed_in: [account_id].into(),
                created_at: s.clock.now(),
                tokens: Default::default(),
                api_refusal_probability: 0.0,
            };
            let client_id = integration.client_id.clone();
            let client_secret = integration.client_secret.clone();
            s.integrations.insert(client_id.clone(), integration);
            s.record(Event::IntegrationCreated {
                client_id: client_id.clone(),
                account_id,
            });
            let code = s.issue_code(&client_id, account_id);
            Ok(SeededInstall {
                client_id,
                client_secret,
                code,
            })
        })
    }

    /// Uninstalls an integration from every account: its tokens die, and the signed disconnect
    /// hook is sent (awaited, so a test can assert on it right after) if one is configured.
    pub async fn uninstall(&self, client_id: &str) -> Result<(), SimError> {
        let (hook_url, secret, accounts) = self.with_state(|s| {
            let integration = s.integration_mut(client_id)?;
            let accounts: Vec<i64> = std::mem::take(&mut integration.installed_in)
                .into_iter()
                .collect();
            let secret = integration.client_secret.clone();
            s.revoke_all(client_id);
            s.record(Event::Uninstalled {
                client_id: client_id.to_owned(),
            });
            Ok::<_, SimError>((s.config.disconnect_hook_url.clone(), secret, accounts))
        })?;
        let Some(url) = hook_url else {
            return Ok(());
        };
        for account_id in accounts {
            let delivery = outbound::disconnect_hook(&url, client_id, account_id, &secret).await;
            self.record(Event::DisconnectHookSent {
                client_id: client_id.to_owned(),
                account_id,
                status: delivery.status,
                error: delivery.error,
            });
        }
        Ok(())
    }

    /// Gives an integration a new secret, revoking every grant made with the old one.
    pub fn regenerate_secret(&self, client_id: &str) -> Result<String, SimError> {
        self.with_state(|s| {
            let secret = tokens::new_client_secret();
            s.integration_mut(client_id)?.client_secret = secret.clone();
            s.revoke_all(client_id);
            s.record(Event::SecretRegenerated {
                client_id: client_id.to_owned(),
            });
            Ok(secret)
        })
    }

    /// Installs a fault on `route` (replacing any previous one).
    pub fn set_fault(&self, route: Route, fault: Fault) -> Result<(), SimError> {
        fault.validate(route).map_err(SimError::InvalidFault)?;
        self.with_state(|s| s.faults.set(route, fault));
        Ok(())
    }

    /// Removes the fault of `route`, or all faults with `None`.
    pub fn clear_faults(&self, route: Option<Route>) {
        self.with_state(|s| s.faults.clear(route));
    }

    /// The active faults.
    pub fn faults(&self) -> Vec<(Route, Fault)> {
        self.with_state(|s| s.faults.list())
    }

    /// Sets an integration's own access-token lifetime and stated `expires_in` (for tokens issued
    /// from now on; absent fields fall back to the [`SimConfig`] defaults).
    pub fn set_integration_tokens(
        &self,
        client_id: &str,
        tokens: IntegrationTokens,
    ) -> Result<(), SimError> {
        self.with_state(|s| s.integration_mut(client_id).map(|i| i.tokens = tokens))
    }

    /// Makes API calls of an integration that carry a valid token answer 401 with probability
    /// `probability` (0 turns it off).
    pub fn set_api_refusal(&self, client_id: &str, probability: f64) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(SimError::InvalidSetting(
                "probability must be within 0..=1".into(),
            ));
        }
        self.with_state(|s| {
            s.integration_mut(client_id)
                .map(|i| i.api_refusal_probability = probability)
        })
    }

    /// Every rule the traffic so far broke, judged against `limits` (see [`Violation`]).
    pub fn violations(&self, limits: &InvariantLimits) -> Vec<Violation> {
        self.with_state(|s| s.witness.violations(limits))
    }

    /// The most API arrivals in any one-second window (real time), per client id.
    pub fn max_api_arrivals_per_second(&self) -> HashMap<String, usize> {
        self.with_state(|s| s.witness.max_per_second())
    }

    /// The token-endpoint calls of an integration, oldest first (the latest 256).
    pub fn token_calls(&self, client_id: &str) -> Vec<TokenCall> {
        self.with_state(|s| s.witness.token_calls(client_id))
    }

    /// How many API requests an integration made (every answer counted).
    pub fn api_arrivals(&self, client_id: &str) -> usize {
        self.with_state(|s| usize::try_from(s.witness.arrivals(client_id)).unwrap_or(usize::MAX))
    }

    /// The witness's totals over every integration.
    pub fn witness_totals(&self) -> WitnessTotals {
        self.with_state(|s| s.witness.totals())
    }
}
