//! Property tests of the secrets-webhook body parser (security.md §3.6 item 3).

use proptest::prelude::*;
use secrecy::ExposeSecret as _;

use super::*;

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,40}",
        Just("\0".to_owned())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any bytes under any content type: a delivery or a 400, never a panic, and the error
    /// never quotes the body.
    #[test]
    fn arbitrary_bodies_never_panic(ct in content_type(), body in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Err(e) = parse_secrets_body(&ct, &body) {
            prop_assert!(matches!(e, AppError::BadRequest(_)));
            prop_assert_eq!(e.problem().status.as_u16(), 400);
        }
    }

    /// Whatever the three values are, JSON and form encodings read back exactly what was sent.
    #[test]
    fn json_and_form_round_trip(id in field(), secret in field(), state in field(), extra in "[a-z]{1,8}") {
        let json = serde_json::json!({"client_id": id, "client_secret": secret, "state": state, extra.clone(): 1});
        let form = serde_urlencoded::to_string([
            ("client_id", id.as_str()), ("client_secret", secret.as_str()), ("state", state.as_str()), (extra.as_str(), "x"),
        ]).expect("form");
        for (ct, body) in [
            ("application/json", json.to_string().into_bytes()),
            ("", json.to_string().into_bytes()),
            ("application/x-www-form-urlencoded", form.clone().into_bytes()),
            ("", form.into_bytes()),
        ] {
            let parsed = parse_secrets_body(ct, &body);
            prop_assert!(parsed.is_ok(), "{:?} {:?}", ct, String::from_utf8_lossy(&body));
            if let Ok(delivery) = parsed {
                prop_assert_eq!(&delivery.client_id, &id);
                prop_assert_eq!(delivery.client_secret.expose_secret(), secret.as_str());
                prop_assert_eq!(&delivery.state, &state);
            }
        }
    }

    /// Wrong types, missing fields and duplicate keys are refused (duplicates: JSON refuses
    /// them, a form keeps one of them; either way nothing ambiguous is stored silently).
    #[test]
    fn wrong_shapes_are_refused(n in any::<i64>(), missing in 0usize..3) {
        let mut fields = vec![("client_id", serde_json::json!("a")), ("client_secret", serde_json::json!("b")), ("state", serde_json::json!("c"))];
        fields.remove(missing);
        let partial: serde_json::Map<String, serde_json::Value> = fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let partial_body = serde_json::Value::Object(partial).to_string();
        prop_assert!(parse_secrets_body("application/json", partial_body.as_bytes()).is_err());
        let typed = serde_json::json!({"client_id": n, "client_secret": "s", "state": "t"}).to_string();
        prop_assert!(parse_secrets_body("application/json", typed.as_bytes()).is_err());
        let duplicate = r#"{"client_id":"a","client_id":"b","client_secret":"s","state":"t"}"#;
        prop_assert!(parse_secrets_body("application/json", duplicate.as_bytes()).is_err());
    }
}
