//! Endpoint secrets and Standard Webhooks signatures (docs/security-requirements.md R42, R45).
//!
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, where the key is
//! the base64-decoded part of the `whsec_…` secret. During a rotation's overlap the header carries
//! one space-separated signature per secret, so a receiver holding either one verifies.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use sha2::Sha256;

use crate::ValidationError;

/// How a secret is shown to the tenant: `whsec_<base64 key>`.
pub const SECRET_PREFIX: &str = "whsec_";
/// The key length of new secrets.
const NEW_SECRET_BYTES: usize = 32;
/// The key lengths accepted when parsing (R42: 24–64 bytes).
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// The HMAC key of one endpoint. Never printed; only [`EndpointSecret::to_text`] reveals it, for
/// sealing and for showing it once.
pub struct EndpointSecret(SecretBox<Vec<u8>>);

impl fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointSecret(..)")
    }
}

impl EndpointSecret {
    /// A new random secret (32 bytes from the OS).
    #[must_use]
    pub fn generate() -> Self {
        let mut key = vec![0u8; NEW_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(SecretBox::new(Box::new(key)))
    }

    /// Parses `whsec_<base64>`.
    ///
    /// # Errors
    /// When the prefix is missing, the rest is not base64, or the key is not 24–64 bytes.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("secret", "webhook-secret-malformed");
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or_else(invalid)?;
        let key = STANDARD.decode(encoded).map_err(|_| invalid())?;
        if !SECRET_BYTES.contains(&key.len()) {
            return Err(invalid());
        }
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// The `whsec_…` text.
    #[must_use]
    pub fn to_text(&self) -> SecretString {
        SecretString::from(format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(self.0.expose_secret())
        ))
    }

    fn key(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

/// One `v1,<base64 signature>` of `"{id}.{timestamp}.{body}"`.
#[must_use]
pub fn sign(secret: &EndpointSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.key()) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
#[must_use]
pub fn signature_header(
    secrets: &[&EndpointSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published Standard Webhooks test vector.
    #[test]
    fn known_answer_from_the_standard_webhooks_reference() {
        let secret =
            EndpointSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("valid");
        let signature = sign(
            &secret,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn any_change_to_id_timestamp_or_body_changes_the_signature() {
        let secret =
            EndpointSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("valid");
        let base = sign(&secret, "msg_1", 1, b"{}");
        assert_ne!(base, sign(&secret, "msg_2", 1, b"{}"));
        assert_ne!(base, sign(&secret, "msg_1", 2, b"{}"));
        assert_ne!(base, sign(&secret, "msg_1", 1, b"{ }"));
        assert_ne!(base, sign(&EndpointSecret::generate(), "msg_1", 1, b"{}"));
    }

    #[test]
    fn rotation_header_carries_one_signature_per_secret() {
        let old = EndpointSecret::generate();
        let new = EndpointSecret::generate();
        let header = signature_header(&[&new, &old], "msg_1", 7, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            vec![sign(&new, "msg_1", 7, b"{}"), sign(&old, "msg_1", 7, b"{}")]
        );
    }

    #[test]
    fn secrets_round_trip_through_text_and_hide_in_debug() {
        let secret = EndpointSecret::generate();
        let text = secret.to_text();
        assert!(text.expose_secret().starts_with("whsec_"));
        let again = EndpointSecret::parse(text.expose_secret()).expect("parses");
        assert_eq!(again.key(), secret.key());
        assert_eq!(secret.key().len(), 32);
        assert!(!format!("{secret:?}").contains(&text.expose_secret()[6..]));
    }

    #[test]
    fn malformed_or_weak_secrets_are_refused() {
        for bad in [
            "",
            "whsec_",
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "whsec_!!!",
            "whsec_AAAA",
            &format!("whsec_{}", STANDARD.encode([1u8; 65])),
        ] {
            assert!(EndpointSecret::parse(bad).is_err(), "{bad}");
        }
    }
}
