//! One-time `state` values and amoCRM's secrets delivery shape: hashing and the shape check
//! accept any input without panicking, and no input but the minted value finds its flow.
#![no_main]

use std::sync::OnceLock;

use domain::connect::{OneTimeToken, SecretsDelivery, hash_token};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|raw: &str| {
    static MINTED: OnceLock<OneTimeToken> = OnceLock::new();
    let minted = MINTED.get_or_init(OneTimeToken::mint);
    let hash = hash_token(raw);
    assert_eq!(hash.len(), 64);
    assert_eq!(hash == minted.hash(), raw == minted.expose());
    let delivery = SecretsDelivery {
        client_id: raw.to_owned(),
        client_secret: SecretString::from(raw.to_owned()),
        state: raw.to_owned(),
    };
    if delivery.check_shape().is_ok() {
        assert!(uuid::Uuid::parse_str(raw).is_ok());
    }
});
