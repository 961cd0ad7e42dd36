//! One-time tokens (`state`, browser bindings): long, random, stored only as hashes.

use std::collections::HashSet;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::connect::{OneTimeToken, hash_token};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// The lookup hash of any input is 64 lowercase hex digits and a function of the input
    /// alone; distinct inputs get distinct hashes, so only the exact minted value finds a flow.
    #[test]
    fn hashes_are_fixed_size_and_separate_inputs(a in any::<String>(), b in any::<String>()) {
        let (ha, hb) = (hash_token(&a), hash_token(&b));
        prop_assert_eq!(ha.len(), 64);
        prop_assert!(ha.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        prop_assert_eq!(&ha, &hash_token(&a));
        prop_assert_eq!(a == b, ha == hb);
    }

    /// A minted token with any one character changed, cut or extended is another token.
    #[test]
    fn near_misses_of_a_minted_token_do_not_match(at in any::<prop::sample::Index>(), c in any::<char>(), cut in 0usize..43) {
        let token = OneTimeToken::mint();
        let raw = token.expose().to_owned();
        let mut chars: Vec<char> = raw.chars().collect();
        let i = at.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let changed: String = chars.into_iter().collect();
        prop_assert_ne!(hash_token(&changed), token.hash());
        prop_assert_ne!(hash_token(&raw[..cut]), token.hash());
        prop_assert_ne!(hash_token(&format!("{raw}{c}")), token.hash());
        prop_assert_ne!(hash_token(&raw.to_uppercase()), token.hash());
    }
}

/// 256 bits from the OS each time (R14: ≥ 128 bits), base64url without padding.
#[test]
fn minted_tokens_carry_256_random_bits() {
    let mut seen = HashSet::new();
    for _ in 0..5_000 {
        let token = OneTimeToken::mint();
        let bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
        assert_eq!(bytes.len(), 32);
        assert!(seen.insert(token.expose().to_owned()), "a token repeated");
        assert_eq!(token.hash(), hash_token(token.expose()));
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
