//! The token endpoint: request body and response parsing (amocrm.md §3.1–3.3, security.md §3.6 item 4).
//!
//! Parsing is deliberately lenient about everything except the access token itself. Once amoCRM has
//! answered 200 it has already rotated the refresh token, so refusing the response over a malformed
//! `expires_in` would throw away the only valid refresh token and kill the connection.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::AmoError;
use crate::jwt::{self, AccessClaims};
use crate::seconds;

/// Shortest lifetime we report: a smaller or negative `expires_in` would make callers refresh in a loop.
const MIN_EXPIRES_IN: Duration = Duration::from_secs(60);
/// Longest lifetime we report: amoCRM access tokens live 24 h; more than a week is not credible.
const MAX_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Assumed when `expires_in` is missing or unreadable: amoCRM's documented access-token lifetime. A
/// wrong guess self-corrects (the API answers 401 and the caller refreshes), while assuming the minimum
/// would make every caller refresh again at once.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(24 * 60 * 60);

/// The OAuth client credentials of one connection (each external-button install has its own).
#[derive(Debug, Clone, Copy)]
pub struct OAuthApp<'a> {
    /// The integration id amoCRM created for this install.
    pub client_id: &'a str,
    /// The integration secret.
    pub client_secret: &'a SecretString,
    /// Must equal the integration's Redirect URI exactly.
    pub redirect_uri: &'a str,
}

/// A successful answer of the token endpoint.
///
/// `Debug` shows the tokens as `[REDACTED]`.
#[derive(Debug)]
pub struct TokenGrant {
    /// The new access token (a JWT).
    pub access_token: SecretString,
    /// The rotated refresh token; `None` if the response had none, in which case the caller keeps the
    /// one it has (RFC 6749 §6).
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token, clamped to [60 s, 7 d].
    pub expires_in: Duration,
    /// The access token's claims, decoded without verification (see [`AccessClaims`]).
    pub claims: Option<AccessClaims>,
    /// amoCRM's clock at issue time, seconds since the Unix epoch (Kommo sends it).
    pub server_time: Option<i64>,
}

/// Body of `POST /oauth2/access_token`. Secrets travel only here, never in a URL (security.md R20).
#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    #[serde(flatten)]
    grant: Grant<'a>,
    redirect_uri: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
enum Grant<'a> {
    AuthorizationCode { code: &'a str },
    RefreshToken { refresh_token: &'a str },
}

impl<'a> TokenRequest<'a> {
    /// Exchange of an authorization code.
    pub(crate) fn authorization_code(app: &OAuthApp<'a>, code: &'a SecretString) -> Self {
        Self::new(
            app,
            Grant::AuthorizationCode {
                code: code.expose_secret(),
            },
        )
    }

    /// Refresh with a refresh token.
    pub(crate) fn refresh(app: &OAuthApp<'a>, refresh_token: &'a SecretString) -> Self {
        Self::new(
            app,
            Grant::RefreshToken {
                refresh_token: refresh_token.expose_secret(),
            },
        )
    }

    fn new(app: &OAuthApp<'a>, grant: Grant<'a>) -> Self {
        Self {
            client_id: app.client_id,
            client_secret: app.client_secret.expose_secret(),
            grant,
            redirect_uri: app.redirect_uri,
        }
    }
}

#[derive(Deserialize)]
struct RawGrant {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    server_time: Option<Value>,
}

/// Parses a 2xx token response.
///
/// # Errors
/// [`AmoError::InvalidResponse`] if the body is not a JSON object with a non-empty string
/// `access_token` (and, if present, a string `refresh_token`).
pub(crate) fn parse_grant(body: &[u8]) -> Result<TokenGrant, AmoError> {
    // Serde's message could quote the tokens, so it is dropped on purpose.
    let raw: RawGrant = serde_json::from_slice(body).map_err(|_| AmoError::InvalidResponse)?;
    if raw.access_token.is_empty() {
        return Err(AmoError::InvalidResponse);
    }
    let expires_in = raw
        .expires_in
        .as_ref()
        .and_then(seconds::from_json)
        .map_or(DEFAULT_EXPIRES_IN, |secs| {
            seconds::clamp(secs, MIN_EXPIRES_IN, MAX_EXPIRES_IN)
        });
    Ok(TokenGrant {
        claims: jwt::decode_unverified(&raw.access_token),
        access_token: SecretString::from(raw.access_token),
        refresh_token: raw
            .refresh_token
            .filter(|token| !token.is_empty())
            .map(SecretString::from),
        expires_in,
        server_time: raw.server_time.as_ref().and_then(Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grant(body: &Value) -> Result<TokenGrant, AmoError> {
        parse_grant(body.to_string().as_bytes())
    }

    #[test]
    fn request_bodies_have_the_documented_shape() {
        let secret = SecretString::from("s3cret");
        let app = OAuthApp {
            client_id: "cid",
            client_secret: &secret,
            redirect_uri: "https://amolink.example/amocrm/callback",
        };
        let code = SecretString::from("def502-code");
        let body =
            serde_json::to_value(TokenRequest::authorization_code(&app, &code)).expect("json");
        assert_eq!(
            body,
            json!({"client_id": "cid", "client_secret": "s3cret", "grant_type": "authorization_code",
                   "code": "def502-code", "redirect_uri": "https://amolink.example/amocrm/callback"})
        );
        let rt = SecretString::from("def502-rt");
        let body = serde_json::to_value(TokenRequest::refresh(&app, &rt)).expect("json");
        assert_eq!(
            body,
            json!({"client_id": "cid", "client_secret": "s3cret", "grant_type": "refresh_token",
                   "refresh_token": "def502-rt", "redirect_uri": "https://amolink.example/amocrm/callback"})
        );
    }

    #[test]
    fn parses_a_typical_response_and_ignores_extra_fields() {
        let parsed = grant(&json!({
            "token_type": "Bearer", "expires_in": 86400, "access_token": "not-a-jwt",
            "refresh_token": "def50200", "server_time": 1_700_000_000, "surprise": {"nested": true}
        }))
        .expect("valid");
        assert_eq!(parsed.access_token.expose_secret(), "not-a-jwt");
        assert_eq!(
            parsed
                .refresh_token
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some("def50200")
        );
        assert_eq!(parsed.expires_in, Duration::from_secs(86_400));
        assert_eq!(parsed.server_time, Some(1_700_000_000));
        assert!(parsed.claims.is_none());
    }

    #[test]
    fn expires_in_edge_cases_never_panic() {
        let cases = [
            (json!(-5), MIN_EXPIRES_IN),
            (json!(0), MIN_EXPIRES_IN),
            (json!(1e12), MAX_EXPIRES_IN),
            (json!(u64::MAX), MAX_EXPIRES_IN),
            (json!(i64::MIN), MIN_EXPIRES_IN),
            (json!("86400"), Duration::from_secs(86_400)),
            (json!(86400.5), Duration::from_secs(86_400)),
            (json!("tomorrow"), DEFAULT_EXPIRES_IN),
            (json!(null), DEFAULT_EXPIRES_IN),
            (json!({"s": 1}), DEFAULT_EXPIRES_IN),
        ];
        for (expires_in, expected) in cases {
            let parsed =
                grant(&json!({"access_token": "at", "expires_in": expires_in})).expect("valid");
            assert_eq!(parsed.expires_in, expected, "{expires_in}");
        }
        let missing = grant(&json!({"access_token": "at"})).expect("valid");
        assert_eq!(missing.expires_in, DEFAULT_EXPIRES_IN);
    }

    #[test]
    fn missing_or_empty_refresh_token_is_none() {
        for body in [
            json!({"access_token": "at"}),
            json!({"access_token": "at", "refresh_token": null}),
            json!({"access_token": "at", "refresh_token": ""}),
        ] {
            assert!(
                grant(&body).expect("valid").refresh_token.is_none(),
                "{body}"
            );
        }
    }

    #[test]
    fn unusable_bodies_are_invalid_responses_without_echoing_them() {
        let cases = [
            b"".to_vec(),
            b"<html>oops</html>".to_vec(),
            b"[]".to_vec(),
            br#"{"refresh_token":"canary-rt"}"#.to_vec(),
            br#"{"access_token":""}"#.to_vec(),
            br#"{"access_token":12345}"#.to_vec(),
            br#"{"access_token":"canary-at","refresh_token":42}"#.to_vec(),
        ];
        for body in cases {
            let err = parse_grant(&body).expect_err("must fail");
            assert!(matches!(err, AmoError::InvalidResponse));
            assert!(!format!("{err} {err:?}").contains("canary"));
        }
    }

    #[test]
    fn debug_redacts_tokens() {
        let parsed = grant(&json!({"access_token": "canary-at", "refresh_token": "canary-rt"}))
            .expect("valid");
        assert!(!format!("{parsed:?}").contains("canary"));
        let secret = SecretString::from("canary-secret");
        let app = OAuthApp {
            client_id: "cid",
            client_secret: &secret,
            redirect_uri: "https://x/",
        };
        assert!(!format!("{app:?}").contains("canary"));
    }
}
