//! Turning a non-success response into an [`AmoError`] (docs/amocrm-protocol.md §3.4, §6, §7; docs/security-requirements.md R39).
//!
//! amoCRM answers errors with `application/problem+json` (`{hint?, title, type, status, detail}`), but
//! blocked accounts get nginx HTML and some 429s are not JSON at all, so the body is only ever a hint:
//! the status decides the family, the body refines it, and an unreadable body is never an error itself.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::{Map, Value};

use crate::errors::{AmoError, clean_hint};
use crate::seconds;

/// Upper bound for any server-requested wait; a larger value is a bug or an attack, not advice.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Title of amoCRM's "wrong client_id/client_secret" problem.
const INVALID_CLIENT_TITLE: &str = "Некорректный клиент";
/// Detail of the same problem.
const INVALID_CLIENT_DETAIL: &str = "Авторизация клиента не прошла";

/// Which kind of endpoint answered: the status codes mean different things on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// The OAuth endpoints (`/oauth2/...`): 400/401 are about the grant or the client.
    OAuth,
    /// `/api/v4/...`: 401 means the access token was refused.
    Api,
}

/// Classifies a non-2xx response from `status`, its headers and (a capped prefix of) its body.
pub(crate) fn classify(
    endpoint: Endpoint,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> AmoError {
    let problem = parse_problem(body);
    match status.as_u16() {
        300..=399 => AmoError::RedirectRefused {
            status: status.as_u16(),
        },
        400 | 401 if endpoint == Endpoint::OAuth => classify_oauth_refusal(status, &problem),
        400 => AmoError::BadRequest,
        401 => AmoError::Unauthorized,
        402 => AmoError::PaymentRequired,
        403 => AmoError::Forbidden {
            html: is_html(headers, body),
        },
        404 => AmoError::NotFound,
        429 => AmoError::RateLimited {
            retry_after: problem
                .get("retry_after")
                .and_then(seconds::from_json)
                .or_else(|| retry_after_header(headers))
                .map(|secs| seconds::clamp(secs, Duration::ZERO, MAX_RETRY_AFTER)),
        },
        500..=599 => AmoError::Server {
            status: status.as_u16(),
        },
        other => AmoError::UnexpectedStatus { status: other },
    }
}

/// 400/401 from an OAuth endpoint, refined by amoCRM's `hint`/`title`/`detail` (`docs/amocrm-protocol.md` §3.4).
fn classify_oauth_refusal(status: StatusCode, problem: &Map<String, Value>) -> AmoError {
    let text = |key: &str| problem.get(key).and_then(Value::as_str);
    let hint = text("hint").map(clean_hint).filter(|hint| !hint.is_empty());
    let lower_hint = hint.as_deref().map(str::to_lowercase).unwrap_or_default();
    if lower_hint.contains("token has been revoked") {
        return AmoError::RefreshTokenRevoked;
    }
    if lower_hint.contains("not linked to client") {
        return AmoError::NotLinkedToClient;
    }
    if text("title") == Some(INVALID_CLIENT_TITLE)
        || text("detail") == Some(INVALID_CLIENT_DETAIL)
        || text("error") == Some("invalid_client")
    {
        return AmoError::InvalidClient;
    }
    match hint {
        Some(hint) if lower_hint.contains("authorization code") => AmoError::CodeRejected { hint },
        Some(hint) => AmoError::InvalidGrant { hint: Some(hint) },
        None if status == StatusCode::UNAUTHORIZED || text("error") == Some("invalid_grant") => {
            AmoError::InvalidGrant { hint: None }
        }
        None => AmoError::BadRequest,
    }
}

/// The problem+json object, or an empty map for HTML, plain text, arrays or garbage.
fn parse_problem(body: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn is_html(headers: &HeaderMap, body: &[u8]) -> bool {
    let declared = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().starts_with("text/html"));
    declared || body.trim_ascii_start().starts_with(b"<")
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after_header(headers: &HeaderMap) -> Option<f64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds as f64);
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.signed_duration_since(chrono::Utc::now());
    Some(wait.num_milliseconds() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use serde_json::json;

    use super::*;

    fn oauth(status: u16, body: &Value) -> AmoError {
        let status = StatusCode::from_u16(status).expect("valid status");
        classify(
            Endpoint::OAuth,
            status,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        )
    }

    fn problem(status: u16, hint: Option<&str>, title: &str, detail: &str) -> Value {
        let mut body = json!({
            "title": title,
            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": status,
            "detail": detail,
        });
        if let Some(hint) = hint {
            body["hint"] = json!(hint);
        }
        body
    }

    const BAD_REQUEST_TITLE: &str = "Некорректный запрос";
    const BAD_REQUEST_DETAIL: &str = "В запросе отсутствует ряд параметров или параметры невалидны";

    #[test]
    fn token_endpoint_error_table() {
        let revoked = problem(
            401,
            Some("Token has been revoked"),
            BAD_REQUEST_TITLE,
            BAD_REQUEST_DETAIL,
        );
        assert!(matches!(
            oauth(401, &revoked),
            AmoError::RefreshTokenRevoked
        ));

        let foreign = problem(
            401,
            Some("Token is not linked to client"),
            BAD_REQUEST_TITLE,
            BAD_REQUEST_DETAIL,
        );
        assert!(matches!(oauth(401, &foreign), AmoError::NotLinkedToClient));

        let client = problem(401, None, INVALID_CLIENT_TITLE, INVALID_CLIENT_DETAIL);
        assert!(matches!(oauth(401, &client), AmoError::InvalidClient));

        for hint in [
            "Authorization code has expired",
            "Authorization code has been revoked",
            "Authorization code was not issued to this client",
            "Cannot decrypt the authorization code",
        ] {
            let body = problem(400, Some(hint), BAD_REQUEST_TITLE, BAD_REQUEST_DETAIL);
            match oauth(400, &body) {
                AmoError::CodeRejected { hint: got } => assert_eq!(got, hint),
                other => panic!("{hint}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_oauth_refusals() {
        let unknown_hint = problem(
            400,
            Some("Check the `grant_type` parameter"),
            BAD_REQUEST_TITLE,
            "",
        );
        assert!(matches!(
            oauth(400, &unknown_hint),
            AmoError::InvalidGrant { hint: Some(_) }
        ));
        assert!(matches!(
            oauth(401, &json!({})),
            AmoError::InvalidGrant { hint: None }
        ));
        assert!(matches!(
            oauth(400, &json!({"error": "invalid_grant"})),
            AmoError::InvalidGrant { .. }
        ));
        assert!(matches!(
            oauth(400, &json!({"title": "Bad"})),
            AmoError::BadRequest
        ));
        assert!(matches!(oauth(404, &json!({})), AmoError::NotFound));
    }

    #[test]
    fn api_statuses() {
        let cases: &[(u16, &str)] = &[
            (301, "redirect_refused"),
            (302, "redirect_refused"),
            (307, "redirect_refused"),
            (400, "bad_request"),
            (401, "unauthorized"),
            (402, "payment_required"),
            (403, "forbidden"),
            (404, "not_found"),
            (418, "unexpected_status"),
            (429, "rate_limited"),
            (500, "server_error"),
            (504, "server_error"),
        ];
        for (status, kind) in cases {
            let status = StatusCode::from_u16(*status).expect("valid status");
            assert_eq!(
                classify(Endpoint::Api, status, &HeaderMap::new(), b"").kind(),
                *kind,
                "{status}"
            );
        }
    }

    fn rate_limited(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
        classify(Endpoint::Api, StatusCode::TOO_MANY_REQUESTS, headers, body).retry_after()
    }

    #[test]
    fn retry_after_from_body_or_header() {
        let kommo = br#"{"title":"Too Many Requests","type":"https://httpstatus.es/429","status":429,"detail":"You have sent too many requests","retry_after":300}"#;
        assert_eq!(
            rate_limited(&HeaderMap::new(), kommo),
            Some(Duration::from_secs(300))
        );

        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            rate_limited(&headers, b"<html>slow down</html>"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limited(&headers, kommo),
            Some(Duration::from_secs(300)),
            "body wins"
        );

        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            rate_limited(&headers, b""),
            Some(Duration::ZERO),
            "past date"
        );

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(rate_limited(&headers, b"not json"), None);
        assert_eq!(
            rate_limited(&HeaderMap::new(), br#"{"retry_after":-4}"#),
            Some(Duration::ZERO)
        );
        assert_eq!(
            rate_limited(&HeaderMap::new(), br#"{"retry_after":1e300}"#),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn forbidden_detects_html() {
        let forbidden = |headers: &HeaderMap, body: &[u8]| {
            classify(Endpoint::Api, StatusCode::FORBIDDEN, headers, body)
        };
        let mut html = HeaderMap::new();
        html.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        assert!(matches!(
            forbidden(&html, b""),
            AmoError::Forbidden { html: true }
        ));
        assert!(matches!(
            forbidden(
                &HeaderMap::new(),
                b"\n<html><body>403 Forbidden</body></html>"
            ),
            AmoError::Forbidden { html: true }
        ));
        assert!(matches!(
            forbidden(&HeaderMap::new(), br#"{"title":"Forbidden","status":403}"#),
            AmoError::Forbidden { html: false }
        ));
    }

    #[test]
    fn hostile_hints_are_cleaned_and_bodies_never_displayed() {
        let body = json!({"hint": format!("Authorization code has expired\r\n{}", "x".repeat(5000)), "detail": "canary-detail"});
        let err = oauth(400, &body);
        let shown = err.to_string();
        assert!(matches!(err, AmoError::CodeRejected { .. }));
        assert!(!shown.contains('\n') && !shown.contains('\r'));
        assert!(shown.len() < 400, "{} bytes", shown.len());
        assert!(!shown.contains("canary") && !format!("{err:?}").contains("canary"));
    }
}
