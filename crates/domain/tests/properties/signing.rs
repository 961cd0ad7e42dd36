//! Webhook signatures and `whsec_` secrets, checked against the independent `standardwebhooks`
//! verifier a tenant would use.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use domain::webhooks::{EndpointSecret, sign, signature_header};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret as _;
use standardwebhooks::Webhook;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn headers(id: &str, timestamp: i64, signature: &str) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    map.insert("webhook-id", HeaderValue::from_str(id).ok()?);
    map.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&timestamp.to_string()).ok()?,
    );
    map.insert("webhook-signature", HeaderValue::from_str(signature).ok()?);
    Some(map)
}

fn verifies(
    secret: &EndpointSecret,
    body: &str,
    id: &str,
    timestamp: i64,
    signature: &str,
) -> bool {
    let Some(headers) = headers(id, timestamp, signature) else {
        return false;
    };
    Webhook::new(secret.to_text().expose_secret())
        .and_then(|hook| hook.verify(body.as_bytes(), &headers))
        .is_ok()
}

fn secret() -> impl Strategy<Value = EndpointSecret> {
    prop::collection::vec(any::<u8>(), 24..=64)
        .prop_map(|key| EndpointSecret::parse(&format!("whsec_{}", STANDARD.encode(key))).unwrap())
}

fn id() -> impl Strategy<Value = String> {
    "msg_[A-Za-z0-9]{1,30}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// What amolink sends verifies with the tenant's verifier, for any key, id and body.
    #[test]
    fn signatures_verify_independently(secret in secret(), id in id(), body in any::<String>(), skew in -200i64..200) {
        let ts = now() + skew;
        let header = signature_header(&[&secret], &id, ts, body.as_bytes());
        prop_assert!(verifies(&secret, &body, &id, ts, &header));
    }

    /// During a rotation either secret verifies the one header.
    #[test]
    fn either_secret_verifies_during_rotation(new in secret(), old in secret(), id in id(), body in ".{0,200}") {
        let ts = now();
        let header = signature_header(&[&new, &old], &id, ts, body.as_bytes());
        prop_assert!(verifies(&new, &body, &id, ts, &header));
        prop_assert!(verifies(&old, &body, &id, ts, &header));
    }

    /// Any change to the body, id or timestamp, or another key, fails verification.
    #[test]
    fn any_change_fails(secret in secret(), other in secret(), id in id(), body in ".{0,200}", extra in ".{1,4}", dt in 1i64..100) {
        let ts = now();
        let header = sign(&secret, &id, ts, body.as_bytes());
        let longer_body = format!("{body}{extra}");
        let other_id = format!("{id}x");
        prop_assert!(!verifies(&secret, &longer_body, &id, ts, &header));
        prop_assert!(!verifies(&secret, &body, &other_id, ts, &header));
        prop_assert!(!verifies(&secret, &body, &id, ts - dt, &header));
        prop_assert!(!verifies(&other, &body, &id, ts, &header));
    }

    /// Mangled signature headers never verify: empty, truncated, wrong version, stray spaces,
    /// long lists of junk (security.md §3.6 item 6, R43).
    #[test]
    fn mangled_headers_fail(
        secret in secret(),
        id in id(),
        body in ".{0,100}",
        cut in any::<prop::sample::Index>(),
        junk in prop::collection::vec("[ -~]{0,12}", 0..200),
        version in prop::sample::select(vec!["v1a", "v2", "V1", "", "v1 "]),
    ) {
        let ts = now();
        let good = sign(&secret, &id, ts, body.as_bytes());
        let sig = &good[3..];
        let truncated = &good[..3 + cut.index(sig.len())];
        let junk_list = junk.join(" ");
        for bad in [
            "v1,".to_owned(),
            truncated.to_owned(),
            format!("{version},{sig}"),
            format!("v1,{sig}x"),
            format!("v1,  {sig}"),
            junk_list.clone(),
            format!("{junk_list} v1,{}", &sig[1..]),
        ] {
            prop_assert!(!verifies(&secret, &body, &id, ts, &bad), "{:?}", bad);
        }
        // The right signature among junk still verifies (list semantics).
        let among_junk = format!("{junk_list} {good}").trim_start().to_owned();
        prop_assert!(verifies(&secret, &body, &id, ts, &among_junk));
    }

    /// Parsing a secret never panics; it accepts exactly `whsec_` + base64 of 24–64 bytes and
    /// round-trips through its text.
    #[test]
    fn secret_parsing(raw in prop_oneof![
        any::<String>(),
        "whsec_[A-Za-z0-9+/=]{0,100}",
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|k| format!("whsec_{}", STANDARD.encode(k))),
    ]) {
        let expected = raw
            .strip_prefix("whsec_")
            .and_then(|b| STANDARD.decode(b).ok())
            .is_some_and(|k| (24..=64).contains(&k.len()));
        match EndpointSecret::parse(&raw) {
            Ok(secret) => {
                prop_assert!(expected);
                let text = secret.to_text();
                prop_assert_eq!(text.expose_secret(), raw.as_str());
                let debug = format!("{secret:?}");
                prop_assert!(!debug.contains(&raw[6..]) || raw.len() <= 6);
            }
            Err(_) => prop_assert!(!expected),
        }
    }
}
