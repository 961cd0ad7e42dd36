//! Webhook secrets and signatures: parsing any `whsec_` text never panics; what parses signs a
//! `v1,` signature that changes with the body.
#![no_main]

use domain::webhooks::{EndpointSecret, sign, signature_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let with_prefix = format!("whsec_{raw}");
    for text in [raw, with_prefix.as_str()] {
        if let Ok(secret) = EndpointSecret::parse(text) {
            let a = sign(&secret, "msg_1", 1, raw.as_bytes());
            assert!(a.starts_with("v1,"));
            let b = sign(&secret, "msg_1", 1, format!("{raw}.").as_bytes());
            assert_ne!(a, b);
            let header = signature_header(&[&secret, &secret], raw, 1, b"{}");
            assert_eq!(header.split(' ').count(), 2);
        }
    }
});
