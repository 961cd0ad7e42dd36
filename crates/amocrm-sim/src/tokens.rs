//! Token material: opaque codes and refresh tokens, integration secrets, and the access-token JWT.
//!
//! Real codes and refresh tokens are `def50200…` defuse ciphertexts; clients only ever compare and
//! store them, so random hex behind the same prefix is faithful. The access token is a JWT whose
//! header claims RS256 like the real one; it is actually HMAC-signed with a per-process key,
//! which no client can tell apart because nobody holds amoCRM's RSA public key anyway.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::hosts::Platform;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A fresh single-use authorization code.
pub fn new_code() -> String {
    format!("def50200{}", random_hex(96))
}

/// A fresh opaque refresh token.
pub fn new_refresh_token() -> String {
    format!("def50200{}", random_hex(160))
}

/// A fresh integration secret: 64 alphanumerics, like amoCRM's.
pub fn new_client_secret() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

/// Short public identifier of a secret token for the journal: first 8 hex of its SHA-256.
pub fn fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    hex::encode(&digest[..4])
}

/// What goes into an access token.
pub struct AccessClaims<'a> {
    pub client_id: &'a str,
    pub user_id: i64,
    pub account_id: i64,
    pub platform: Platform,
    pub grant_type: &'a str,
    pub scopes: &'a [String],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Signs access tokens; one key per simulator instance.
pub struct JwtSigner {
    key: [u8; 32],
}

impl JwtSigner {
    /// A signer with a fresh random key.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self { key }
    }

    /// Builds a JWT with the claim set seen in real amoCRM tokens; returns `(token, jti)`.
    pub fn issue(&self, claims: &AccessClaims<'_>) -> (String, String) {
        let jti = random_hex(20);
        let header = json!({ "typ": "JWT", "alg": "RS256", "jti": jti });
        let payload = json!({
            "aud": claims.client_id,
            "jti": jti,
            "iat": claims.issued_at.timestamp(),
            "nbf": claims.issued_at.timestamp(),
            "exp": claims.expires_at.timestamp(),
            "sub": claims.user_id.to_string(),
            "grant_type": claims.grant_type,
            "account_id": claims.account_id,
            "base_domain": claims.platform.domain(),
            "version": 2,
            "scopes": claims.scopes,
            "hash_uuid": uuid::Uuid::new_v4().to_string(),
            "api_domain": claims.platform.api_domain(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let signature = self.sign(signing_input.as_bytes());
        (
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)),
            jti,
        )
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        hmac_sha256(&self.key, message)
    }
}

/// The `aud` claim (the client id) of an access token, read without checking the signature:
/// how a request is attributed to an integration even when its token is expired or unknown.
pub fn audience(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let raw = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    claims.get("aud")?.as_str().map(str::to_owned)
}

/// HMAC-SHA256 of `message` under `key` (any key length is valid for HMAC).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_has_three_parts_and_documented_claims() {
        let now = Utc::now();
        let scopes = vec!["crm".to_owned()];
        let (token, jti) = JwtSigner::new().issue(&AccessClaims {
            client_id: "cid",
            user_id: 7,
            account_id: 31,
            platform: Platform::Amocrm,
            grant_type: "authorization_code",
            scopes: &scopes,
            issued_at: now,
            expires_at: now,
        });
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: serde_json::Value = URL_SAFE_NO_PAD
            .decode(parts[1])
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default();
        assert_eq!(payload["jti"], jti);
        assert_eq!(payload["sub"], "7");
        assert_eq!(payload["account_id"], 31);
        assert_eq!(payload["api_domain"], "api-b.amocrm.ru");
        assert_eq!(audience(&token).as_deref(), Some("cid"));
        assert_eq!(audience("not.a-jwt.at-all"), None);
    }

    #[test]
    fn fingerprint_is_eight_hex() {
        assert_eq!(fingerprint("x").len(), 8);
        assert!(
            new_client_secret()
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }
}
