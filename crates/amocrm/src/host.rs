//! Validation of account hosts (the `referer` amoCRM hands back), security requirement R17.
//!
//! The `referer` query parameter is attacker-controlled, yet it names the server we POST the
//! integration's `client_secret` to. So it is checked against a strict grammar — one DNS label plus an
//! allow-listed suffix, lowercase ASCII only — and nothing is ever normalised: anything unusual is
//! rejected rather than repaired, because every repair is a parser differential waiting to happen.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::domains::DomainAllowList;
use crate::platform::{BaseDomain, Platform};

/// The longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;
/// One label, a dot and the longest suffix (`amocrm.com`): anything longer cannot be valid.
const MAX_HOST_LEN: usize = MAX_LABEL_LEN + 1 + 10;

/// A validated amoCRM/Kommo account host such as `acme.amocrm.ru`.
///
/// Holding one proves the host is `{label}.{allowed suffix}` with a well-formed label; it is the only
/// kind of host [`crate::AmoClient`] sends requests to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountHost {
    host: String,
    base: BaseDomain,
}

/// Why a host was refused. The offending input is deliberately not echoed (it is attacker-controlled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefererError {
    /// Nothing was given.
    #[error("account host is empty")]
    Empty,
    /// Longer than any valid account host.
    #[error("account host is too long")]
    TooLong,
    /// Uppercase letters are refused rather than folded.
    #[error("account host must be lowercase")]
    Uppercase,
    /// A character outside `a-z`, `0-9`, `-` and `.` (scheme, port, userinfo, path, `%`, `\`, spaces, …).
    #[error("account host contains a forbidden character")]
    ForbiddenCharacter,
    /// An IP address instead of a name.
    #[error("account host is an IP literal")]
    IpLiteral,
    /// Punycode (`xn--`) is refused: no legitimate account needs it and it enables homoglyph tricks.
    #[error("account host contains punycode")]
    Punycode,
    /// Not exactly one label followed by an allow-listed suffix.
    #[error("account host is not one label under an allowed domain")]
    NotAllowListed,
    /// The label is empty, too long, or starts/ends with `-`.
    #[error("account host label is malformed")]
    InvalidLabel,
    /// The URL parser would not reproduce the host byte for byte (defence in depth).
    #[error("account host does not survive URL parsing unchanged")]
    UrlMismatch,
}

impl AccountHost {
    /// Validates `raw` as an account host under one of `allow`'s suffixes.
    ///
    /// Accepts exactly `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.{suffix}$`; then re-parses
    /// `https://{raw}/` with the `url` crate and requires the same host back with no port.
    ///
    /// # Errors
    /// A [`RefererError`] naming the first rule `raw` breaks.
    pub fn parse(raw: &str, allow: &DomainAllowList) -> Result<Self, RefererError> {
        if raw.is_empty() {
            return Err(RefererError::Empty);
        }
        if raw.len() > MAX_HOST_LEN {
            return Err(RefererError::TooLong);
        }
        if raw.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return Err(RefererError::IpLiteral);
        }
        if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RefererError::Uppercase);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(RefererError::ForbiddenCharacter);
        }
        if raw.contains("xn--") {
            return Err(RefererError::Punycode);
        }
        let (label, suffix) = raw.split_once('.').ok_or(RefererError::NotAllowListed)?;
        let base = allow.find(suffix).ok_or(RefererError::NotAllowListed)?;
        if !is_valid_label(label) {
            return Err(RefererError::InvalidLabel);
        }
        ensure_url_round_trip(raw)?;
        Ok(Self {
            host: raw.to_owned(),
            base,
        })
    }

    /// The full host, e.g. `acme.amocrm.ru`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.host
    }

    /// The account's subdomain, e.g. `acme`.
    #[must_use]
    pub fn subdomain(&self) -> &str {
        let label_len = self.host.len() - self.base.as_str().len() - 1;
        &self.host[..label_len]
    }

    /// The platform the host belongs to (compare it with the platform the connect attempt was for).
    #[must_use]
    pub fn platform(&self) -> Platform {
        self.base.platform()
    }

    /// The allow-listed suffix, e.g. `amocrm.ru` (what the access token's `base_domain` claim holds).
    #[must_use]
    pub fn base_domain(&self) -> &'static str {
        self.base.as_str()
    }
}

impl fmt::Display for AccountHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)
    }
}

/// `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`, given the characters were already limited to `[a-z0-9.-]`
/// and the label holds no dot.
fn is_valid_label(label: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&label.len()) && !label.starts_with('-') && !label.ends_with('-')
}

fn ensure_url_round_trip(host: &str) -> Result<(), RefererError> {
    let url = Url::parse(&format!("https://{host}/")).map_err(|_| RefererError::UrlMismatch)?;
    let same_domain = matches!(url.host(), Some(Host::Domain(parsed)) if parsed == host);
    if same_domain && url.port().is_none() && url.username().is_empty() && url.path() == "/" {
        Ok(())
    } else {
        Err(RefererError::UrlMismatch)
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hostile_referer_samples;

    fn parse(raw: &str) -> Result<AccountHost, RefererError> {
        AccountHost::parse(raw, &DomainAllowList::default())
    }

    #[test]
    fn every_hostile_sample_is_rejected() {
        for raw in hostile_referer_samples() {
            assert!(parse(raw).is_err(), "accepted hostile referer {raw:?}");
        }
    }

    #[test]
    fn hostile_samples_fail_for_the_expected_reason() {
        use RefererError::*;
        let label64 = format!("{}.amocrm.ru", "a".repeat(64));
        let huge = format!("{}.amocrm.ru", "a".repeat(10_000));
        let cases: &[(&str, RefererError)] = &[
            ("", Empty),
            ("evil.com", NotAllowListed),
            ("a.amocrm.ru.evil.com", NotAllowListed),
            ("a.b.amocrm.ru", NotAllowListed),
            ("amocrm.ru", NotAllowListed),
            ("localhost", NotAllowListed),
            ("a.amocrm.ru.", NotAllowListed),
            ("a.amocrm.com.ru", NotAllowListed),
            ("a.amocrm.ru@evil.com", ForbiddenCharacter),
            ("a.amocrm.ru:8080", ForbiddenCharacter),
            ("https://a.amocrm.ru", ForbiddenCharacter),
            ("a.amocrm.ru\t", ForbiddenCharacter),
            ("a.amocrm.rս", ForbiddenCharacter),
            ("A.AMOCRM.RU", Uppercase),
            ("Acme.amocrm.ru", Uppercase),
            ("127.0.0.1", IpLiteral),
            ("[::1]", IpLiteral),
            ("xn--80ak6aa92e.amocrm.ru", Punycode),
            ("a.xn--amocrm.ru", Punycode),
            ("a..amocrm.ru", NotAllowListed),
            (".amocrm.ru", InvalidLabel),
            ("-a.amocrm.ru", InvalidLabel),
            ("a-.amocrm.ru", InvalidLabel),
            (&label64, InvalidLabel),
            (&huge, TooLong),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse(raw), Err(*expected), "{raw:?}");
        }
    }

    #[test]
    fn valid_hosts_are_accepted_with_their_parts() {
        let label63 = "a".repeat(63);
        let long = format!("{label63}.amocrm.com");
        let cases: &[(&str, &str, &str, Platform)] = &[
            ("acme.amocrm.ru", "acme", "amocrm.ru", Platform::AmoCrm),
            ("a.amocrm.ru", "a", "amocrm.ru", Platform::AmoCrm),
            ("0.amocrm.ru", "0", "amocrm.ru", Platform::AmoCrm),
            (
                "my-shop-2.kommo.com",
                "my-shop-2",
                "kommo.com",
                Platform::Kommo,
            ),
            ("legacy.amocrm.com", "legacy", "amocrm.com", Platform::Kommo),
            ("api-b.amocrm.ru", "api-b", "amocrm.ru", Platform::AmoCrm),
            ("a--b.amocrm.ru", "a--b", "amocrm.ru", Platform::AmoCrm),
            (&long, &label63, "amocrm.com", Platform::Kommo),
        ];
        for (raw, subdomain, base, platform) in cases {
            let host = parse(raw).unwrap_or_else(|e| panic!("rejected {raw:?}: {e}"));
            assert_eq!(host.as_str(), *raw);
            assert_eq!(host.to_string(), *raw);
            assert_eq!(host.subdomain(), *subdomain);
            assert_eq!(host.base_domain(), *base);
            assert_eq!(host.platform(), *platform);
        }
    }

    #[test]
    fn accepted_hosts_round_trip_through_the_url_parser() {
        for raw in ["acme.amocrm.ru", "x-1.kommo.com", "z.amocrm.com"] {
            let host = parse(raw).expect("valid");
            let url = Url::parse(&format!("https://{}/", host.as_str())).expect("parses");
            assert_eq!(url.host_str(), Some(raw));
            assert_eq!(url.port(), None);
        }
    }

    #[test]
    fn the_allow_list_limits_suffixes() {
        let kommo_only: DomainAllowList = "kommo.com".parse().expect("valid list");
        assert!(AccountHost::parse("acme.kommo.com", &kommo_only).is_ok());
        assert_eq!(
            AccountHost::parse("acme.amocrm.ru", &kommo_only),
            Err(RefererError::NotAllowListed)
        );
    }

    #[test]
    fn errors_do_not_echo_the_input() {
        let err = parse("canary-evil.example").expect_err("hostile");
        assert!(!err.to_string().contains("canary"));
        assert!(!format!("{err:?}").contains("canary"));
    }
}
