//! The AEAD envelope: open never panics, every tampering fails, round trips hold.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::{
    crypto::{Binding, Keyring, OpenError},
    ids::WorkspaceId,
};
use proptest::prelude::*;
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

const COLUMNS: [&str; 4] = ["client_secret", "access_token", "refresh_token", "secret"];

fn ring() -> Keyring {
    // Two keys, so "the other key" is a real possibility for tampering.
    let spec = format!(
        "{},{}",
        Keyring::generate_entry("k1"),
        Keyring::generate_entry("k0")
    );
    Keyring::parse(&SecretString::from(spec)).unwrap()
}

fn binding() -> impl Strategy<Value = Binding> {
    (
        any::<u128>(),
        any::<u128>(),
        prop::sample::select(COLUMNS.to_vec()),
    )
        .prop_map(|(workspace, row, column)| Binding {
            workspace: WorkspaceId::from_uuid(Uuid::from_u128(workspace)),
            row: Uuid::from_u128(row),
            column,
        })
}

/// Envelope-shaped strings: right or wrong version, known or unknown key, base64 or not.
fn envelope_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["v1", "v2", "V1", "", "v1 "]),
        prop::sample::select(vec!["k1", "k0", "kx", "", "k1:k1"]),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            "[A-Za-z0-9_=+/-]{0,120}",
            any::<String>(),
        ],
    )
        .prop_map(|(v, k, body)| format!("{v}:{k}:{body}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Any string at all, or anything shaped like an envelope: an error, never a panic.
    #[test]
    fn open_never_panics(raw in prop_oneof![any::<String>(), envelope_like()], binding in binding()) {
        let keys = ring();
        prop_assert!(keys.open(&raw, &binding).is_err());
        prop_assert!(keys.reseal(&raw, &binding).is_err() || !keys.is_stale(&raw));
    }

    #[test]
    fn round_trips_for_any_value_and_place(plaintext in any::<String>(), binding in binding()) {
        let keys = ring();
        let sealed = keys.seal(&plaintext, &binding);
        prop_assert!(sealed.starts_with("v1:k1:"));
        let opened = keys.open(&sealed, &binding).unwrap();
        prop_assert_eq!(opened.expose_secret(), plaintext.as_str());
    }

    /// Changing any one character of a sealed value into any other makes it unopenable.
    #[test]
    fn tampering_with_any_character_fails(
        plaintext in ".{0,64}",
        binding in binding(),
        at in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let keys = ring();
        let sealed = keys.seal(&plaintext, &binding);
        let chars: Vec<char> = sealed.chars().collect();
        let at = at.index(chars.len());
        prop_assume!(chars[at] != replacement);
        let mut tampered = chars.clone();
        tampered[at] = replacement;
        let tampered: String = tampered.into_iter().collect();
        prop_assert!(keys.open(&tampered, &binding).is_err(), "opened {:?}", tampered);
    }

    /// Flipping any bit of the decoded body (nonce, ciphertext or tag) is detected.
    #[test]
    fn flipping_any_bit_fails(plaintext in ".{0,64}", binding in binding(), bit in any::<prop::sample::Index>()) {
        let keys = ring();
        let sealed = keys.seal(&plaintext, &binding);
        let mut body = URL_SAFE_NO_PAD.decode(&sealed["v1:k1:".len()..]).unwrap();
        let bit = bit.index(body.len() * 8);
        body[bit / 8] ^= 1 << (bit % 8);
        let forged = format!("v1:k1:{}", URL_SAFE_NO_PAD.encode(body));
        prop_assert_eq!(keys.open(&forged, &binding).err(), Some(OpenError::Forged));
    }

    /// Truncating or extending the envelope anywhere fails.
    #[test]
    fn truncation_and_extension_fail(plaintext in ".{0,64}", binding in binding(), cut in any::<prop::sample::Index>(), extra in "[A-Za-z0-9_-]{1,8}") {
        let keys = ring();
        let sealed = keys.seal(&plaintext, &binding);
        let cut = cut.index(sealed.len());
        prop_assert!(keys.open(&sealed[..cut], &binding).is_err());
        let extended = format!("{sealed}{extra}");
        prop_assert!(keys.open(&extended, &binding).is_err());
    }

    /// A ciphertext opened anywhere but its own place (workspace, row, column) fails.
    #[test]
    fn another_place_fails(plaintext in ".{0,64}", home in binding(), elsewhere in binding()) {
        prop_assume!(home != elsewhere);
        let keys = ring();
        let sealed = keys.seal(&plaintext, &home);
        prop_assert_eq!(keys.open(&sealed, &elsewhere).err(), Some(OpenError::Forged));
    }

    /// Another key ring (same key ids, other material) cannot open it.
    #[test]
    fn another_key_fails(plaintext in ".{0,64}", binding in binding()) {
        let sealed = ring().seal(&plaintext, &binding);
        prop_assert_eq!(ring().open(&sealed, &binding).err(), Some(OpenError::Forged));
    }

    /// Key-ring specs: any input parses or is refused, never panics, never echoes key bytes.
    #[test]
    fn keyring_parsing_never_panics(spec in any::<String>()) {
        match Keyring::parse(&SecretString::from(spec.clone())) {
            Ok(keys) => prop_assert!(!keys.primary_id().is_empty()),
            Err(e) => {
                let message = e.to_string();
                // Only a key id may be named, never the material after the colon.
                if let Some((_, material)) = spec.split_once(':') {
                    let material = material.trim();
                    prop_assume!(material.len() >= 8);
                    prop_assert!(!message.contains(material), "{}", message);
                }
            }
        }
    }
}
