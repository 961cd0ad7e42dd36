//! Where a webhook may be sent (SSRF; requirement R44 in `docs/security-requirements.md`).
//!
//! A tenant's URL is a request amolink makes on the tenant's behalf from inside our network, so
//! it must not reach anything a stranger could not: only `https` to public unicast addresses.
//! This module checks what can be known from the URL alone (scheme, credentials, IP literals in
//! any spelling the URL parser normalises — decimal, octal, hex, IPv4-mapped IPv6 — and
//! `localhost` names). Names are resolved and checked again by the transport, both when the
//! endpoint is saved and at every connection, because DNS answers can change after saving.

use std::net::IpAddr;

use amocrm::AddressPolicy;
use url::{Host, Url};

use crate::ValidationError;

/// The longest endpoint URL accepted.
const MAX_URL_LEN: usize = 2000;

/// Which destinations amolink may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationPolicy {
    /// Production: `https` only, and only public unicast addresses.
    PublicHttpsOnly,
    /// Development: `http` and loopback are allowed too, so local receivers, demos and tests
    /// work. Private, link-local, CGNAT and metadata ranges stay refused even here.
    AllowLoopback,
}

impl DestinationPolicy {
    #[must_use]
    pub fn allows_scheme(self, scheme: &str) -> bool {
        scheme == "https" || (self == Self::AllowLoopback && scheme == "http")
    }

    /// The outbound guard's policy for this destination policy (the transport resolves
    /// names through it).
    #[must_use]
    pub const fn address_policy(self) -> AddressPolicy {
        match self {
            Self::PublicHttpsOnly => AddressPolicy::PublicOnly,
            Self::AllowLoopback => AddressPolicy::PublicOrLoopback,
        }
    }

    /// Whether a connection to `ip` is allowed.
    #[must_use]
    pub fn allows_ip(self, ip: IpAddr) -> bool {
        self.address_policy().allows(ip)
    }
}

/// Whether a host name is a loopback name by definition (RFC 6761), whatever DNS says.
fn is_localhost_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// A webhook endpoint URL that passed every check that does not need DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

impl EndpointUrl {
    /// Parses and checks a tenant's URL under `policy`.
    ///
    /// # Errors
    /// When the URL is malformed, too long, not `https` (outside development), carries
    /// credentials, or names a non-public address.
    pub fn parse(raw: &str, policy: DestinationPolicy) -> Result<Self, ValidationError> {
        let invalid = |code: &'static str| ValidationError::new("url", code);
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("url-missing"));
        }
        if raw.len() > MAX_URL_LEN {
            return Err(invalid("url-too-long"));
        }
        let mut url = Url::parse(raw).map_err(|_| invalid("url-malformed"))?;
        if !policy.allows_scheme(url.scheme()) {
            return Err(invalid("url-not-https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("url-has-credentials"));
        }
        let refused = || invalid("url-not-public");
        match url.host() {
            None => return Err(invalid("url-no-host")),
            Some(Host::Ipv4(ip)) => {
                if !policy.allows_ip(IpAddr::V4(ip)) {
                    return Err(refused());
                }
            }
            Some(Host::Ipv6(ip)) => {
                if !policy.allows_ip(IpAddr::V6(ip)) {
                    return Err(refused());
                }
            }
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() {
                    return Err(invalid("url-no-host"));
                }
                if is_localhost_name(&name) && policy != DestinationPolicy::AllowLoopback {
                    return Err(refused());
                }
            }
        }
        // A fragment is never sent; keep the stored URL to what is used.
        url.set_fragment(None);
        Ok(Self(url))
    }

    /// Re-wraps a URL read back from storage (it was checked when saved).
    ///
    /// # Errors
    /// When the stored text is not a URL.
    pub fn from_stored(raw: &str) -> Result<Self, ValidationError> {
        Url::parse(raw)
            .map(Self)
            .map_err(|_| ValidationError::new("url", "url-stored-invalid"))
    }

    #[must_use]
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host name when the URL names one rather than an IP literal (the part DNS decides).
    #[must_use]
    pub fn domain(&self) -> Option<&str> {
        match self.0.host() {
            Some(Host::Domain(name)) => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: DestinationPolicy = DestinationPolicy::PublicHttpsOnly;
    const DEV: DestinationPolicy = DestinationPolicy::AllowLoopback;

    #[test]
    fn production_accepts_public_https_urls() {
        for ok in [
            "https://hooks.example.com/amolink",
            "https://hooks.example.com:8443/a?b=c",
            "https://8.8.8.8/hook",
            "https://[2606:4700::1111]/hook",
            "https://example.com./hook",
        ] {
            assert!(EndpointUrl::parse(ok, PROD).is_ok(), "{ok}");
        }
    }

    #[test]
    fn production_refuses_internal_targets_in_every_spelling() {
        for bad in [
            "http://hooks.example.com/",
            "http://127.0.0.1/",
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://0.0.0.0/",
            "https://10.0.0.1/",
            "https://10.1.2.3:8443/x",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://user:pass@example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/hook",
            "",
        ] {
            assert!(
                EndpointUrl::parse(bad, PROD).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn development_allows_http_and_loopback_but_not_private_ranges() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "http://localhost:3000/",
            "http://[::1]:8080/",
            "https://hooks.example.com/",
        ] {
            assert!(EndpointUrl::parse(ok, DEV).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://192.168.0.10/",
            "http://[fd00::1]/",
        ] {
            assert!(EndpointUrl::parse(bad, DEV).is_err(), "{bad}");
        }
    }

    #[test]
    fn fragments_are_dropped_and_names_exposed_for_resolution() {
        let url = EndpointUrl::parse("https://Hooks.Example.com/a#frag", PROD).expect("valid");
        assert_eq!(url.as_str(), "https://hooks.example.com/a");
        assert_eq!(url.domain(), Some("hooks.example.com"));
        let ip = EndpointUrl::parse("https://8.8.8.8/", PROD).expect("valid");
        assert_eq!(ip.domain(), None);
    }
}
