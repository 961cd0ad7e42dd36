//! The simulator's data: accounts, integrations, codes, grants and tokens, plus the bookkeeping
//! (clock, journal, faults, rate windows, counters) that every handler touches under one lock.
//!
//! A single `Mutex` keeps every rule atomic (a refresh rotates and persists in one step, exactly
//! the property a racing client must cope with) and is never held across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::Notify;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{AccountSeed, IntegrationTokens, SimConfig};
use crate::crm::{self, Crm, catalog::Lang};
use crate::faults::Faults;
use crate::hooks::Hooks;
use crate::hosts::{Platform, is_valid_subdomain};
use crate::journal::{Event, Journal};
use crate::limits::RateLimiter;
use crate::sim::SimError;
use crate::tokens::JwtSigner;
use crate::witness::Witness;

/// An account of the demo user.
#[derive(Debug)]
pub struct Account {
    pub id: i64,
    pub platform: Platform,
    pub subdomain: String,
    pub name: String,
    pub admin: bool,
    pub paid: bool,
    /// The plan includes API webhooks.
    pub api_webhooks: bool,
    pub created_at: DateTime<Utc>,
    /// Leads, contacts and notes.
    pub crm: Crm,
}

impl Account {
    /// The host the account is served on now.
    pub fn host(&self) -> String {
        self.platform.account_host(&self.subdomain)
    }

    /// Public view for the admin API.
    pub fn view(&self) -> AccountView {
        AccountView {
            id: self.id,
            platform: self.platform,
            subdomain: self.subdomain.clone(),
            host: self.host(),
            name: self.name.clone(),
            admin: self.admin,
            paid: self.paid,
            api_webhooks: self.api_webhooks,
        }
    }
}

/// An account as shown by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub id: i64,
    pub platform: Platform,
    pub subdomain: String,
    pub host: String,
    pub name: String,
    pub admin: bool,
    pub paid: bool,
    pub api_webhooks: bool,
}

/// Whether an integration was created by the metadata button or registered beforehand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Created inside the customer's account by the metadata ("external") button.
    External,
    /// Registered beforehand and used with `data-client-id`.
    Registered,
}

/// An OAuth client.
#[derive(Debug, Clone, Serialize)]
pub struct Integration {
    pub client_id: String,
    pub client_secret: String,
    pub kind: IntegrationKind,
    pub name: String,
    pub description: String,
    pub redirect_uri: String,
    pub secrets_uri: Option<String>,
    pub logo: Option<String>,
    pub scopes: Vec<String>,
    /// Accounts the integration is installed in.
    pub installed_in: BTreeSet<i64>,
    pub created_at: DateTime<Utc>,
    /// Its own access-token settings (test knob).
    pub tokens: IntegrationTokens,
    /// Probability (0..=1) that an API call with a valid token is refused with 401 (test knob).
    pub api_refusal_probability: f64,
}

/// A single-use authorization code.
#[derive(Debug)]
pub struct AuthCode {
    pub client_id: String,
    pub account_id: i64,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

/// One access/refresh pair of a grant.
#[derive(Debug)]
pub struct Pair {
    pub refresh_expires_at: DateTime<Utc>,
    /// The pair has been used, which (depending on the grace rule) ends the previous RT's grace.
    pub used: bool,
}

/// The chain of token pairs born from one authorization code.
#[derive(Debug)]
pub struct Grant {
    pub client_id: String,
    pub account_id: i64,
    pub scopes: Vec<String>,
    pub pairs: Vec<Pair>,
    /// Index of the newest pair.
    pub current: usize,
    /// Index of the pair whose RT is still accepted after rotation.
    pub grace: Option<usize>,
    pub revoked: bool,
}

/// Where an access token belongs.
#[derive(Debug, Clone, Copy)]
pub struct AccessRecord {
    pub grant_id: u64,
    pub pair: usize,
    pub expires_at: DateTime<Utc>,
}

/// Where a refresh token belongs.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRecord {
    pub grant_id: u64,
    pub pair: usize,
}

/// Counters a test can assert on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Rotated-out refresh tokens presented (and refused).
    pub stale_refresh_presentations: u64,
    pub refreshes_accepted: u64,
    pub refreshes_rejected: u64,
    pub codes_exchanged: u64,
    pub tokens_issued: u64,
    pub rate_limited: u64,
    pub blocked: u64,
    pub secrets_deliveries: u64,
    /// Webhook delivery attempts answered (or timed out).
    pub webhook_attempts: u64,
    /// API calls refused with 401 by the random-refusal knob.
    pub api_refusals_injected: u64,
}

/// Everything, behind the simulator's lock.
pub struct State {
    pub config: SimConfig,
    pub clock: Clock,
    pub accounts: BTreeMap<i64, Account>,
    /// `(platform, subdomain)` → account id, so host resolution is O(1) with many accounts.
    hosts: HashMap<Platform, HashMap<String, i64>>,
    pub integrations: HashMap<String, Integration>,
    /// Grant ids per client id, so revocation does not scan every grant.
    grants_by_client: HashMap<String, Vec<u64>>,
    pub codes: HashMap<String, AuthCode>,
    pub grants: HashMap<u64, Grant>,
    pub access_tokens: HashMap<String, AccessRecord>,
    pub refresh_tokens: HashMap<String, RefreshRecord>,
    pub journal: Journal,
    pub faults: Faults,
    pub limiter: RateLimiter,
    pub stats: Stats,
    pub signer: JwtSigner,
    pub witness: Witness,
    pub hooks: Hooks,
    next_grant: u64,
}

impl State {
    /// A fresh state; seeds that are invalid or collide are skipped with a warning. `wake` is
    /// the webhook sender's bell.
    pub fn new(config: SimConfig, wake: Arc<Notify>) -> Self {
        let mut state = Self {
            accounts: BTreeMap::new(),
            hosts: HashMap::new(),
            clock: Clock::default(),
            integrations: HashMap::new(),
            grants_by_client: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            journal: Journal::new(config.journal_capacity),
            faults: Faults::default(),
            limiter: RateLimiter::default(),
            stats: Stats::default(),
            signer: JwtSigner::new(),
            witness: Witness::default(),
            hooks: Hooks::new(wake),
            next_grant: 1,
            config,
        };
        let demo = state.config.demo_data;
        for seed in state.config.accounts.clone() {
            let id = seed.id;
            match state.add_account(seed) {
                Ok(_) if demo => {
                    let now = state.clock.now().timestamp();
                    if let Some(account) = state.accounts.get_mut(&id) {
                        crm::demo::seed(&mut account.crm, now);
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "amocrm-sim: skipping account seed"),
            }
        }
        state
    }

    /// Appends to the journal at the current simulator time.
    pub fn record(&mut self, event: Event) {
        let now = self.clock.now();
        self.journal.push(now, event);
    }

    /// Adds an account of the demo user.
    pub fn add_account(&mut self, seed: AccountSeed) -> Result<AccountView, SimError> {
        if self.accounts.contains_key(&seed.id) {
            return Err(SimError::AccountExists(seed.id));
        }
        self.check_subdomain_free(seed.platform, &seed.subdomain)?;
        let account = Account {
            id: seed.id,
            platform: seed.platform,
            subdomain: seed.subdomain,
            name: seed.name,
            admin: seed.admin,
            paid: true,
            api_webhooks: true,
            created_at: self.clock.now(),
            crm: Crm::new(Lang::of(seed.platform)),
        };
        let view = account.view();
        self.hosts
            .entry(account.platform)
            .or_default()
            .insert(account.subdomain.clone(), account.id);
        self.accounts.insert(account.id, account);
        Ok(view)
    }

    fn check_subdomain_free(&self, platform: Platform, subdomain: &str) -> Result<(), SimError> {
        if !is_valid_subdomain(subdomain) {
            return Err(SimError::InvalidSubdomain(subdomain.to_owned()));
        }
        if self.account_by_host(platform, subdomain).is_some() {
            return Err(SimError::SubdomainTaken(subdomain.to_owned()));
        }
        Ok(())
    }

    /// The account served at `{subdomain}.{platform}`.
    pub fn account_by_host(&self, platform: Platform, subdomain: &str) -> Option<&Account> {
        let id = self.hosts.get(&platform)?.get(subdomain)?;
        self.accounts.get(id)
    }

    /// Mutable access to an account by id.
    pub fn account_mut(&mut self, id: i64) -> Result<&mut Account, SimError> {
        self.accounts
            .get_mut(&id)
            .ok_or(SimError::UnknownAccount(id))
    }

    /// Moves an account to a new subdomain; its old host stops answering.
    pub fn rename_subdomain(&mut self, id: i64, subdomain: &str) -> Result<(), SimError> {
        let platform = self
            .accounts
            .get(&id)
            .ok_or(SimError::UnknownAccount(id))?
            .platform;
        self.check_subdomain_free(platform, subdomain)?;
        let account = self.account_mut(id)?;
        let from = std::mem::replace(&mut account.subdomain, subdomain.to_owned());
        let hosts = self.hosts.entry(platform).or_default();
        hosts.remove(&from);
        hosts.insert(subdomain.to_owned(), id);
        self.record(Event::SubdomainRenamed {
            account_id: id,
            from,
            to: subdomain.to_owned(),
        });
        Ok(())
    }

    /// Mutable access to an integration.
    pub fn integration_mut(&mut self, client_id: &str) -> Result<&mut Integration, SimError> {
        self.integrations
            .get_mut(client_id)
            .ok_or_else(|| SimError::UnknownIntegration(client_id.to_owned()))
    }

    /// Rolls the integration's random-refusal knob.
    pub fn refuses_at_random(&self, client_id: &str) -> bool {
        let p = self
            .integrations
            .get(client_id)
            .map_or(0.0, |i| i.api_refusal_probability);
        p > 0.0 && rand::Rng::gen_bool(&mut rand::thread_rng(), p.min(1.0))
    }

    /// Reserves the id of a new grant of `client_id`.
    pub fn next_grant_id(&mut self, client_id: &str) -> u64 {
        let id = self.next_grant;
        self.next_grant += 1;
        self.grants_by_client
            .entry(client_id.to_owned())
            .or_default()
            .push(id);
        id
    }

    /// The ids of every grant of `client_id`.
    pub fn grants_of(&self, client_id: &str) -> Vec<u64> {
        self.grants_by_client
            .get(client_id)
            .cloned()
            .unwrap_or_default()
    }
}
