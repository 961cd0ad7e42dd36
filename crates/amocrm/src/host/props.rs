//! Property tests of the referer validator (security.md §3.6 item 1, R17).

use proptest::prelude::*;
use url::Url;

use super::*;
use crate::testing::hostile_referer_samples;

const SUFFIXES: [&str; 3] = ["amocrm.ru", "kommo.com", "amocrm.com"];

fn parse(raw: &str) -> Result<AccountHost, RefererError> {
    AccountHost::parse(raw, &DomainAllowList::default())
}

/// A label the grammar allows: `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`, without punycode.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?".prop_filter("no punycode", |l| !l.contains("xn--"))
}

fn valid_host() -> impl Strategy<Value = String> {
    (label(), prop::sample::select(SUFFIXES.to_vec())).prop_map(|(l, s)| format!("{l}.{s}"))
}

/// Characters that turn a host into a different URL, a different host or nothing at all.
fn trick() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "@",
            ":",
            "/",
            "\\",
            "?",
            "#",
            "%",
            " ",
            "\t",
            "\r",
            "\n",
            "\0",
            "..",
            "[",
            "]",
            "%2f",
            "%2e",
            ":443",
            "@evil.com",
            ".evil.com",
            "\u{200b}",
            "ս",
            "а",
            "A",
            "_",
        ])
        .prop_map(str::to_owned),
        any::<char>()
            .prop_filter("outside the grammar", |c| !c.is_ascii_lowercase()
                && !c.is_ascii_digit()
                && *c != '-'
                && *c != '.')
            .prop_map(|c| c.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever the input, parsing returns; what it accepts is exactly what the URL parser
    /// reads back as that host on port 443 with no userinfo or path, under an allowed suffix.
    #[test]
    fn accepted_hosts_are_exactly_what_the_url_parser_sees(raw in any::<String>()) {
        if let Ok(host) = parse(&raw) {
            let url = Url::parse(&format!("https://{}/oauth2/access_token", host.as_str()))
                .expect("an accepted host forms a URL");
            prop_assert_eq!(url.host_str(), Some(raw.as_str()));
            prop_assert_eq!(url.port(), None);
            prop_assert!(url.username().is_empty() && url.password().is_none());
            prop_assert_eq!(url.path(), "/oauth2/access_token");
            prop_assert!(SUFFIXES.contains(&host.base_domain()));
            prop_assert_eq!(format!("{}.{}", host.subdomain(), host.base_domain()), raw);
            prop_assert!(!host.subdomain().contains('.'));
        }
    }

    /// Near-misses built from ASCII that looks like a host are still only accepted under the
    /// grammar (the random strings above rarely come close).
    #[test]
    fn host_like_strings_are_accepted_only_under_the_grammar(
        raw in "[a-zA-Z0-9.:@/%\\\\-]{0,20}\\.(amocrm\\.ru|kommo\\.com|amocrm\\.com|evil\\.com)[./:@]{0,2}",
    ) {
        let accepted = parse(&raw).is_ok();
        let grammar = raw.split_once('.').is_some_and(|(label, suffix)| {
            SUFFIXES.contains(&suffix)
                && (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
                && !label.contains("xn--")
        });
        prop_assert_eq!(accepted, grammar, "{:?}", raw);
    }

    #[test]
    fn every_well_formed_host_is_accepted(raw in valid_host()) {
        let host = parse(&raw).expect("well-formed host");
        prop_assert_eq!(host.as_str(), raw.as_str());
    }

    /// Inserting any trick character anywhere into a valid host makes it invalid (or, for a
    /// lone `-` or digit-like insertion that keeps the grammar, leaves it valid and unchanged).
    #[test]
    fn a_trick_anywhere_is_refused(raw in valid_host(), trick in trick(), at in any::<prop::sample::Index>()) {
        let positions: Vec<usize> = (0..=raw.len()).filter(|i| raw.is_char_boundary(*i)).collect();
        let at = positions[at.index(positions.len())];
        let mut tampered = raw.clone();
        tampered.insert_str(at, &trick);
        prop_assert!(parse(&tampered).is_err(), "accepted {:?}", tampered);
    }

    /// Every hostile sample stays refused with any prefix or suffix of whitespace or dots.
    #[test]
    fn hostile_samples_stay_refused_when_padded(
        index in any::<prop::sample::Index>(),
        pad in prop::sample::select(vec!["", " ", ".", "\t", "\n"]),
    ) {
        let samples = hostile_referer_samples();
        let sample = samples[index.index(samples.len())];
        prop_assert!(parse(sample).is_err());
        let padded_end = format!("{sample}{pad}");
        let padded_start = format!("{pad}{sample}");
        prop_assert!(parse(&padded_end).is_err());
        prop_assert!(parse(&padded_start).is_err());
    }

    /// Long inputs are refused before any parsing work (no allocation beyond the input).
    #[test]
    fn long_inputs_are_refused_as_too_long(len in (MAX_HOST_LEN + 1)..20_000usize) {
        let raw = format!("{}.amocrm.ru", "a".repeat(len));
        prop_assert_eq!(parse(&raw), Err(RefererError::TooLong));
    }
}
