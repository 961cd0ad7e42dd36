//! Reading the claims of amoCRM's access-token JWT (docs/amocrm-protocol.md §5.3).
//!
//! The token is RS256-signed with a key integrators do not have, so it is decoded **without
//! verification**. The claims are therefore only hints for cross-checking what we already know (the
//! account id, its base domain, the `api_domain` for subdomain lookups) — never a basis for trust.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// Longest JWT we bother decoding; real amoCRM tokens are around 1 KiB.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Unverified claims of an amoCRM access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The amoCRM account id: the stable identity of a connection.
    pub account_id: i64,
    /// The account's base domain, e.g. `amocrm.ru`.
    pub base_domain: String,
    /// The shared API host, e.g. `api-b.amocrm.ru` (only in tokens issued since 2024-08-21).
    pub api_domain: Option<String>,
    /// The audience: the integration's client id.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch (on amoCRM's clock).
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch (on amoCRM's clock), when present.
    pub iat: Option<i64>,
    /// The user the token acts for (amoCRM sends the id as a string).
    pub sub: String,
}

/// Decodes the payload of `token` without checking its signature; `None` if it is not a JWT with the
/// claims above.
pub(crate) fn decode_unverified(token: &str) -> Option<AccessClaims> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let raw: RawClaims = serde_json::from_slice(&json).ok()?;
    Some(AccessClaims {
        account_id: raw.account_id,
        base_domain: raw.base_domain,
        api_domain: raw.api_domain.filter(|domain| !domain.is_empty()),
        aud: raw.aud.into_first()?,
        exp: raw.exp,
        iat: raw.iat,
        sub: raw.sub.into_text(),
    })
}

#[derive(Deserialize)]
struct RawClaims {
    account_id: i64,
    base_domain: String,
    #[serde(default)]
    api_domain: Option<String>,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    sub: StringOrInt,
}

/// RFC 7519 allows `aud` to be a string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn into_first(self) -> Option<String> {
        match self {
            Self::One(aud) => Some(aud),
            Self::Many(auds) => auds.into_iter().next(),
        }
    }
}

/// amoCRM sends `sub` as a string; other issuers use a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrInt {
    Text(String),
    Int(i64),
}

impl StringOrInt {
    fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Int(number) => number.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn jwt(claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"RS256","jti":"ab"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    fn amocrm_claims() -> Value {
        json!({
            "aud": "5b1f0b5e-0c6e-4a4b-9b7e-1b6f0d7a3c21", "jti": "ab", "iat": 1_700_000_000,
            "nbf": 1_700_000_000, "exp": 1_700_086_400, "sub": "8123456", "grant_type": "",
            "account_id": 29_000_001, "base_domain": "amocrm.ru", "version": 2,
            "scopes": ["crm", "notifications"], "api_domain": "api-b.amocrm.ru"
        })
    }

    #[test]
    fn decodes_amocrm_claims() {
        let claims = decode_unverified(&jwt(&amocrm_claims())).expect("claims");
        assert_eq!(
            claims,
            AccessClaims {
                account_id: 29_000_001,
                base_domain: "amocrm.ru".into(),
                api_domain: Some("api-b.amocrm.ru".into()),
                aud: "5b1f0b5e-0c6e-4a4b-9b7e-1b6f0d7a3c21".into(),
                exp: 1_700_086_400,
                iat: Some(1_700_000_000),
                sub: "8123456".into(),
            }
        );
    }

    #[test]
    fn tolerates_variants() {
        let mut claims = amocrm_claims();
        claims["sub"] = json!(42);
        claims["aud"] = json!(["client-1", "other"]);
        claims.as_object_mut().expect("object").remove("api_domain");
        let decoded = decode_unverified(&jwt(&claims)).expect("claims");
        assert_eq!(decoded.sub, "42");
        assert_eq!(decoded.aud, "client-1");
        assert_eq!(decoded.api_domain, None);

        let padded = format!(
            "{}==",
            jwt(&amocrm_claims()).rsplit_once('.').expect("dot").0
        );
        assert!(
            decode_unverified(&format!("{padded}.sig")).is_some(),
            "tolerates base64 padding"
        );
    }

    #[test]
    fn rejects_non_jwts() {
        let mut missing_account = amocrm_claims();
        missing_account
            .as_object_mut()
            .expect("object")
            .remove("account_id");
        let cases = [
            String::new(),
            "def50200abcdef".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.!!!.c".into(),
            format!("h.{}.s", URL_SAFE_NO_PAD.encode("not json")),
            jwt(&missing_account),
            jwt(
                &json!({"account_id": "29000001", "base_domain": "amocrm.ru", "aud": "x", "exp": 1, "sub": "1"}),
            ),
            jwt(&json!([1, 2, 3])),
            format!("h.{}.s", "A".repeat(MAX_TOKEN_LEN)),
        ];
        for token in cases {
            assert!(decode_unverified(&token).is_none(), "{token:.40}");
        }
    }
}
