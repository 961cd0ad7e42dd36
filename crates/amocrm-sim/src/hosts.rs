//! Which amoCRM/Kommo host a request is addressed to.
//!
//! The real services are told apart by host name: `www.` serves the button and the consent page,
//! `{subdomain}.{domain}` serves one account's token endpoint and API, and `api-X.{domain}` serves
//! the domain lookup. The simulator keeps that shape so clients exercise their real URL logic.

use serde::{Deserialize, Serialize};

/// The two separate platforms since the 2022 split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// amoCRM, `*.amocrm.ru`.
    Amocrm,
    /// Kommo (ex-amoCRM global), `*.kommo.com`; legacy `*.amocrm.com` hosts are aliases.
    Kommo,
}

impl Platform {
    /// Domain account hosts live under.
    pub fn domain(self) -> &'static str {
        match self {
            Self::Amocrm => "amocrm.ru",
            Self::Kommo => "kommo.com",
        }
    }

    /// Host of the button script and consent page.
    pub fn consent_host(self) -> &'static str {
        match self {
            Self::Amocrm => "www.amocrm.ru",
            Self::Kommo => "www.kommo.com",
        }
    }

    /// Shared API host written into tokens as `api_domain`.
    pub fn api_domain(self) -> &'static str {
        match self {
            Self::Amocrm => "api-b.amocrm.ru",
            Self::Kommo => "api-c.kommo.com",
        }
    }

    /// Value of the (unconfirmed) `platform` redirect parameter.
    pub fn code(self) -> u8 {
        match self {
            Self::Amocrm => 1,
            Self::Kommo => 2,
        }
    }

    /// Last label of the domain, as in the subdomain lookup's `top_level_domain`.
    pub fn top_level_domain(self) -> &'static str {
        match self {
            Self::Amocrm => "ru",
            Self::Kommo => "com",
        }
    }

    /// The account host of `subdomain`.
    pub fn account_host(self, subdomain: &str) -> String {
        format!("{subdomain}.{}", self.domain())
    }

    /// Class of the `<script>` tag the button script looks for, also the default button class stem.
    pub fn script_class(self) -> &'static str {
        match self {
            Self::Amocrm => "amocrm_oauth",
            Self::Kommo => "kommo_oauth",
        }
    }
}

/// A host name the simulator answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimHost {
    /// `www.amocrm.ru` / `www.kommo.com`.
    Consent(Platform),
    /// `api-b.amocrm.ru` / `api-c.kommo.com`.
    Api(Platform),
    /// `{subdomain}.amocrm.ru`, `{subdomain}.kommo.com` or legacy `{subdomain}.amocrm.com`.
    Account {
        platform: Platform,
        subdomain: String,
    },
}

impl SimHost {
    /// Classifies a host name (any `:port` is ignored, case does not matter).
    pub fn parse(host: &str) -> Option<Self> {
        let host = strip_port(host).to_ascii_lowercase();
        for platform in [Platform::Amocrm, Platform::Kommo] {
            if host == platform.consent_host() {
                return Some(Self::Consent(platform));
            }
            if host == platform.api_domain() {
                return Some(Self::Api(platform));
            }
        }
        let (label, domain) = host.split_once('.')?;
        let platform = match domain {
            "amocrm.ru" => Platform::Amocrm,
            "kommo.com" | "amocrm.com" => Platform::Kommo,
            _ => return None,
        };
        is_valid_subdomain(label).then(|| Self::Account {
            platform,
            subdomain: label.to_owned(),
        })
    }

    /// The platform the host belongs to.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Consent(platform) | Self::Api(platform) => *platform,
            Self::Account { platform, .. } => *platform,
        }
    }
}

/// Whether `label` is a syntactically valid account subdomain (`[a-z0-9][a-z0-9-]{0,62}`).
pub fn is_valid_subdomain(label: &str) -> bool {
    let mut bytes = label.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && label.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The host a request was sent to: the `Host` header, or the URI authority under HTTP/2.
pub fn request_host(head: &actix_web::dev::RequestHead) -> Option<String> {
    head.headers
        .get(actix_web::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| head.uri.host())
        .map(|host| strip_port(host).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_hosts() {
        assert_eq!(
            SimHost::parse("www.amocrm.ru:8080"),
            Some(SimHost::Consent(Platform::Amocrm))
        );
        assert_eq!(
            SimHost::parse("API-B.amocrm.ru"),
            Some(SimHost::Api(Platform::Amocrm))
        );
        assert_eq!(
            SimHost::parse("acme.amocrm.com"),
            Some(SimHost::Account {
                platform: Platform::Kommo,
                subdomain: "acme".into()
            })
        );
        assert_eq!(SimHost::parse("127.0.0.1:8080"), None);
        assert_eq!(SimHost::parse("a.b.amocrm.ru"), None);
        assert_eq!(SimHost::parse("-x.kommo.com"), None);
        assert_eq!(SimHost::parse("evil.example"), None);
    }
}
