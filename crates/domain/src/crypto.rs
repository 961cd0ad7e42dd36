//! Encryption at rest for client secrets and tokens (docs/security-requirements.md R24–R26).
//!
//! Each value is sealed with AES-256-GCM under a fresh random 96-bit nonce into a text envelope
//! `v1:{key id}:{base64url(nonce ‖ ciphertext ‖ tag)}`. The associated data binds the ciphertext
//! to its workspace, row, column and key id, so a ciphertext copied into another row, column or
//! tenant fails to decrypt instead of silently serving the wrong credentials.
//!
//! The key ring holds one primary key (used for every new seal) and any number of older keys
//! (still accepted for opening), which lets `amolink keys rotate` re-encrypt online.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead as _, KeyInit as _, Payload},
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use uuid::Uuid;

use crate::ids::WorkspaceId;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Why a key ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("no master key given: AMOLINK_MASTER_KEYS needs at least one KEYID:BASE64 entry")]
    Empty,
    #[error("master key entry {0} is not KEYID:BASE64")]
    Malformed(usize),
    #[error("master key id `{0}` must be 1-16 letters, digits, `-` or `_`")]
    BadKeyId(String),
    #[error("master key `{0}` must be base64 of exactly 32 bytes")]
    BadKey(String),
    #[error("master key id `{0}` appears twice")]
    DuplicateKeyId(String),
}

/// Why a sealed value could not be opened. Deliberately carries no detail about the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value names a key that is not in the key ring")]
    UnknownKey,
    #[error("the sealed value failed authentication (wrong key, row, column or tampering)")]
    Forged,
}

/// Where a sealed value lives; becomes the AEAD associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub workspace: WorkspaceId,
    pub row: Uuid,
    pub column: &'static str,
}

impl Binding {
    fn associated_data(&self, key_id: &str) -> Vec<u8> {
        format!(
            "amolink|{VERSION}|{}|{}|{}|{key_id}",
            self.workspace, self.row, self.column
        )
        .into_bytes()
    }
}

struct Key {
    id: String,
    material: SecretBox<[u8; 32]>,
}

/// The master keys; the first is the primary.
pub struct Keyring {
    keys: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Parses `KEYID:BASE64(32 bytes)[,KEYID:BASE64…]`.
    ///
    /// # Errors
    /// When the list is empty, an entry is malformed, a key is not 32 bytes, or an id repeats.
    pub fn parse(spec: &SecretString) -> Result<Self, KeyringError> {
        let mut keys: Vec<Key> = Vec::new();
        for (index, entry) in spec
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (id, encoded) = entry
                .split_once(':')
                .ok_or(KeyringError::Malformed(index + 1))?;
            let id = id.trim();
            let id_ok = !id.is_empty()
                && id.len() <= 16
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !id_ok {
                return Err(KeyringError::BadKeyId(id.to_owned()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateKeyId(id.to_owned()));
            }
            let bytes = STANDARD
                .decode(encoded.trim())
                .map_err(|_| KeyringError::BadKey(id.to_owned()))?;
            let material: [u8; 32] = bytes
                .try_into()
                .map_err(|_| KeyringError::BadKey(id.to_owned()))?;
            keys.push(Key {
                id: id.to_owned(),
                material: SecretBox::new(Box::new(material)),
            });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys })
    }

    /// A new random key entry `id:BASE64` for `AMOLINK_MASTER_KEYS`.
    #[must_use]
    pub fn generate_entry(id: &str) -> String {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        format!("{id}:{}", STANDARD.encode(key))
    }

    fn primary(&self) -> &Key {
        // `parse` guarantees at least one key.
        &self.keys[0]
    }

    #[must_use]
    pub fn primary_id(&self) -> &str {
        &self.primary().id
    }

    /// Encrypts `plaintext` for the place named by `binding`, under the primary key.
    #[must_use]
    pub fn seal(&self, plaintext: &str, binding: &Binding) -> String {
        let key = self.primary();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = Aes256Gcm::new(key.material.expose_secret().into());
        let aad = binding.associated_data(&key.id);
        // Encryption with a valid key and nonce length cannot fail.
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ciphertext);
        format!("{VERSION}:{}:{}", key.id, URL_SAFE_NO_PAD.encode(body))
    }

    /// Decrypts a value sealed for `binding`.
    ///
    /// # Errors
    /// [`OpenError`] when the envelope is malformed, names an unknown key, or fails
    /// authentication (tampered, or copied from another row, column or workspace).
    pub fn open(&self, sealed: &str, binding: &Binding) -> Result<SecretString, OpenError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or(OpenError::UnknownKey)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed)?;
        if body.len() < NONCE_LEN + 16 {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(key.material.expose_secret().into());
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &binding.associated_data(key_id),
                },
            )
            .map_err(|_| OpenError::Forged)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| OpenError::Forged)
    }

    /// Purpose-bound subkeys, one per master key (primary first), each tagged with its key id:
    /// `HMAC-SHA256(master key, "amolink|subkey|{purpose}")`.
    ///
    /// Other mechanisms (such as API-key lookup hashes) need secret keys too. Deriving them keeps
    /// a single root of secrets with a single rotation story, while no AES key is ever reused
    /// directly as a MAC key: a different `purpose` always yields an unrelated key.
    #[must_use]
    pub fn subkeys(&self, purpose: &str) -> Vec<(String, SecretBox<[u8; 32]>)> {
        use hmac::{Hmac, Mac};
        self.keys
            .iter()
            .filter_map(|key| {
                let mut mac =
                    <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.material.expose_secret())
                        .ok()?;
                mac.update(b"amolink|subkey|");
                mac.update(purpose.as_bytes());
                let derived: [u8; 32] = mac.finalize().into_bytes().into();
                Some((key.id.clone(), SecretBox::new(Box::new(derived))))
            })
            .collect()
    }

    /// Whether `sealed` uses a key other than the primary (so rotation should re-encrypt it).
    #[must_use]
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed
            .split(':')
            .nth(1)
            .is_none_or(|key_id| key_id != self.primary_id())
    }

    /// Re-encrypts `sealed` under the primary key; `None` if it already uses it.
    ///
    /// # Errors
    /// As [`Keyring::open`].
    pub fn reseal(&self, sealed: &str, binding: &Binding) -> Result<Option<String>, OpenError> {
        if !self.is_stale(sealed) {
            return Ok(None);
        }
        let plaintext = self.open(sealed, binding)?;
        Ok(Some(self.seal(plaintext.expose_secret(), binding)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(&SecretString::from(spec.to_owned())).expect("valid key ring")
    }

    fn binding(column: &'static str) -> Binding {
        Binding {
            workspace: WorkspaceId::from_uuid(Uuid::from_u128(1)),
            row: Uuid::from_u128(2),
            column,
        }
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let keys = ring(&Keyring::generate_entry("k1"));
        let sealed = keys.seal("refresh-token-canary", &binding("refresh_token"));
        assert!(sealed.starts_with("v1:k1:"));
        assert!(!sealed.contains("canary"));
        let opened = keys
            .open(&sealed, &binding("refresh_token"))
            .expect("opens");
        assert_eq!(opened.expose_secret(), "refresh-token-canary");
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let keys = ring(&Keyring::generate_entry("k1"));
        let sealed: HashSet<String> = (0..2_000)
            .map(|_| keys.seal("same value", &binding("access_token")))
            .collect();
        assert_eq!(sealed.len(), 2_000);
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_column_or_workspace_fails() {
        let keys = ring(&Keyring::generate_entry("k1"));
        let sealed = keys.seal("secret", &binding("client_secret"));
        assert_eq!(
            keys.open(&sealed, &binding("access_token")).err(),
            Some(OpenError::Forged)
        );
        let other_row = Binding {
            row: Uuid::from_u128(3),
            ..binding("client_secret")
        };
        assert_eq!(
            keys.open(&sealed, &other_row).err(),
            Some(OpenError::Forged)
        );
        let other_tenant = Binding {
            workspace: WorkspaceId::from_uuid(Uuid::from_u128(9)),
            ..binding("client_secret")
        };
        assert_eq!(
            keys.open(&sealed, &other_tenant).err(),
            Some(OpenError::Forged)
        );
    }

    #[test]
    fn flipping_any_byte_fails_authentication() {
        let keys = ring(&Keyring::generate_entry("k1"));
        let sealed = keys.seal("secret", &binding("client_secret"));
        let prefix = "v1:k1:".len();
        let body = URL_SAFE_NO_PAD.decode(&sealed[prefix..]).expect("base64");
        for i in 0..body.len() {
            let mut tampered = body.clone();
            tampered[i] ^= 0x01;
            let forged = format!("v1:k1:{}", URL_SAFE_NO_PAD.encode(tampered));
            assert!(
                keys.open(&forged, &binding("client_secret")).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        let keys = ring(&Keyring::generate_entry("k1"));
        for bad in [
            "",
            "v1",
            "v1:k1",
            "v1:k1:",
            "v2:k1:AAAA",
            "v1:k1:!!!",
            "v1:zz:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(keys.open(bad, &binding("x")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rotation_reseals_old_values_under_the_new_primary() {
        let old_entry = Keyring::generate_entry("k1");
        let old = ring(&old_entry);
        let sealed = old.seal("secret", &binding("client_secret"));
        let rotated = ring(&format!("{},{old_entry}", Keyring::generate_entry("k2")));
        assert!(rotated.is_stale(&sealed));
        let resealed = rotated
            .reseal(&sealed, &binding("client_secret"))
            .expect("opens")
            .expect("was stale");
        assert!(resealed.starts_with("v1:k2:"));
        assert!(!rotated.is_stale(&resealed));
        assert_eq!(
            rotated
                .open(&resealed, &binding("client_secret"))
                .expect("opens")
                .expose_secret(),
            "secret"
        );
        assert_eq!(
            rotated.reseal(&resealed, &binding("client_secret")),
            Ok(None)
        );
    }

    #[test]
    fn key_ring_parsing_names_the_problem() {
        let parse = |s: &str| Keyring::parse(&SecretString::from(s.to_owned()));
        assert_eq!(parse("").err(), Some(KeyringError::Empty));
        assert_eq!(parse("nocolon").err(), Some(KeyringError::Malformed(1)));
        assert_eq!(
            parse("k1:AAAA").err(),
            Some(KeyringError::BadKey("k1".into()))
        );
        assert_eq!(
            parse("bad id!:AAAA").err(),
            Some(KeyringError::BadKeyId("bad id!".into()))
        );
        let entry = Keyring::generate_entry("k1");
        assert_eq!(
            parse(&format!("{entry},{entry}")).err(),
            Some(KeyringError::DuplicateKeyId("k1".into()))
        );
        let debug = format!("{:?}", parse(&entry).expect("valid"));
        assert!(
            debug.contains("k1") && !debug.contains(&entry[3..]),
            "{debug}"
        );
    }
}
