//! The API key itself and its keyed lookup hash.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use sha2::Sha256;

use crate::crypto::Keyring;

/// Every key starts with this, so leaked keys are easy to recognise (secret scanners, logs).
pub const KEY_PREFIX: &str = "alk_";
/// 32 random bytes in unpadded base64url.
const BODY_LEN: usize = 43;
/// How many characters after `alk_` are kept for display; 48 of the 256 bits, so the rest still
/// leaves 208 bits unknown.
const DISPLAY_CHARS: usize = 8;
/// The subkey purpose; changing it invalidates every stored key.
const LOOKUP_PURPOSE: &str = "api-key-lookup/v1";

/// A full API key (`alk_` + 43 base64url characters). Redacted in `Debug`.
pub struct ApiKeySecret(SecretString);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([REDACTED])")
    }
}

impl ApiKeySecret {
    /// A fresh key from the operating system's CSPRNG.
    #[must_use]
    pub fn mint() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(format!(
            "{KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Accepts only text that [`ApiKeySecret::mint`] could have produced, so garbage never
    /// reaches the database.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(KEY_PREFIX)?;
        let shaped = body.len() == BODY_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self(SecretString::from(raw.to_owned())))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The part shown in listings, e.g. `alk_Xy3_9aBc`.
    #[must_use]
    pub fn display_prefix(&self) -> String {
        self.expose()
            .chars()
            .take(KEY_PREFIX.len() + DISPLAY_CHARS)
            .collect()
    }
}

/// A keyed hash of an API key, as stored, with the id of the master key it derives from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDigest {
    pub key_id: String,
    pub hex: String,
}

/// Computes lookup hashes: `HMAC-SHA256(subkey, api key)`, hex.
///
/// Why keyed and why HMAC rather than argon2: the key is 256 random bits, so no dictionary or
/// brute force applies and a slow KDF would only add latency to every API call. The HMAC key
/// (derived from the master key ring, never stored in the database) means a database dump alone
/// cannot even confirm a guessed key, and a database writer cannot plant a key of their own.
/// The subkey comes from the master key ring rather than the session key because the ring has
/// ids and rotation: while an old master key stays in the ring its keys keep working, and a
/// key hashed under it is re-hashed under the primary the next time it is used.
pub struct ApiKeyHasher {
    /// Primary first.
    keys: Vec<(String, SecretBox<[u8; 32]>)>,
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("ApiKeyHasher")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl ApiKeyHasher {
    #[must_use]
    pub fn new(keyring: &Keyring) -> Self {
        Self {
            keys: keyring.subkeys(LOOKUP_PURPOSE),
        }
    }

    fn digest(key: &SecretBox<[u8; 32]>, secret: &ApiKeySecret) -> String {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose_secret()) else {
            return String::new();
        };
        mac.update(secret.expose().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The hash to store, under the primary key.
    #[must_use]
    pub fn primary(&self, secret: &ApiKeySecret) -> KeyDigest {
        self.keys
            .first()
            .map(|(id, key)| KeyDigest {
                key_id: id.clone(),
                hex: Self::digest(key, secret),
            })
            .unwrap_or_else(|| KeyDigest {
                key_id: String::new(),
                hex: String::new(),
            })
    }

    /// The hash under every key in the ring (primary first): what a lookup must try.
    #[must_use]
    pub fn candidates(&self, secret: &ApiKeySecret) -> Vec<KeyDigest> {
        self.keys
            .iter()
            .map(|(id, key)| KeyDigest {
                key_id: id.clone(),
                hex: Self::digest(key, secret),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(&SecretString::from(spec.to_owned())).expect("key ring")
    }

    #[test]
    fn keys_are_random_well_formed_and_redacted() {
        let a = ApiKeySecret::mint();
        let b = ApiKeySecret::mint();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("alk_") && a.expose().len() == 47);
        assert!(ApiKeySecret::parse(a.expose()).is_some());
        assert_eq!(a.display_prefix().len(), 12);
        assert!(!format!("{a:?}").contains(a.expose()));
        for bad in [
            "",
            "alk_",
            "alk_short",
            "sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "alk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
            "alk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lookup_hashes_are_keyed_and_survive_rotation() {
        let old_entry = Keyring::generate_entry("k1");
        let old = ApiKeyHasher::new(&ring(&old_entry));
        let secret = ApiKeySecret::mint();
        let stored = old.primary(&secret);
        assert_eq!(stored.key_id, "k1");
        assert_eq!(stored.hex.len(), 64);
        assert!(!stored.hex.contains(secret.expose()));
        let other = ApiKeyHasher::new(&ring(&Keyring::generate_entry("k1")));
        assert_ne!(other.primary(&secret).hex, stored.hex, "keyed by the ring");

        let rotated = ApiKeyHasher::new(&ring(&format!(
            "{},{old_entry}",
            Keyring::generate_entry("k2")
        )));
        let candidates = rotated.candidates(&secret);
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[0].key_id, "k2");
        assert_eq!(candidates[1], stored, "the old hash is still found");
    }
}
