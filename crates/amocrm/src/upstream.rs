//! Where requests physically go: the account host itself, or the simulator origin
//! (`AMOLINK_AMOCRM_BASE_URL`) with the account host carried in the `Host` header.
//!
//! URLs are built by the `url` crate from validated parts, then checked: if the parser changed the
//! path, query, host or port in any way, the request is refused instead of sent somewhere unexpected.

use url::Url;

use crate::errors::{AmoError, BuildError};
use crate::host::AccountHost;

/// The destination of every request the client makes.
#[derive(Debug, Clone)]
pub(crate) enum Upstream {
    /// Production: `https://{account host}{path}`, default port.
    Direct,
    /// A local simulator or test double: `{origin}{path}`; plain http allowed.
    Override(Url),
}

impl Upstream {
    /// Accepts `None` (production) or a bare origin such as `http://127.0.0.1:8080` (a trailing `/`
    /// is fine; a path prefix is not, since paths are sent unchanged).
    ///
    /// # Errors
    /// [`BuildError::InvalidBaseUrl`] for another scheme, userinfo, a path, a query or a fragment.
    pub(crate) fn new(base_url_override: Option<Url>) -> Result<Self, BuildError> {
        let Some(origin) = base_url_override else {
            return Ok(Self::Direct);
        };
        let invalid = |reason| Err(BuildError::InvalidBaseUrl { reason });
        if !matches!(origin.scheme(), "http" | "https") {
            return invalid("scheme must be http or https");
        }
        if origin.host_str().is_none() {
            return invalid("a host is required");
        }
        if !origin.username().is_empty() || origin.password().is_some() {
            return invalid("userinfo is not allowed");
        }
        if origin.path() != "/" || origin.query().is_some() || origin.fragment().is_some() {
            return invalid("only an origin is allowed (no path, query or fragment)");
        }
        Ok(Self::Override(origin))
    }

    /// Whether this is the production upstream (which must be HTTPS and DNS-guarded).
    pub(crate) fn is_direct(&self) -> bool {
        matches!(self, Self::Direct)
    }

    /// The URL for `path` (and `query`) on `host`.
    ///
    /// # Errors
    /// [`AmoError::UnsafeRequest`] if URL building would alter any part of the target.
    pub(crate) fn url(
        &self,
        host: &AccountHost,
        path: &str,
        query: Option<&str>,
    ) -> Result<Url, AmoError> {
        let (mut url, scheme, authority, port) = match self {
            Self::Direct => {
                let url = Url::parse(&format!("https://{host}/")).map_err(|_| {
                    AmoError::UnsafeRequest {
                        reason: "account host is not a valid URL host",
                    }
                })?;
                (url, "https", host.as_str(), None)
            }
            Self::Override(origin) => (
                origin.clone(),
                origin.scheme(),
                origin.host_str().unwrap_or_default(),
                origin.port(),
            ),
        };
        url.set_path(path);
        url.set_query(query);
        let intact = url.scheme() == scheme
            && url.host_str() == Some(authority)
            && url.port() == port
            && url.path() == path
            && url.query() == query
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none();
        if intact {
            Ok(url)
        } else {
            Err(AmoError::UnsafeRequest {
                reason: "the request target does not survive URL building unchanged",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains::DomainAllowList;

    fn host() -> AccountHost {
        AccountHost::parse("acme.amocrm.ru", &DomainAllowList::default()).expect("valid")
    }

    fn override_with(raw: &str) -> Result<Upstream, BuildError> {
        Upstream::new(Some(Url::parse(raw).expect("parses")))
    }

    #[test]
    fn direct_urls_are_https_on_the_account_host() {
        let url = Upstream::Direct
            .url(&host(), "/oauth2/access_token", None)
            .expect("builds");
        assert_eq!(url.as_str(), "https://acme.amocrm.ru/oauth2/access_token");
        assert_eq!(url.port(), None);
        let url = Upstream::Direct
            .url(&host(), "/api/v4/leads", Some("filter[id][]=1&page=2"))
            .expect("builds");
        assert_eq!(
            url.as_str(),
            "https://acme.amocrm.ru/api/v4/leads?filter[id][]=1&page=2"
        );
    }

    #[test]
    fn override_keeps_the_path_and_swaps_the_origin() {
        let upstream = override_with("http://127.0.0.1:8099/").expect("valid");
        assert!(!upstream.is_direct());
        let url = upstream
            .url(&host(), "/api/v4/account", None)
            .expect("builds");
        assert_eq!(url.as_str(), "http://127.0.0.1:8099/api/v4/account");
    }

    #[test]
    fn override_must_be_a_bare_origin() {
        for bad in [
            "ftp://127.0.0.1/",
            "http://user:pw@127.0.0.1/",
            "http://127.0.0.1/prefix",
            "http://127.0.0.1/?q=1",
            "http://127.0.0.1/#frag",
            "unix:/run/sim.sock",
        ] {
            assert!(override_with(bad).is_err(), "{bad}");
        }
        assert!(override_with("https://sim.internal:8443").is_ok());
    }

    #[test]
    fn targets_the_url_parser_would_rewrite_are_refused() {
        for (path, query) in [
            ("/api/v4/../admin", None),
            ("/api/v4/a b", None),
            ("/api/v4/leads", Some("a=<b>")),
            ("/api/v4/leads", Some("a=1#frag")),
            ("relative", None),
        ] {
            let result = Upstream::Direct.url(&host(), path, query);
            assert!(
                matches!(result, Err(AmoError::UnsafeRequest { .. })),
                "{path} {query:?}"
            );
        }
    }
}
