//! The shape of amoCRM's secrets delivery (security.md §3.6 item 3, R16), before any lookup.

use domain::connect::SecretsDelivery;
use proptest::prelude::*;
use secrecy::SecretString;

fn delivery(client_id: &str, secret: &str, state: &str) -> SecretsDelivery {
    SecretsDelivery {
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
        state: state.to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Accepted exactly when the id is a UUID, the secret 16–256 bytes and the state 1–128
    /// bytes; errors never quote the secret.
    #[test]
    fn shape_rules(
        client_id in prop_oneof![any::<String>(), any::<u128>().prop_map(|u| uuid::Uuid::from_u128(u).to_string())],
        secret in prop_oneof![any::<String>(), "[A-Za-z0-9]{10,300}"],
        state in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,200}"],
    ) {
        let expected = uuid::Uuid::parse_str(&client_id).is_ok()
            && (16..=256).contains(&secret.len())
            && (1..=128).contains(&state.len());
        let checked = delivery(&client_id, &secret, &state).check_shape();
        prop_assert_eq!(checked.is_ok(), expected);
        if let Err(e) = checked
            && secret.len() >= 4
        {
            prop_assert!(!e.to_string().contains(&secret));
        }
        let debug = format!("{:?}", delivery(&client_id, &secret, &state));
        prop_assert!(debug.contains("REDACTED"));
    }
}
