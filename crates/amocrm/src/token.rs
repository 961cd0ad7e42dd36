//! The token endpoint: request body and response parsing (docs/amocrm-protocol.md §3.1–3.3, docs/security-requirements.md, bad inputs item 4).
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

/// The longest lifetime taken at its word: amoCRM access tokens live 24 h, so a stated week or more
/// is a unit mistake or a broken server, not a grant.
const MAX_CREDIBLE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Where a grant's [`TokenGrant::expires_in`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeSource {
    /// The response's `expires_in`, as stated.
    ExpiresIn,
    /// `expires_in` was missing or absurd (≤ 0, over a week, not a number); the access token's
    /// own claims (`exp − iat`, a duration, so clock skew does not matter) said it instead.
    TokenClaims,
    /// Nothing credible was said: the token is treated as already expired, so it is never
    /// used or handed out (amolink never claims validity amoCRM did not grant).
    Unknown,
}

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
    /// How long the access token is valid, as amoCRM said it (see [`LifetimeSource`]); zero
    /// when it said nothing credible. Counted from the moment the request was *sent*, which is
    /// before amoCRM issued the token, so an expiry computed that way is never later than
    /// amoCRM's, whatever either clock says.
    pub expires_in: Duration,
    /// What `expires_in` is based on.
    pub expires_in_source: LifetimeSource,
    /// The access token's claims, decoded without verification (see [`AccessClaims`]).
    pub claims: Option<AccessClaims>,
    /// amoCRM's clock at issue time, seconds since the Unix epoch (Kommo sends it).
    pub server_time: Option<i64>,
}

/// Body of `POST /oauth2/access_token`. Secrets travel only here, never in a URL (docs/security-requirements.md R20).
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
    let claims = jwt::decode_unverified(&raw.access_token);
    let (expires_in, expires_in_source) = lifetime(raw.expires_in.as_ref(), claims.as_ref());
    Ok(TokenGrant {
        claims,
        access_token: SecretString::from(raw.access_token),
        refresh_token: raw
            .refresh_token
            .filter(|token| !token.is_empty())
            .map(SecretString::from),
        expires_in,
        expires_in_source,
        server_time: raw.server_time.as_ref().and_then(Value::as_i64),
    })
}

/// The rule for a token's lifetime: `expires_in` when it is a credible number of seconds
/// (more than zero, at most a week); otherwise the token's own `exp − iat` under the same test;
/// otherwise zero. It never stretches, floors or invents a number: a value amoCRM did not say is
/// never stored, and loops that a tiny lifetime could cause are prevented by the keeper's rules
/// (a refresh interval and per-call token reuse), not by a padded number here.
fn lifetime(
    expires_in: Option<&Value>,
    claims: Option<&AccessClaims>,
) -> (Duration, LifetimeSource) {
    let credible = |secs: f64| {
        (secs >= 1.0 && secs <= MAX_CREDIBLE_LIFETIME.as_secs_f64())
            .then(|| seconds::clamp(secs, Duration::ZERO, MAX_CREDIBLE_LIFETIME))
    };
    if let Some(stated) = expires_in.and_then(seconds::from_json).and_then(credible) {
        return (stated, LifetimeSource::ExpiresIn);
    }
    let from_claims = claims
        .and_then(|c| c.exp.checked_sub(c.iat?))
        .and_then(|secs| credible(secs as f64));
    match from_claims {
        Some(life) => (life, LifetimeSource::TokenClaims),
        None => (Duration::ZERO, LifetimeSource::Unknown),
    }
}

#[cfg(test)]
mod props;

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
    fn expires_in_is_taken_as_stated_when_credible() {
        let cases = [
            (json!(86400), 86_400),
            (json!(20), 20),
            (json!(1), 1),
            (json!("86400"), 86_400),
            (json!(86400.5), 86_400),
            (json!(7 * 24 * 3600), 7 * 24 * 3600),
        ];
        for (expires_in, expected) in cases {
            let parsed =
                grant(&json!({"access_token": "at", "expires_in": expires_in})).expect("valid");
            assert_eq!(
                parsed.expires_in,
                Duration::from_secs(expected),
                "{expires_in}"
            );
            assert_eq!(parsed.expires_in_source, LifetimeSource::ExpiresIn);
        }
    }

    /// An opaque token says nothing about itself: absurd values leave no validity at all.
    #[test]
    fn absurd_expires_in_without_claims_grants_nothing() {
        let cases = [
            json!(-5),
            json!(0),
            json!(0.5),
            json!(1e12),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(7 * 24 * 3600 + 1),
            json!("tomorrow"),
            json!(null),
            json!({"s": 1}),
        ];
        for expires_in in cases {
            let parsed =
                grant(&json!({"access_token": "at", "expires_in": expires_in})).expect("valid");
            assert_eq!(parsed.expires_in, Duration::ZERO, "{expires_in}");
            assert_eq!(parsed.expires_in_source, LifetimeSource::Unknown);
        }
        let missing = grant(&json!({"access_token": "at"})).expect("valid");
        assert_eq!(missing.expires_in, Duration::ZERO);
    }

    fn jwt(iat: i64, exp: i64) -> String {
        use base64::Engine as _;
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            encode(&json!({"alg": "RS256"})),
            encode(&json!({"aud": "cid", "iat": iat, "exp": exp, "sub": "1",
                           "account_id": 7, "base_domain": "amocrm.ru"}))
        )
    }

    /// The token's own claims are a statement by amoCRM too; their difference is a duration,
    /// so a skewed clock cannot stretch it.
    #[test]
    fn absurd_or_missing_expires_in_falls_back_to_the_tokens_own_lifetime() {
        let token = jwt(1_700_000_000, 1_700_000_020);
        for expires_in in [json!(0), json!(-1), json!("x"), json!(1e12)] {
            let parsed =
                grant(&json!({"access_token": token, "expires_in": expires_in})).expect("valid");
            assert_eq!(parsed.expires_in, Duration::from_secs(20), "{expires_in}");
            assert_eq!(parsed.expires_in_source, LifetimeSource::TokenClaims);
        }
        let missing = grant(&json!({"access_token": token})).expect("valid");
        assert_eq!(missing.expires_in, Duration::from_secs(20));
        // Claims as absurd as the field grant nothing either.
        for (iat, exp) in [(10, 10), (10, 5), (0, 30 * 24 * 3600), (i64::MIN, i64::MAX)] {
            let parsed =
                grant(&json!({"access_token": jwt(iat, exp), "expires_in": 0})).expect("valid");
            assert_eq!(parsed.expires_in, Duration::ZERO, "{iat}..{exp}");
        }
    }

    /// A credible `expires_in` wins over the claims, even when they disagree.
    #[test]
    fn a_credible_expires_in_wins_over_the_claims() {
        let parsed =
            grant(&json!({"access_token": jwt(0, 86_400), "expires_in": 20})).expect("valid");
        assert_eq!(parsed.expires_in, Duration::from_secs(20));
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
