//! The tenant proxy: forwarding a tenant's API call to its amoCRM account (contract: `ANY
//! /api/v1/connections/{id}/proxy/{path}`).
//!
//! The path and query come from the tenant, so they are validated as strictly as the host: only
//! `/api/v4/…` paths made of unreserved characters, no dot segments, no empty segments, no percent
//! escapes (so `%2e%2e` cannot smuggle a traversal past us), no backslashes, and no absolute URLs.
//! Only a short allow-list of headers crosses in either direction, so the tenant can neither override
//! `Authorization`/`Host` nor receive amoCRM cookies.
//!
//! Response bodies are **streamed** rather than buffered: API pages can be much larger than the token
//! responses, and streaming keeps memory flat. The stream still enforces a byte cap and ends with
//! [`AmoError::ResponseTooLarge`] once it is passed.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{Method, StatusCode};

use crate::errors::AmoError;
use crate::problem::{Endpoint, classify};

/// Path prefixes a tenant may reach. `/oauth2/` and everything else stay out of reach.
const ALLOWED_PREFIXES: &[&str] = &["/api/v4/"];
const MAX_PATH_LEN: usize = 2048;
const MAX_QUERY_LEN: usize = 8192;

/// Request headers a tenant may pass to amoCRM (lowercase); public so the web layer converts
/// only these from its own header types.
pub const FORWARDED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-type",
    "if-modified-since",
    "if-none-match",
    // amoCRM's header to act with another user's rights (admin-issued tokens only).
    "x-context-user-id",
];

/// Response headers passed back to the tenant (no `Set-Cookie`, no `Location`).
const FORWARDED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "etag",
    "last-modified",
    "retry-after",
];

/// A tenant's API call to forward.
#[derive(Debug, Clone)]
pub struct ForwardRequest {
    /// GET, HEAD, POST, PUT, PATCH or DELETE.
    pub method: Method,
    /// The path on the account host, e.g. `/api/v4/leads/42`.
    pub path: String,
    /// The raw query string without `?`, e.g. `filter[id][]=1&page=2`.
    pub query: Option<String>,
    /// The tenant's headers; only an allow-list is forwarded.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
}

/// A boxed stream of body chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, AmoError>> + Send>>;

/// amoCRM's answer, whatever its status (the proxy is transparent; 3xx is the one exception and
/// becomes [`AmoError::RedirectRefused`]).
pub struct ForwardResponse {
    /// The upstream status.
    pub status: StatusCode,
    /// The allow-listed upstream headers.
    pub headers: HeaderMap,
    /// The body, streamed and capped.
    pub body: BodyStream,
}

impl ForwardResponse {
    /// Buffers the whole (capped) body.
    ///
    /// # Errors
    /// The first error of the body stream (timeout, network, [`AmoError::ResponseTooLarge`]).
    pub async fn collect(self) -> Result<Bytes, AmoError> {
        let mut body = self.body;
        let mut buffer = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buffer.extend_from_slice(&chunk?);
        }
        Ok(buffer.freeze())
    }
}

impl ForwardResponse {
    /// For a refusal the caller must react to (401, 403, 429: refresh, stop, slow down), reads the
    /// capped body and classifies the answer like any other amoCRM error (`retry_after` from the
    /// body or header, an HTML block page). The response comes back unchanged, body buffered, so
    /// it can still be relayed. `None` for 2xx.
    pub async fn classify_refusal(self) -> (Self, Option<AmoError>) {
        if self.status.is_success() {
            return (self, None);
        }
        let status = self.status;
        let headers = self.headers.clone();
        let body = self.collect().await.unwrap_or_default();
        let error = classify(Endpoint::Api, status, &headers, &body);
        let replay = Self {
            status,
            headers,
            body: Box::pin(stream::once(std::future::ready(Ok(body)))),
        };
        (replay, Some(error))
    }
}

impl ForwardRequest {
    /// Checks method, path and query before anything is sent. [`AmoClient::forward`] does it too;
    /// callers run it first when a refused request must cost nothing (no token, no rate slot).
    ///
    /// # Errors
    /// [`AmoError::UnsafeRequest`] naming the broken rule.
    ///
    /// [`AmoClient::forward`]: crate::AmoClient::forward
    pub fn validate(&self) -> Result<(), AmoError> {
        let refuse = |reason| Err(AmoError::UnsafeRequest { reason });
        let allowed_methods = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ];
        if !allowed_methods.contains(&self.method) {
            return refuse("method not allowed");
        }
        if let Some(reason) = path_problem(&self.path) {
            return refuse(reason);
        }
        if let Some(reason) = self.query.as_deref().and_then(query_problem) {
            return refuse(reason);
        }
        Ok(())
    }

    /// The allow-listed subset of the tenant's headers.
    pub(crate) fn forwarded_headers(&self) -> HeaderMap {
        filter_headers(&self.headers, FORWARDED_REQUEST_HEADERS)
    }
}

/// Why `path` may not be forwarded, if it may not.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.len() > MAX_PATH_LEN {
        return Some("path too long");
    }
    if !ALLOWED_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
    {
        return Some("path outside the allowed API prefix");
    }
    let unreserved =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/');
    if !path.bytes().all(unreserved) {
        return Some("path contains a forbidden character");
    }
    if path.contains("//") {
        return Some("path contains an empty segment");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some("path contains a dot segment");
    }
    None
}

/// Why `query` may not be forwarded, if it may not. Escapes are fine here: amoCRM decodes them as
/// values, not as path structure.
fn query_problem(query: &str) -> Option<&'static str> {
    if query.len() > MAX_QUERY_LEN {
        return Some("query too long");
    }
    if !query.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
        return Some("query contains a forbidden character");
    }
    // A `%` must start an escape: anything else reaches amoCRM as a malformed URL.
    let bytes = query.as_bytes();
    let malformed_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed_escape {
        return Some("query contains a malformed percent escape");
    }
    None
}

fn filter_headers(headers: &HeaderMap, allowed: &[&'static str]) -> HeaderMap {
    let mut filtered = HeaderMap::new();
    for &name in allowed {
        for value in headers.get_all(name) {
            filtered.append(HeaderName::from_static(name), value.clone());
        }
    }
    filtered
}

/// Wraps an upstream response as a [`ForwardResponse`] whose body ends with
/// [`AmoError::ResponseTooLarge`] once more than `max_bytes` arrived. The stream ends after its first
/// error.
pub(crate) fn into_forward_response(
    response: reqwest::Response,
    max_bytes: usize,
) -> ForwardResponse {
    let status = response.status();
    let headers = filter_headers(response.headers(), FORWARDED_RESPONSE_HEADERS);
    let body = stream::unfold(Some((response, 0_usize)), move |state| async move {
        let (mut response, seen) = state?;
        match response.chunk().await {
            Ok(Some(chunk)) => match seen
                .checked_add(chunk.len())
                .filter(|total| *total <= max_bytes)
            {
                Some(total) => Some((Ok(chunk), Some((response, total)))),
                None => Some((Err(AmoError::ResponseTooLarge), None)),
            },
            Ok(None) => None,
            Err(err) => Some((Err(AmoError::from_transport(err)), None)),
        }
    });
    ForwardResponse {
        status,
        headers,
        body: Box::pin(body),
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn request(path: &str, query: Option<&str>) -> ForwardRequest {
        ForwardRequest {
            method: Method::GET,
            path: path.into(),
            query: query.map(Into::into),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn accepts_ordinary_api_calls() {
        for (path, query) in [
            ("/api/v4/account", None),
            ("/api/v4/leads/42", Some("with=contacts")),
            ("/api/v4/leads/", None),
            (
                "/api/v4/leads/custom_fields",
                Some("filter[id][]=1&filter[id][]=2&page=2&limit=250"),
            ),
            ("/api/v4/contacts", Some("query=%D0%98%D0%B2%D0%B0%D0%BD")),
            ("/api/v4/events/v1.2", None),
        ] {
            assert!(request(path, query).validate().is_ok(), "{path} {query:?}");
        }
    }

    #[test]
    fn refuses_traversal_and_smuggling() {
        let long = format!("/api/v4/{}", "a".repeat(MAX_PATH_LEN));
        let paths = [
            "",
            "/",
            "api/v4/leads",
            "/api/v4",
            "/api/v3/leads",
            "/oauth2/access_token",
            "/api/v4/../../oauth2/access_token",
            "/api/v4/..",
            "/api/v4/.",
            "/api/v4/./leads",
            "/api/v4//leads",
            "//evil.com/api/v4/",
            "/api/v4/%2e%2e/oauth2",
            "/api/v4/%2E%2E/x",
            "/api/v4/%2f%2fevil",
            "/api/v4/..%2f",
            "/api/v4/\\..\\oauth2",
            "/api/v4/leads?x=1",
            "/api/v4/leads#frag",
            "https://evil.com/api/v4/",
            "http:/api/v4/",
            "/api/v4/@evil.com",
            "/api/v4/lea ds",
            "/api/v4/leads\r\nHost: evil",
            "/api/v4/ле",
            "/API/V4/leads",
            &long,
        ];
        for path in paths {
            assert!(
                matches!(
                    request(path, None).validate(),
                    Err(AmoError::UnsafeRequest { .. })
                ),
                "accepted {path:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_queries_and_methods() {
        let long = "a".repeat(MAX_QUERY_LEN + 1);
        for query in [
            "a=1#frag", "a=1 2", "a=\r\nb", "a=ü", "a=%", "a=%4", "a=%zz", "%%41", &long,
        ] {
            assert!(
                request("/api/v4/leads", Some(query)).validate().is_err(),
                "{query:?}"
            );
        }
        for method in [Method::CONNECT, Method::TRACE, Method::OPTIONS] {
            let mut req = request("/api/v4/leads", None);
            req.method = method;
            assert!(req.validate().is_err());
        }
    }

    #[test]
    fn only_allow_listed_headers_are_forwarded() {
        let mut req = request("/api/v4/leads", None);
        for (name, value) in [
            ("authorization", "Bearer tenant-key"),
            ("host", "evil.com"),
            ("cookie", "a=b"),
            ("x-forwarded-for", "1.2.3.4"),
            ("accept", "application/hal+json"),
            ("content-type", "application/json"),
            ("x-context-user-id", "123"),
        ] {
            req.headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let forwarded = req.forwarded_headers();
        let mut names: Vec<&str> = forwarded.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "content-type", "x-context-user-id"]);
    }

    #[test]
    fn header_allow_lists_are_valid_lowercase_names() {
        for name in FORWARDED_REQUEST_HEADERS
            .iter()
            .chain(FORWARDED_RESPONSE_HEADERS)
        {
            let parsed = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
            assert_eq!(parsed.as_str(), *name);
        }
    }

    fn answer(status: u16, content_type: &'static str, body: &'static [u8]) -> ForwardResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static(content_type),
        );
        ForwardResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers,
            body: Box::pin(stream::iter(vec![Ok(Bytes::from_static(body))])),
        }
    }

    #[tokio::test]
    async fn refusals_are_classified_and_still_relayable() {
        let body = br#"{"title":"Too Many Requests","status":429,"retry_after":300}"#;
        let (relayed, meaning) = answer(429, "application/problem+json", body)
            .classify_refusal()
            .await;
        assert!(matches!(
            meaning,
            Some(AmoError::RateLimited { retry_after: Some(wait) }) if wait.as_secs() == 300
        ));
        assert_eq!(relayed.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            relayed.collect().await.expect("body"),
            Bytes::from_static(body)
        );

        let (_, meaning) = answer(403, "text/html", b"<html>403 Forbidden</html>")
            .classify_refusal()
            .await;
        assert!(matches!(meaning, Some(AmoError::Forbidden { html: true })));
        let (_, meaning) = answer(403, "application/problem+json", br#"{"status":403}"#)
            .classify_refusal()
            .await;
        assert!(matches!(meaning, Some(AmoError::Forbidden { html: false })));
        let (ok, meaning) = answer(200, "application/hal+json", b"{}")
            .classify_refusal()
            .await;
        assert!(meaning.is_none());
        assert_eq!(ok.collect().await.expect("body"), Bytes::from_static(b"{}"));
    }

    #[tokio::test]
    async fn collect_concatenates_and_stops_at_the_first_error() {
        let chunks = vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"cd"))];
        let ok = ForwardResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Box::pin(stream::iter(chunks)),
        };
        assert_eq!(
            ok.collect().await.expect("body"),
            Bytes::from_static(b"abcd")
        );
        let failing = ForwardResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Box::pin(stream::iter(vec![
                Ok(Bytes::from_static(b"ab")),
                Err(AmoError::ResponseTooLarge),
            ])),
        };
        assert!(matches!(
            failing.collect().await,
            Err(AmoError::ResponseTooLarge)
        ));
    }
}
