//! Settings: `AMOLINK_*` environment variables over an optional `amolink.toml` holding the same
//! keys (lower-case, without the prefix), over development defaults, merged and checked by
//! `figment` into one typed [`Settings`] value that the rest of the program never re-parses.
//!
//! Every secret setting can also be read from a file (`AMOLINK_MASTER_KEYS_FILE`, …), the way
//! Docker and Kubernetes mount secrets. Unknown keys in the file are refused by name.
//!
//! Development needs nothing: keys are generated once into the data directory (mode 0600).
//! Production refuses to start until every secret is provided and the public URL is `https`.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use domain::amo::DomainAllowList;
use figment::{
    Figment, Metadata, Profile, Provider,
    providers::{Format as _, Toml},
    value::{Dict, Map, Value},
};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

/// Where amolink runs; production turns on every safety check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Every setting amolink reads, already parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub bind: SocketAddr,
    pub public_url: Url,
    pub database_url: SecretString,
    pub data_dir: PathBuf,
    /// `KEYID:BASE64(32 bytes)` entries; the first encrypts, all decrypt.
    pub master_keys: SecretString,
    /// 64 random bytes that sign and encrypt the session cookie.
    pub session_key: SecretString,
    pub demo: bool,
    pub amocrm_base_url: Option<Url>,
    /// The account-host suffixes a `referer` may end with.
    pub account_domains: DomainAllowList,
    /// Refresh an access token this long before it expires.
    pub refresh_margin: Duration,
    /// Runs the token keeper in this instance (it can be switched off per instance).
    pub keeper: bool,
    /// Pause between keeper rounds.
    pub keeper_interval: Duration,
    /// How long a claimed connection stays reserved for one refresher.
    pub keeper_lease: Duration,
    /// On SIGTERM, how long `/readyz` answers 503 (and responses close their connections)
    /// before the server stops: the load balancer's time to notice (`crate::shutdown`).
    pub shutdown_drain: Duration,
    /// Runs the webhook delivery worker in this instance (it can be switched off per instance).
    pub webhook_worker: bool,
    /// Runs the amoCRM events workers (processing stored deliveries, keeping subscriptions
    /// healthy) in this instance.
    pub events_worker: bool,
    /// The bearer token `/metrics` requires; `None` leaves it open.
    pub metrics_token: Option<SecretString>,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Peers whose `X-Forwarded-For` is believed; everyone else is identified by socket address.
    pub trusted_proxies: Vec<IpAddr>,
    /// `smtp://host:port` (plain: a local relay or sink), `smtp://host:587?tls=starttls`
    /// (STARTTLS required) or `smtps://host:465` (TLS from the first byte); credentials as
    /// `user:password@`. Unset: development keeps mail in the outbox at `/dev/outbox`,
    /// production cannot send mail (invitation links are shown to copy, password reset is off).
    pub smtp_url: Option<SecretString>,
    /// The `From` of outgoing mail, e.g. `amolink <noreply@example.com>`; required with SMTP.
    pub mail_from: Option<String>,
    /// How long audit entries are kept.
    pub audit_retention_days: u64,
    /// How long per-connection activity is kept.
    pub activity_retention_days: u64,
    /// Records per-connection activity (switched off only to measure what it costs).
    pub activity_recording: bool,
    /// When outgoing-webhook attempts are due, as seconds from the first attempt.
    pub webhook_retry_offsets: domain::webhooks::schedule::RetrySchedule,
}

/// The settings as written, before checks and defaults. Each field is one key: `AMOLINK_{KEY}`
/// in the environment, `key` in the file. Its field list is the list of known keys.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    env: Option<String>,
    bind: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    master_keys: Option<String>,
    master_keys_file: Option<PathBuf>,
    session_key: Option<String>,
    session_key_file: Option<PathBuf>,
    demo: Option<bool>,
    amocrm_base_url: Option<String>,
    account_domains: Option<String>,
    refresh_margin_secs: Option<u64>,
    keeper: Option<bool>,
    keeper_interval_ms: Option<u64>,
    keeper_lease_secs: Option<u64>,
    shutdown_drain_ms: Option<u64>,
    webhook_worker: Option<bool>,
    events_worker: Option<bool>,
    metrics_token: Option<String>,
    metrics_token_file: Option<PathBuf>,
    log: Option<String>,
    log_format: Option<String>,
    trusted_proxies: Option<String>,
    smtp_url: Option<String>,
    smtp_url_file: Option<PathBuf>,
    mail_from: Option<String>,
    audit_retention_days: Option<u64>,
    activity_retention_days: Option<u64>,
    activity_recording: Option<bool>,
    webhook_retry_offsets: Option<String>,
}

/// The known keys, in [`Raw`]'s field order (read from its serialised form, so the list
/// cannot drift from the struct).
fn known_keys() -> Vec<String> {
    match serde_json::to_value(Raw::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Where settings come from: a figment of the optional file and the environment (or, for
/// tests and embedding, explicit pairs).
#[derive(Debug)]
pub struct Sources(Figment);

/// Key/value pairs as given, every value a string (`figment`'s own environment provider would
/// guess types, turning `007` into `7`); empty values count as unset. The metadata names
/// `AMOLINK_{KEY}` in error messages.
struct Pairs {
    name: &'static str,
    values: BTreeMap<String, String>,
}

impl Provider for Pairs {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
            .interpolater(|_, keys| format!("AMOLINK_{}", keys.join("_").to_uppercase()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = self
            .values
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(key, value)| (key.clone(), Value::from(value.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

impl Sources {
    /// Reads `amolink.toml` in the working directory (or the file `AMOLINK_CONFIG` names) if
    /// present, then the `AMOLINK_*` environment on top.
    ///
    /// # Errors
    /// When `AMOLINK_CONFIG` names a file that does not exist.
    pub fn gather() -> anyhow::Result<Self> {
        let named = std::env::var("AMOLINK_CONFIG").ok();
        let file = PathBuf::from(named.as_deref().unwrap_or("amolink.toml"));
        let mut figment = Figment::new();
        if file.exists() {
            figment = figment.merge(Toml::file_exact(&file));
        } else if named.is_some() {
            bail!(
                "AMOLINK_CONFIG names {}, which does not exist",
                file.display()
            );
        }
        let environment = known_keys()
            .into_iter()
            .filter_map(|key| {
                let value = std::env::var(format!("AMOLINK_{}", key.to_uppercase())).ok()?;
                Some((key, value))
            })
            .collect();
        Ok(Self(figment.merge(Pairs {
            name: "environment variable",
            values: environment,
        })))
    }

    /// Builds sources from explicit pairs (tests, embedding).
    #[must_use]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(Figment::from(Pairs {
            name: "setting",
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }))
    }
}

impl Settings {
    /// Parses and checks the settings.
    ///
    /// # Errors
    /// On unknown keys and malformed values, and in production on every missing secret or an
    /// `http` public URL (the message names each one).
    pub fn load(sources: &Sources) -> anyhow::Result<Self> {
        let raw: Raw = sources
            .0
            .extract_lossy()
            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> anyhow::Result<Self> {
        let environment = match raw.env.as_deref().unwrap_or("development") {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => bail!("AMOLINK_ENV must be `development` or `production`, not `{other}`"),
        };
        let production = environment == Environment::Production;
        let bind = raw
            .bind
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .context("AMOLINK_BIND must be an address and port, e.g. 0.0.0.0:8080")?;
        let public_url = Url::parse(raw.public_url.as_deref().unwrap_or("http://127.0.0.1:8080"))
            .context("AMOLINK_PUBLIC_URL is not a valid URL")?;
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from("amolink-data"));
        let database_url = secret("DATABASE_URL", raw.database_url, raw.database_url_file)?
            .unwrap_or_else(|| SecretString::from("sqlite://amolink-data/amolink.db?mode=rwc"));
        let master_keys = secret("MASTER_KEYS", raw.master_keys, raw.master_keys_file)?;
        let session_key = secret("SESSION_KEY", raw.session_key, raw.session_key_file)?;
        let metrics_token = secret("METRICS_TOKEN", raw.metrics_token, raw.metrics_token_file)?;
        let webhook_retry_offsets = match raw.webhook_retry_offsets.as_deref() {
            None => domain::webhooks::schedule::RetrySchedule::default(),
            Some(text) => text
                .parse()
                .map_err(|e| anyhow::anyhow!("AMOLINK_WEBHOOK_RETRY_OFFSETS: {e}"))?,
        };

        if production {
            let mut missing = Vec::new();
            if master_keys.is_none() {
                missing.push("AMOLINK_MASTER_KEYS is not set".to_owned());
            }
            if session_key.is_none() {
                missing.push("AMOLINK_SESSION_KEY is not set".to_owned());
            }
            if public_url.scheme() != "https" {
                missing.push("AMOLINK_PUBLIC_URL must be an https:// URL".to_owned());
            }
            if !missing.is_empty() {
                bail!(
                    "refusing to start in production with unsafe settings:\n  - {}",
                    missing.join("\n  - ")
                );
            }
        }
        let master_keys = match master_keys {
            Some(value) => value,
            None => development_secret(&data_dir, "master.keys", || {
                format!("k1:{}", STANDARD.encode(random_bytes::<32>()))
            })?,
        };
        let session_key = match session_key {
            Some(value) => value,
            None => development_secret(&data_dir, "session.key", || {
                STANDARD.encode(random_bytes::<64>())
            })?,
        };
        let session_len = STANDARD
            .decode(session_key.expose_secret().trim())
            .map(|bytes| bytes.len())
            .unwrap_or(0);
        if session_len < 64 {
            bail!("AMOLINK_SESSION_KEY must be base64 of at least 64 random bytes");
        }

        let demo = raw.demo.unwrap_or(!production);
        if production && demo {
            bail!("AMOLINK_DEMO cannot be enabled in production");
        }
        let amocrm_base_url = raw
            .amocrm_base_url
            .as_deref()
            .map(|url| Url::parse(url).context("AMOLINK_AMOCRM_BASE_URL is not a valid URL"))
            .transpose()?;
        let account_domains = raw
            .account_domains
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("AMOLINK_ACCOUNT_DOMAINS: {e}"))?
            .unwrap_or_default();
        let log_format = match raw.log_format.as_deref().unwrap_or("pretty") {
            "json" => LogFormat::Json,
            "pretty" | "text" => LogFormat::Pretty,
            other => bail!("AMOLINK_LOG_FORMAT must be `json` or `pretty`, not `{other}`"),
        };
        let trusted_proxies = raw
            .trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|ip| {
                ip.parse().with_context(|| {
                    format!("AMOLINK_TRUSTED_PROXIES: `{ip}` is not an IP address")
                })
            })
            .collect::<anyhow::Result<_>>()?;

        let smtp_url = secret("SMTP_URL", raw.smtp_url, raw.smtp_url_file)?
            .map(|url| SecretString::from(url.expose_secret().trim().to_owned()));
        let mail_from = raw.mail_from.map(|from| from.trim().to_owned());
        if smtp_url.is_some() && mail_from.is_none() {
            bail!("AMOLINK_MAIL_FROM must be set when AMOLINK_SMTP_URL is");
        }
        let audit_retention_days = raw.audit_retention_days.unwrap_or(365);

        Ok(Self {
            environment,
            bind,
            public_url,
            database_url,
            data_dir,
            master_keys,
            session_key,
            demo,
            amocrm_base_url,
            account_domains,
            refresh_margin: Duration::from_secs(raw.refresh_margin_secs.unwrap_or(7200)),
            keeper: raw.keeper.unwrap_or(true),
            keeper_interval: Duration::from_millis(raw.keeper_interval_ms.unwrap_or(5000).max(100)),
            keeper_lease: Duration::from_secs(raw.keeper_lease_secs.unwrap_or(60).max(5)),
            shutdown_drain: raw
                .shutdown_drain_ms
                .map_or(crate::shutdown::DEFAULT_DRAIN, Duration::from_millis),
            webhook_worker: raw.webhook_worker.unwrap_or(true),
            events_worker: raw.events_worker.unwrap_or(true),
            metrics_token,
            log_filter: raw.log.unwrap_or_else(|| "info".to_owned()),
            log_format,
            trusted_proxies,
            smtp_url,
            mail_from,
            audit_retention_days: audit_retention_days.max(1),
            activity_retention_days: raw.activity_retention_days.unwrap_or(14).max(1),
            activity_recording: raw.activity_recording.unwrap_or(true),
            webhook_retry_offsets,
        })
    }

    #[must_use]
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The public URL without a trailing slash, for building links.
    #[must_use]
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }
}

/// A secret given directly (`AMOLINK_{NAME}`) or as a file to read (`AMOLINK_{NAME}_FILE`,
/// trailing whitespace dropped); naming both is refused rather than guessing which one wins.
fn secret(
    name: &str,
    value: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<Option<SecretString>> {
    match (value, file) {
        (Some(_), Some(_)) => {
            bail!("set AMOLINK_{name} or AMOLINK_{name}_FILE, not both")
        }
        (Some(value), None) => Ok(Some(SecretString::from(value))),
        (None, Some(path)) => {
            let text = fs::read_to_string(&path)
                .with_context(|| format!("AMOLINK_{name}_FILE: cannot read {}", path.display()))?;
            let text = text.trim_end();
            if text.is_empty() {
                bail!("AMOLINK_{name}_FILE: {} is empty", path.display());
            }
            Ok(Some(SecretString::from(text.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Reads a development secret from `dir/name`, creating it with `make` (mode 0600) the first time.
fn development_secret(
    dir: &Path,
    name: &str,
    make: impl FnOnce() -> String,
) -> anyhow::Result<SecretString> {
    let path = dir.join(name);
    if let Ok(existing) = fs::read_to_string(&path) {
        return Ok(SecretString::from(existing.trim().to_owned()));
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let value = make();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(value.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a development secret");
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_sources(dir: &Path, extra: &[(&str, &str)]) -> Sources {
        let dir = dir.to_string_lossy().into_owned();
        let mut pairs = vec![("data_dir", dir.as_str())];
        pairs.extend_from_slice(extra);
        Sources::from_pairs(pairs)
    }

    /// A scratch directory removed when the guard drops.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            Self(std::env::temp_dir().join(format!("amolink-settings-{}", uuid::Uuid::new_v4())))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn development_needs_no_settings_and_keeps_generated_keys() {
        let dir = TempDir::new();
        let dir = &dir.0;
        let first = Settings::load(&dev_sources(dir, &[])).expect("loads");
        assert_eq!(first.bind.to_string(), "127.0.0.1:8080");
        assert!(first.demo);
        let again = Settings::load(&dev_sources(dir, &[])).expect("loads");
        assert_eq!(
            first.session_key.expose_secret(),
            again.session_key.expose_secret(),
            "keys are generated once"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join("master.keys"))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn production_names_every_missing_setting() {
        let error =
            Settings::load(&Sources::from_pairs([("env", "production")])).expect_err("must refuse");
        let message = format!("{error:#}");
        assert!(message.contains("AMOLINK_MASTER_KEYS"), "{message}");
        assert!(message.contains("AMOLINK_SESSION_KEY"), "{message}");
        assert!(message.contains("https"), "{message}");
    }

    #[test]
    fn production_refuses_demo_mode() {
        let key = STANDARD.encode([7u8; 64]);
        let error = Settings::load(&Sources::from_pairs([
            ("env", "production"),
            ("master_keys", "k1:AAAA"),
            ("session_key", key.as_str()),
            ("public_url", "https://amolink.example"),
            ("demo", "true"),
        ]))
        .expect_err("must refuse");
        assert!(format!("{error:#}").contains("AMOLINK_DEMO"));
    }

    #[test]
    fn values_are_typed_once() {
        let dir = TempDir::new();
        let settings = Settings::load(&dev_sources(
            &dir.0,
            &[
                ("bind", "0.0.0.0:9090"),
                ("refresh_margin_secs", "600"),
                ("keeper_interval_ms", "250"),
                ("shutdown_drain_ms", "500"),
                ("keeper", "off"),
                ("demo", "0"),
                ("account_domains", "kommo.com"),
                ("trusted_proxies", "10.0.0.1, ::1"),
            ],
        ))
        .expect("loads");
        assert_eq!(settings.bind, "0.0.0.0:9090".parse().expect("address"));
        assert_eq!(settings.refresh_margin, Duration::from_secs(600));
        assert_eq!(settings.keeper_interval, Duration::from_millis(250));
        assert_eq!(settings.shutdown_drain, Duration::from_millis(500));
        assert!(!settings.keeper && !settings.demo);
        assert_eq!(
            settings.account_domains,
            "kommo.com".parse().expect("domains")
        );
        assert_eq!(settings.trusted_proxies.len(), 2);
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let dir = TempDir::new();
        for (key, value, named) in [
            ("refresh_margin_secs", "soon", "AMOLINK_REFRESH_MARGIN_SECS"),
            ("keeper", "maybe", "AMOLINK_KEEPER"),
            ("bind", "localhost", "AMOLINK_BIND"),
            ("account_domains", "example.com", "AMOLINK_ACCOUNT_DOMAINS"),
        ] {
            let error =
                Settings::load(&dev_sources(&dir.0, &[(key, value)])).expect_err("must refuse");
            let message = format!("{error:#}");
            assert!(message.contains(named), "{key}: {message}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = TempDir::new();
        fs::create_dir_all(&dir.0).expect("dir");
        let file = dir.0.join("amolink.toml");
        fs::write(
            &file,
            "public_url = \"https://a.example\"\npublik_url = 1\n",
        )
        .expect("write");
        let error = Settings::load(&Sources(Figment::from(Toml::file_exact(&file))))
            .expect_err("must refuse");
        let message = format!("{error:#}");
        assert!(message.contains("publik_url"), "{message}");
        assert!(message.contains("amolink.toml"), "{message}");
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = TempDir::new();
        fs::create_dir_all(&dir.0).expect("dir");
        let key = STANDARD.encode([9u8; 64]);
        let key_file = dir.0.join("session.secret");
        fs::write(&key_file, format!("{key}\n")).expect("write");
        let keys_file = dir.0.join("master.secret");
        fs::write(&keys_file, "k9:AAAA\n").expect("write");
        let token_file = dir.0.join("metrics.secret");
        fs::write(&token_file, "scrape-me").expect("write");
        let (key_path, keys_path, token_path) = (
            key_file.display().to_string(),
            keys_file.display().to_string(),
            token_file.display().to_string(),
        );
        let settings = Settings::load(&Sources::from_pairs([
            ("env", "production"),
            ("public_url", "https://amolink.example"),
            ("session_key_file", key_path.as_str()),
            ("master_keys_file", keys_path.as_str()),
            ("metrics_token_file", token_path.as_str()),
        ]))
        .expect("loads");
        assert_eq!(settings.session_key.expose_secret(), key);
        assert_eq!(settings.master_keys.expose_secret(), "k9:AAAA");
        assert_eq!(
            settings.metrics_token.as_ref().map(|t| t.expose_secret()),
            Some("scrape-me")
        );
        let both = Settings::load(&Sources::from_pairs([
            ("session_key", key.as_str()),
            ("session_key_file", key_path.as_str()),
            ("data_dir", dir.0.to_str().unwrap_or_default()),
        ]))
        .expect_err("both forms");
        assert!(format!("{both:#}").contains("AMOLINK_SESSION_KEY_FILE"));
    }

    #[test]
    fn every_secret_has_a_file_form() {
        let keys = known_keys();
        for secret in [
            "database_url",
            "master_keys",
            "session_key",
            "metrics_token",
        ] {
            assert!(
                keys.iter().any(|k| *k == format!("{secret}_file")),
                "{secret}"
            );
        }
    }

    #[test]
    fn webhook_retry_offsets_are_parsed_once_and_refused_when_invalid() {
        let dir = TempDir::new();
        let default = Settings::load(&dev_sources(&dir.0, &[])).expect("loads");
        assert_eq!(
            default.webhook_retry_offsets,
            domain::webhooks::schedule::RetrySchedule::default()
        );
        let short = Settings::load(&dev_sources(&dir.0, &[("webhook_retry_offsets", "0,1,2")]))
            .expect("loads");
        assert_eq!(short.webhook_retry_offsets.attempts(), 3);
        let bad = Settings::load(&dev_sources(&dir.0, &[("webhook_retry_offsets", "0,soon")]))
            .expect_err("refused");
        assert!(
            format!("{bad:#}").contains("AMOLINK_WEBHOOK_RETRY_OFFSETS"),
            "{bad:#}"
        );
    }
}
