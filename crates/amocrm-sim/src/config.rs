//! Simulator settings: what a test or the standalone server can tune before (and, through
//! [`ConfigPatch`], while) the simulator runs.

use serde::{Deserialize, Serialize};

use crate::hosts::Platform;

/// When a refresh token that has already been exchanged stops working.
///
/// Kommo documents that the old refresh token "stays usable until you use the new one", so a
/// client that lost the refresh response can retry. Which use ends the grace is not documented,
/// hence the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefreshGrace {
    /// The old refresh token works until the *new refresh token* is exchanged.
    #[default]
    UntilNewPairUsed,
    /// The old refresh token works until the new access token calls the API or the new refresh
    /// token is exchanged, whichever happens first.
    UntilNewTokenUsed,
    /// Strict single use: the old refresh token dies the moment it is exchanged.
    Off,
}

/// Body encoding of the secrets webhook (undocumented upstream, so both are offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecretsFormat {
    /// `application/json`
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`
    Form,
}

/// What the token endpoint *states* in `expires_in`. The access token's real lifetime (its JWT
/// `exp`, and what the API enforces) is set separately; a client must not trust this number more
/// than amoCRM does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StatedExpiresIn {
    /// The real lifetime in seconds (what amoCRM does).
    #[default]
    Truthful,
    /// The field is left out of the answer.
    Missing,
    /// This exact JSON value, whatever it is (`0`, `-5`, `"86400"`, `1e12`, `null`).
    Value(serde_json::Value),
}

/// Per-integration access-token settings (`Sim::set_integration_tokens`,
/// `POST /_sim/admin/integrations/{client_id}/tokens`). Absent fields fall back to the
/// [`SimConfig`] defaults; they apply to tokens issued from then on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrationTokens {
    /// Real lifetime of new access tokens in seconds; `0` or negative = expired at issue.
    pub access_ttl_secs: Option<i64>,
    /// What `expires_in` states.
    pub stated_expires_in: Option<StatedExpiresIn>,
}

impl IntegrationTokens {
    /// Tokens that really live `secs` seconds and say so.
    pub fn ttl(secs: i64) -> Self {
        Self {
            access_ttl_secs: Some(secs),
            stated_expires_in: None,
        }
    }

    /// The same settings, stating `stated` in `expires_in`.
    pub fn stating(mut self, stated: StatedExpiresIn) -> Self {
        self.stated_expires_in = Some(stated);
        self
    }
}

/// An account the demo user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSeed {
    pub id: i64,
    pub platform: Platform,
    pub subdomain: String,
    /// Printed on the consent page and returned by `/api/v4/account`; tests use hostile names.
    pub name: String,
    /// Whether the demo user administers this account (only admins may install).
    pub admin: bool,
}

/// Everything the simulator can be told at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Real lifetime of access tokens, unless an integration has its own
    /// ([`IntegrationTokens`]); `0` or negative = expired at issue.
    pub access_token_ttl_secs: i64,
    /// What the token endpoint states in `expires_in`, unless an integration has its own.
    pub stated_expires_in: StatedExpiresIn,
    /// Lifetime of refresh tokens, counted from issue.
    pub refresh_token_ttl_secs: i64,
    /// Refresh-token rotation rule.
    pub refresh_grace: RefreshGrace,
    /// Encoding of the secrets webhook body.
    pub secrets_format: SecretsFormat,
    /// Requests per integration allowed within any one-second window on the API; `0` turns the
    /// limit (and the 429/403 escalation) off, for benchmarks. The witness counts regardless.
    pub rate_limit_per_sec: u32,
    /// Number of 429 answers after which the integration is blocked with 403.
    pub violations_before_block: u32,
    /// How long a block lasts (real time).
    pub block_secs: i64,
    /// If set, uninstalling sends amoCRM's signed GET disconnect hook here.
    pub disconnect_hook_url: Option<String>,
    /// Path prefix of the browser routes: `{browser_prefix}/{host}/...`.
    pub browser_prefix: String,
    /// Accounts of the demo user.
    pub accounts: Vec<AccountSeed>,
    /// `GET /api/v4/users` answers 403, as amoCRM does for external integrations.
    pub users_api_forbidden: bool,
    /// Append the unconfirmed `platform=1|2` parameter to the redirect.
    pub redirect_platform_param: bool,
    /// Seed the accounts above with demo leads and contacts (accounts added later start empty).
    pub demo_data: bool,
    /// Most journal entries kept (oldest dropped first; `seq` keeps counting); `0` keeps none.
    pub journal_capacity: usize,
}

/// The demo user every consent page shows as logged in.
pub const DEMO_USER_ID: i64 = 5_000_001;
/// Name of the demo user.
pub const DEMO_USER_NAME: &str = "Demo User";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 86_400,
            stated_expires_in: StatedExpiresIn::default(),
            refresh_token_ttl_secs: 90 * 86_400,
            refresh_grace: RefreshGrace::default(),
            secrets_format: SecretsFormat::default(),
            rate_limit_per_sec: 7,
            violations_before_block: 5,
            block_secs: 60,
            disconnect_hook_url: None,
            browser_prefix: "/_sim/site".to_owned(),
            accounts: demo_accounts(),
            users_api_forbidden: true,
            redirect_platform_param: false,
            demo_data: true,
            journal_capacity: 100_000,
        }
    }
}

fn demo_accounts() -> Vec<AccountSeed> {
    let seed = |id, platform, subdomain: &str, name: &str, admin| AccountSeed {
        id,
        platform,
        subdomain: subdomain.to_owned(),
        name: name.to_owned(),
        admin,
    };
    vec![
        seed(31_000_001, Platform::Amocrm, "demo", "Рога и копыта", true),
        seed(31_000_002, Platform::Amocrm, "demo2", "Second Demo", false),
        seed(32_000_001, Platform::Kommo, "kommodemo", "Kommo Demo", true),
    ]
}

/// The settings that may change while the simulator runs (`POST /_sim/admin/config`).
/// Absent fields keep their value; `disconnect_hook_url: null` is "keep", `""` clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigPatch {
    pub access_token_ttl_secs: Option<i64>,
    pub stated_expires_in: Option<StatedExpiresIn>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub refresh_grace: Option<RefreshGrace>,
    pub secrets_format: Option<SecretsFormat>,
    pub rate_limit_per_sec: Option<u32>,
    pub violations_before_block: Option<u32>,
    pub block_secs: Option<i64>,
    pub disconnect_hook_url: Option<String>,
    pub users_api_forbidden: Option<bool>,
    pub redirect_platform_param: Option<bool>,
    pub journal_capacity: Option<usize>,
}

impl ConfigPatch {
    /// Applies the present fields to `config`.
    pub fn apply(self, config: &mut SimConfig) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        set(
            &mut config.access_token_ttl_secs,
            self.access_token_ttl_secs,
        );
        set(&mut config.stated_expires_in, self.stated_expires_in);
        set(
            &mut config.refresh_token_ttl_secs,
            self.refresh_token_ttl_secs,
        );
        set(&mut config.refresh_grace, self.refresh_grace);
        set(&mut config.secrets_format, self.secrets_format);
        set(&mut config.rate_limit_per_sec, self.rate_limit_per_sec);
        set(
            &mut config.violations_before_block,
            self.violations_before_block,
        );
        set(&mut config.block_secs, self.block_secs);
        set(&mut config.users_api_forbidden, self.users_api_forbidden);
        set(
            &mut config.redirect_platform_param,
            self.redirect_platform_param,
        );
        set(&mut config.journal_capacity, self.journal_capacity);
        if let Some(url) = self.disconnect_hook_url {
            config.disconnect_hook_url = (!url.is_empty()).then_some(url);
        }
    }
}
