//! Unguessable one-time values (OAuth `state`, the browser binding cookie) and their hashes.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// 256 random bits, base64url. Only [`hash_token`] of it is ever stored.
#[derive(Debug, Clone)]
pub struct OneTimeToken(SecretString);

impl OneTimeToken {
    #[must_use]
    pub fn mint() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    #[must_use]
    pub fn hash(&self) -> String {
        hash_token(self.expose())
    }
}

/// SHA-256 hex of a token, for storage and lookup.
#[must_use]
pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_as_hashes() {
        let a = OneTimeToken::mint();
        let b = OneTimeToken::mint();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43, "256 bits in base64url");
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
