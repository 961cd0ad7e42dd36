//! Where the end user came from: the tenant page that opened the hosted connect page through the
//! embed loader (`embed_origin`, the only origin the result pages post their outcome to) and an
//! optional `return_url` the result pages link back to.
//!
//! Both arrive as query parameters of the hosted page and ride a short-lived cookie to the
//! result page, which amoCRM's redirect reaches without them. Values that are not an http(s)
//! origin / URL are dropped: they only ever steer a `postMessage` target or a visible link.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
};
use serde::{Deserialize, Serialize};
use url::Url;

/// Longest return URL kept (a link, not a document).
const MAX_RETURN_URL: usize = 2048;

/// The query of the hosted connect page.
#[derive(Debug, Default, Deserialize)]
pub struct ReturnQuery {
    embed_origin: Option<String>,
    return_url: Option<String>,
}

/// The checked values.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnTo {
    /// `scheme://host[:port]` of the embedding page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_origin: Option<String>,
    /// An absolute http(s) URL on the tenant's site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

fn cookie_name(production: bool) -> &'static str {
    if production {
        "__Host-amolink_return"
    } else {
        "amolink_return"
    }
}

/// `value` when it is exactly an http(s) origin (no path, query, fragment or user info).
fn origin(value: &str) -> Option<String> {
    let url = Url::parse(value).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    (origin == value).then_some(origin)
}

/// `value` when it is an absolute http(s) URL without user info, of a sane length.
fn return_url(value: &str) -> Option<String> {
    if value.len() > MAX_RETURN_URL {
        return None;
    }
    let url = Url::parse(value).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    plain.then(|| url.into())
}

impl ReturnTo {
    /// Keeps what is well-formed of the hosted page's query.
    #[must_use]
    pub fn from_query(query: &ReturnQuery) -> Self {
        Self {
            embed_origin: query.embed_origin.as_deref().and_then(origin),
            return_url: query.return_url.as_deref().and_then(return_url),
        }
    }

    fn is_empty(&self) -> bool {
        self.embed_origin.is_none() && self.return_url.is_none()
    }

    /// What the hosted page stored for this browser (re-checked: cookies are input too).
    #[must_use]
    pub fn from_request(req: &HttpRequest, production: bool) -> Self {
        req.cookie(cookie_name(production))
            .and_then(|c| serde_urlencoded::from_str::<ReturnQuery>(c.value()).ok())
            .map(|q| Self::from_query(&q))
            .unwrap_or_default()
    }

    /// The cookie carrying these values to the result page; with nothing to carry, one that
    /// clears what an earlier visit left.
    #[must_use]
    pub fn cookie(&self, production: bool) -> Cookie<'static> {
        let value = if self.is_empty() {
            String::new()
        } else {
            serde_urlencoded::to_string(self).unwrap_or_default()
        };
        let max_age = if value.is_empty() {
            CookieDuration::ZERO
        } else {
            CookieDuration::minutes(30)
        };
        Cookie::build(cookie_name(production), value)
            .path("/")
            .http_only(true)
            .secure(production)
            .same_site(SameSite::Lax)
            .max_age(max_age)
            .finish()
    }

    /// The host a "Back to …" link names.
    #[must_use]
    pub fn return_host(&self) -> Option<String> {
        let url = Url::parse(self.return_url.as_deref()?).ok()?;
        url.host_str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(embed_origin: &str, return_url: &str) -> ReturnQuery {
        ReturnQuery {
            embed_origin: Some(embed_origin.to_owned()),
            return_url: Some(return_url.to_owned()),
        }
    }

    #[test]
    fn keeps_an_origin_and_a_return_url() {
        let to = ReturnTo::from_query(&query(
            "https://shop.example:8443",
            "https://shop.example/settings?tab=crm",
        ));
        assert_eq!(
            to.embed_origin.as_deref(),
            Some("https://shop.example:8443")
        );
        assert_eq!(
            to.return_url.as_deref(),
            Some("https://shop.example/settings?tab=crm")
        );
        assert_eq!(to.return_host().as_deref(), Some("shop.example"));
    }

    #[test]
    fn drops_what_is_not_an_http_origin_or_url() {
        for (origin, url) in [
            ("javascript:alert(1)", "javascript:alert(1)"),
            ("https://shop.example/path", "data:text/html,hi"),
            ("*", "https://user:pw@shop.example/"),
            ("null", "/relative"),
            ("https://shop.example/", "ftp://shop.example/"),
        ] {
            let to = ReturnTo::from_query(&query(origin, url));
            assert_eq!(to, ReturnTo::default(), "{origin} / {url}");
        }
        let long = format!("https://shop.example/{}", "a".repeat(MAX_RETURN_URL));
        assert_eq!(
            ReturnTo::from_query(&query("x", &long)).return_url,
            None,
            "an overlong URL"
        );
    }

    #[test]
    fn survives_its_cookie() {
        let to = ReturnTo::from_query(&query("http://127.0.0.1:9", "http://127.0.0.1:9/a?b=c&d"));
        let cookie = to.cookie(false);
        let back: ReturnQuery = serde_urlencoded::from_str(cookie.value()).expect("urlencoded");
        assert_eq!(ReturnTo::from_query(&back), to);
        assert_eq!(ReturnTo::default().cookie(true).value(), "");
    }
}
