//! Webhook destinations (security.md §3.6 item 7, R44): what the URL alone can tell.

use std::net::{IpAddr, Ipv4Addr};

use domain::webhooks::{DestinationPolicy, EndpointUrl};
use proptest::prelude::*;
use url::Host;

fn internal_v4() -> impl Strategy<Value = Ipv4Addr> {
    prop::sample::select(vec![
        ([127, 0, 0, 0], 8u32),
        ([10, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([100, 64, 0, 0], 10),
        ([0, 0, 0, 0], 8),
    ])
    .prop_flat_map(|(base, len)| {
        any::<u32>().prop_map(move |noise| {
            let mask = u32::MAX << (32 - len);
            Ipv4Addr::from((u32::from(Ipv4Addr::from(base)) & mask) | (noise & !mask))
        })
    })
}

/// Spellings of one IPv4 address the URL parser normalises, plus IPv6 wrappers.
fn spellings(ip: Ipv4Addr) -> Vec<String> {
    let n = u32::from(ip);
    let o = ip.octets();
    vec![
        ip.to_string(),
        n.to_string(),
        format!("{n:#x}"),
        format!("0{n:o}"),
        format!("{}.{}", o[0], n & 0x00ff_ffff),
        format!("[::ffff:{ip}]"),
        format!(
            "[::ffff:{:x}:{:x}]",
            u16::from_be_bytes([o[0], o[1]]),
            u16::from_be_bytes([o[2], o[3]])
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Any text: parsed or refused, never a panic; what production accepts is https, carries
    /// no credentials and names no non-public IP literal or localhost name.
    #[test]
    fn production_accepts_only_public_https(raw in prop_oneof![
        any::<String>(),
        "(https?|ftp|file|javascript)://[a-z0-9@:.\\[\\]%-]{0,30}(/[a-z]{0,5})?",
    ]) {
        if let Ok(url) = EndpointUrl::parse(&raw, DestinationPolicy::PublicHttpsOnly) {
            let parsed = url.as_url();
            prop_assert_eq!(parsed.scheme(), "https");
            prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
            prop_assert!(parsed.fragment().is_none());
            match parsed.host() {
                Some(Host::Ipv4(ip)) => prop_assert!(amocrm::is_public_ip(IpAddr::V4(ip))),
                Some(Host::Ipv6(ip)) => prop_assert!(amocrm::is_public_ip(IpAddr::V6(ip))),
                Some(Host::Domain(name)) => {
                    let name = name.trim_end_matches('.');
                    prop_assert!(name != "localhost" && !name.ends_with(".localhost"));
                }
                None => prop_assert!(false, "no host"),
            }
        }
    }

    /// An internal IPv4 address is refused in every spelling, in production and (except
    /// loopback) in development too.
    #[test]
    fn internal_addresses_are_refused_in_any_spelling(ip in internal_v4(), port in prop::option::of(1u16..)) {
        for spelling in spellings(ip) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            for scheme in ["https", "http"] {
                let raw = format!("{scheme}://{spelling}{port}/hook");
                prop_assert!(EndpointUrl::parse(&raw, DestinationPolicy::PublicHttpsOnly).is_err(), "{}", raw);
                let dev = EndpointUrl::parse(&raw, DestinationPolicy::AllowLoopback);
                prop_assert_eq!(dev.is_ok(), ip.is_loopback(), "{}", raw);
            }
        }
    }

    /// Credentials in the URL are refused whatever else it says.
    #[test]
    fn credentials_are_refused(user in "[a-z]{1,8}", pass in prop::option::of("[a-z0-9]{1,8}")) {
        let userinfo = match &pass {
            Some(p) => format!("{user}:{p}"),
            None => user.clone(),
        };
        let raw = format!("https://{userinfo}@hooks.example.com/x");
        prop_assert!(EndpointUrl::parse(&raw, DestinationPolicy::PublicHttpsOnly).is_err());
    }
}
