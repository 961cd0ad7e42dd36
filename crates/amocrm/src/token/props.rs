//! Property tests of token-response parsing (security.md §3.6 item 4).

use proptest::prelude::*;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use super::*;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        "-?[0-9]{1,25}(\\.[0-9]{0,5})?(e[0-9]{1,3})?".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any bytes at all: an answer or an error, never a panic; errors never echo the body.
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(err) = parse_grant(&body) {
            prop_assert!(matches!(err, AmoError::InvalidResponse));
        }
    }

    /// Whatever `expires_in` holds, the lifetime is within [0, 7 days], taken as stated only
    /// when it is a credible number, and zero ("unknown") otherwise for an opaque token.
    #[test]
    fn any_expires_in_gives_a_bounded_lifetime(expires_in in json_value(), extra in json_value()) {
        let body = json!({
            "access_token": "opaque", "refresh_token": "rt", "expires_in": expires_in,
            "token_type": "Bearer", "extra": extra,
        });
        let grant = parse_grant(body.to_string().as_bytes()).expect("an access token is enough");
        prop_assert!(grant.expires_in <= MAX_CREDIBLE_LIFETIME);
        let stated = seconds::from_json(&body["expires_in"])
            .filter(|s| *s >= 1.0 && *s <= MAX_CREDIBLE_LIFETIME.as_secs_f64());
        match stated {
            Some(secs) => {
                prop_assert_eq!(grant.expires_in_source, LifetimeSource::ExpiresIn);
                prop_assert_eq!(grant.expires_in.as_secs(), secs.trunc() as u64);
            }
            None => {
                prop_assert_eq!(grant.expires_in_source, LifetimeSource::Unknown);
                prop_assert_eq!(grant.expires_in, Duration::ZERO);
            }
        }
        prop_assert_eq!(grant.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()), Some("rt".to_owned()));
    }

    /// Integers in any range: checked arithmetic, no overflow, stated value kept when credible.
    #[test]
    fn integer_lifetimes_are_kept_or_refused(secs in any::<i64>()) {
        let body = json!({"access_token": "at", "expires_in": secs});
        let grant = parse_grant(body.to_string().as_bytes()).expect("valid");
        if (1..=7 * 24 * 3600).contains(&secs) {
            prop_assert_eq!(grant.expires_in.as_secs(), secs.unsigned_abs());
        } else {
            prop_assert_eq!(grant.expires_in, Duration::ZERO);
        }
    }

    /// A JWT's own claims decide only when `expires_in` does not, and only within a week.
    #[test]
    fn claims_fallback_is_bounded(iat in any::<i64>(), exp in any::<i64>()) {
        use base64::Engine as _;
        let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.sig",
            encode(&json!({"alg": "RS256"})),
            encode(&json!({"aud": "cid", "iat": iat, "exp": exp, "sub": "1",
                           "account_id": 7, "base_domain": "amocrm.ru"}))
        );
        let grant = parse_grant(json!({"access_token": token}).to_string().as_bytes()).expect("valid");
        let life = exp.checked_sub(iat).filter(|d| (1..=7 * 24 * 3600).contains(d));
        match life {
            Some(d) => {
                prop_assert_eq!(grant.expires_in.as_secs(), d.unsigned_abs());
                prop_assert_eq!(grant.expires_in_source, LifetimeSource::TokenClaims);
            }
            None => prop_assert_eq!(grant.expires_in, Duration::ZERO),
        }
    }

    /// A missing or empty refresh token means "keep the old one" (None), never an empty token;
    /// an access token of the wrong type or empty is refused without echoing anything.
    #[test]
    fn refresh_token_presence_is_reported_faithfully(
        refresh in prop::option::of("[A-Za-z0-9]{0,40}"),
        access in prop_oneof![json_value(), "[a-z]{1,20}".prop_map(Value::String)],
    ) {
        let mut body = json!({"access_token": access.clone()});
        if let Some(rt) = &refresh {
            body["refresh_token"] = json!(rt);
        }
        match parse_grant(body.to_string().as_bytes()) {
            Ok(grant) => {
                let Value::String(at) = &access else {
                    return Err(TestCaseError::fail("accepted a non-string access token"));
                };
                prop_assert!(!at.is_empty());
                prop_assert_eq!(grant.access_token.expose_secret(), at.as_str());
                let kept = refresh.filter(|rt| !rt.is_empty());
                prop_assert_eq!(grant.refresh_token.map(|t| t.expose_secret().to_owned()), kept);
                let debug = format!("{:?}", grant.access_token);
                prop_assert!(debug.contains("REDACTED"));
            }
            Err(err) => {
                prop_assert!(!matches!(&access, Value::String(at) if !at.is_empty()));
                prop_assert!(matches!(err, AmoError::InvalidResponse));
            }
        }
    }
}
