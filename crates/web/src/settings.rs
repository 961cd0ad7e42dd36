//! Settings: `AMOLINK_*` environment variables over an optional `amolink.toml` holding the same
//! keys (lower-case, without the prefix), over development defaults.
//!
//! Development needs nothing: keys are generated once into the data directory (mode 0600).
//! Production refuses to start until every secret is provided and the public URL is `https`.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
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
    pub bind: String,
    pub public_url: Url,
    pub database_url: SecretString,
    pub data_dir: PathBuf,
    /// `KEYID:BASE64(32 bytes)` entries; the first encrypts, all decrypt.
    pub master_keys: SecretString,
    /// 64 random bytes that sign and encrypt the session cookie.
    pub session_key: SecretString,
    pub demo: bool,
    pub amocrm_base_url: Option<Url>,
    pub account_domains: String,
    pub refresh_margin_secs: u64,
    /// Runs the token keeper in this instance (it can be switched off per instance).
    pub keeper: bool,
    /// Pause between keeper rounds.
    pub keeper_interval_ms: u64,
    /// How long a claimed connection stays reserved for one refresher.
    pub keeper_lease_secs: u64,
    /// Runs the webhook delivery worker in this instance (it can be switched off per instance).
    pub webhook_worker: bool,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Peers whose `X-Forwarded-For` is believed; everyone else is identified by socket address.
    pub trusted_proxies: Vec<IpAddr>,
}

const KEYS: &[&str] = &[
    "env",
    "bind",
    "public_url",
    "database_url",
    "data_dir",
    "master_keys",
    "session_key",
    "demo",
    "amocrm_base_url",
    "account_domains",
    "refresh_margin_secs",
    "keeper",
    "keeper_interval_ms",
    "keeper_lease_secs",
    "webhook_worker",
    "log",
    "log_format",
    "trusted_proxies",
];

/// Raw key/value pairs gathered from the file and the environment.
#[derive(Debug, Default)]
pub struct Sources(BTreeMap<String, String>);

impl Sources {
    /// Reads `amolink.toml` (or `AMOLINK_CONFIG`) if present, then the environment on top.
    ///
    /// # Errors
    /// When the file exists but is not valid TOML or names unknown keys.
    pub fn gather() -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let file = std::env::var("AMOLINK_CONFIG").unwrap_or_else(|_| "amolink.toml".into());
        if Path::new(&file).exists() {
            let text = fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
            let table: toml::Table =
                toml::from_str(&text).with_context(|| format!("{file} is not valid TOML"))?;
            for (key, value) in table {
                if !KEYS.contains(&key.as_str()) {
                    bail!(
                        "{file}: unknown setting `{key}` (known: {})",
                        KEYS.join(", ")
                    );
                }
                let value = match value {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                values.insert(key, value);
            }
        }
        for key in KEYS {
            if let Ok(value) = std::env::var(format!("AMOLINK_{}", key.to_uppercase())) {
                values.insert((*key).to_owned(), value);
            }
        }
        Ok(Self(values))
    }

    /// Builds sources from explicit pairs (tests, embedding).
    #[must_use]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

impl Settings {
    /// Parses and checks the settings.
    ///
    /// # Errors
    /// On malformed values, and in production on every missing secret or an `http` public URL
    /// (the message names each one).
    pub fn load(sources: &Sources) -> anyhow::Result<Self> {
        let environment = match sources.get("env").unwrap_or("development") {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => bail!("AMOLINK_ENV must be `development` or `production`, not `{other}`"),
        };
        let production = environment == Environment::Production;
        let bind = sources.get("bind").unwrap_or("127.0.0.1:8080").to_owned();
        let public_url = Url::parse(sources.get("public_url").unwrap_or("http://127.0.0.1:8080"))
            .context("AMOLINK_PUBLIC_URL is not a valid URL")?;
        let data_dir = PathBuf::from(sources.get("data_dir").unwrap_or("amolink-data"));
        let database_url = sources.get("database_url").map_or_else(
            || "sqlite://amolink-data/amolink.db?mode=rwc".to_owned(),
            str::to_owned,
        );

        if production {
            let mut missing = Vec::new();
            for (key, name) in [
                ("master_keys", "AMOLINK_MASTER_KEYS"),
                ("session_key", "AMOLINK_SESSION_KEY"),
            ] {
                if sources.get(key).is_none() {
                    missing.push(format!("{name} is not set"));
                }
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
        let master_keys = match sources.get("master_keys") {
            Some(value) => SecretString::from(value.to_owned()),
            None => development_secret(&data_dir, "master.keys", || {
                format!("k1:{}", STANDARD.encode(random_bytes::<32>()))
            })?,
        };
        let session_key = match sources.get("session_key") {
            Some(value) => SecretString::from(value.to_owned()),
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

        let demo = match sources.get("demo") {
            Some(value) => parse_bool("AMOLINK_DEMO", value)?,
            None => !production,
        };
        if production && demo {
            bail!("AMOLINK_DEMO cannot be enabled in production");
        }
        let amocrm_base_url = sources
            .get("amocrm_base_url")
            .map(|raw| Url::parse(raw).context("AMOLINK_AMOCRM_BASE_URL is not a valid URL"))
            .transpose()?;
        let refresh_margin_secs = sources
            .get("refresh_margin_secs")
            .unwrap_or("7200")
            .parse()
            .context("AMOLINK_REFRESH_MARGIN_SECS must be a number of seconds")?;
        let number = |key: &str, name: &str, default: &str| -> anyhow::Result<u64> {
            sources
                .get(key)
                .unwrap_or(default)
                .parse()
                .with_context(|| format!("{name} must be a whole number"))
        };
        let keeper = match sources.get("keeper") {
            Some(value) => parse_bool("AMOLINK_KEEPER", value)?,
            None => true,
        };
        let keeper_interval_ms =
            number("keeper_interval_ms", "AMOLINK_KEEPER_INTERVAL_MS", "5000")?;
        let keeper_lease_secs = number("keeper_lease_secs", "AMOLINK_KEEPER_LEASE_SECS", "60")?;
        let webhook_worker = match sources.get("webhook_worker") {
            Some(value) => parse_bool("AMOLINK_WEBHOOK_WORKER", value)?,
            None => true,
        };
        let log_format = match sources.get("log_format").unwrap_or("pretty") {
            "json" => LogFormat::Json,
            "pretty" | "text" => LogFormat::Pretty,
            other => bail!("AMOLINK_LOG_FORMAT must be `json` or `pretty`, not `{other}`"),
        };
        let trusted_proxies = sources
            .get("trusted_proxies")
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

        Ok(Self {
            environment,
            bind,
            public_url,
            database_url: SecretString::from(database_url),
            data_dir,
            master_keys,
            session_key,
            demo,
            amocrm_base_url,
            account_domains: sources
                .get("account_domains")
                .unwrap_or("amocrm.ru,kommo.com,amocrm.com")
                .to_owned(),
            refresh_margin_secs,
            keeper,
            keeper_interval_ms: keeper_interval_ms.max(100),
            keeper_lease_secs: keeper_lease_secs.max(5),
            webhook_worker,
            log_filter: sources.get("log").unwrap_or("info").to_owned(),
            log_format,
            trusted_proxies,
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

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name} must be true or false"),
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
        let mut pairs = vec![("data_dir".to_owned(), dir)];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Sources(pairs.into_iter().collect())
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("amolink-settings-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn development_needs_no_settings_and_keeps_generated_keys() {
        let dir = temp_dir();
        let first = Settings::load(&dev_sources(&dir, &[])).expect("loads");
        assert_eq!(first.bind, "127.0.0.1:8080");
        assert!(first.demo);
        let again = Settings::load(&dev_sources(&dir, &[])).expect("loads");
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
}
