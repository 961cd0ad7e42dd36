//! The AEAD envelope: opening any input is an error (nothing forged opens) and never panics;
//! sealing any input opens back to it.
#![no_main]

use std::sync::OnceLock;

use domain::{
    crypto::{Binding, Keyring},
    ids::WorkspaceId,
};
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret as _, SecretString};

fuzz_target!(|raw: &str| {
    static RING: OnceLock<Keyring> = OnceLock::new();
    let ring = RING.get_or_init(|| {
        let spec = format!("{},{}", Keyring::generate_entry("k1"), Keyring::generate_entry("k0"));
        Keyring::parse(&SecretString::from(spec)).expect("valid ring")
    });
    let binding = Binding {
        workspace: WorkspaceId::from_uuid(uuid::Uuid::from_u128(1)),
        row: uuid::Uuid::from_u128(2),
        column: "refresh_token",
    };
    assert!(ring.open(raw, &binding).is_err());
    let sealed = ring.seal(raw, &binding);
    let opened = ring.open(&sealed, &binding).expect("own seal opens");
    assert_eq!(opened.expose_secret(), raw);
    let _ = Keyring::parse(&SecretString::from(raw.to_owned()));
});
