//! Property tests of the outbound address guard (security.md §3.6 item 7, R18, R44).

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// (first address, prefix length) of every refused IPv4 range.
const REFUSED_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 3),
];

fn in_refused_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    REFUSED_V4.iter().any(|(base, len)| {
        let mask = u32::MAX << (32 - len);
        bits & mask == u32::from(Ipv4Addr::from(*base)) & mask
    })
}

fn refused_v4() -> impl Strategy<Value = Ipv4Addr> {
    (prop::sample::select(REFUSED_V4.to_vec()), any::<u32>()).prop_map(|((base, len), noise)| {
        let mask = u32::MAX << (32 - len);
        Ipv4Addr::from((u32::from(Ipv4Addr::from(base)) & mask) | (noise & !mask))
    })
}

fn n32(ip: Ipv4Addr) -> u32 {
    u32::from(ip)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// The IPv4 decision is exactly "outside every refused range".
    #[test]
    fn ipv4_is_public_exactly_outside_the_refused_ranges(bits in any::<u32>()) {
        let ip = Ipv4Addr::from(bits);
        prop_assert_eq!(is_public_ip(IpAddr::V4(ip)), !in_refused_v4(ip), "{}", ip);
    }

    #[test]
    fn every_address_of_a_refused_range_is_refused(ip in refused_v4()) {
        prop_assert!(!is_public_ip(IpAddr::V4(ip)), "{}", ip);
    }

    /// Every IPv6 spelling that embeds an IPv4 address gets that address's verdict: mapped,
    /// compatible, NAT64 and 6to4 cannot smuggle an internal address out.
    #[test]
    fn embedded_ipv4_gets_the_ipv4_verdict(bits in any::<u32>(), rest in any::<u64>(), use_refused in any::<bool>(), refused in refused_v4()) {
        let v4 = if use_refused { refused } else { Ipv4Addr::from(bits) };
        let verdict = is_public_ip(IpAddr::V4(v4));
        let o = v4.octets();
        let mapped = v4.to_ipv6_mapped();
        let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]]));
        let r = rest.to_be_bytes();
        let six_to_four = Ipv6Addr::new(
            0x2002, u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]]),
            u16::from_be_bytes([r[0], r[1]]), u16::from_be_bytes([r[2], r[3]]),
            u16::from_be_bytes([r[4], r[5]]), u16::from_be_bytes([r[6], r[7]]), 1,
        );
        prop_assert_eq!(is_public_ip(IpAddr::V6(mapped)), verdict, "{}", mapped);
        prop_assert_eq!(is_public_ip(IpAddr::V6(nat64)), verdict, "{}", nat64);
        prop_assert_eq!(is_public_ip(IpAddr::V6(six_to_four)), verdict, "{}", six_to_four);
        if u32::from(v4) > 1 {
            let compatible = Ipv6Addr::from(u128::from(n32(v4)));
            prop_assert_eq!(is_public_ip(IpAddr::V6(compatible)), verdict, "{}", compatible);
        }
    }

    /// Unique-local, link-local, site-local, multicast and documentation IPv6 are refused
    /// whatever their host bits.
    #[test]
    fn internal_ipv6_ranges_are_refused(prefix in prop::sample::select(vec![0xfc00u16, 0xfd00, 0xfe80, 0xfebf, 0xfec0, 0xff00, 0xff02]), rest in any::<u128>()) {
        let bits = (u128::from(prefix) << 112) | (rest >> 16);
        prop_assert!(!is_public_ip(IpAddr::V6(Ipv6Addr::from(bits))));
        let doc = (0x2001_0db8_u128 << 96) | (rest >> 32);
        prop_assert!(!is_public_ip(IpAddr::V6(Ipv6Addr::from(doc))));
    }

    /// Textual spellings the URL parser normalises (decimal, hex, octal, shortened) reach the
    /// same verdict as the dotted form, so the spelling cannot change the decision.
    #[test]
    fn url_spellings_of_an_ipv4_get_its_verdict(bits in any::<u32>(), use_refused in any::<bool>(), refused in refused_v4()) {
        let v4 = if use_refused { refused } else { Ipv4Addr::from(bits) };
        let n = u32::from(v4);
        let o = v4.octets();
        for spelling in [
            n.to_string(),
            format!("{n:#x}"),
            format!("0{n:o}"),
            format!("{}.{}.{}", o[0], o[1], u16::from_be_bytes([o[2], o[3]])),
            format!("{:#x}.{:#x}.{:#x}.{:#x}", o[0], o[1], o[2], o[3]),
        ] {
            let url = url::Url::parse(&format!("https://{spelling}/")).expect("the URL parser reads it");
            let Some(url::Host::Ipv4(parsed)) = url.host() else {
                return Err(TestCaseError::fail(format!("{spelling} is not an IPv4 host")));
            };
            prop_assert_eq!(parsed, v4);
            prop_assert_eq!(is_public_ip(IpAddr::V4(parsed)), is_public_ip(IpAddr::V4(v4)));
        }
    }

    /// The one outbound guard both clients use (amoCRM and tenants' webhooks): production
    /// allows exactly the public addresses; development adds loopback in any spelling and
    /// nothing else, so private, link-local and metadata ranges stay refused everywhere.
    #[test]
    fn the_address_policy_is_public_plus_loopback_at_most(bits in any::<u128>(), v4 in any::<u32>(), refused in refused_v4()) {
        for ip in [
            IpAddr::V6(Ipv6Addr::from(bits)),
            IpAddr::V4(Ipv4Addr::from(v4)),
            IpAddr::V6(Ipv4Addr::from(v4).to_ipv6_mapped()),
            IpAddr::V4(refused),
            IpAddr::V6(refused.to_ipv6_mapped()),
        ] {
            let loopback = match ip {
                IpAddr::V4(a) => a.is_loopback(),
                IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
            };
            prop_assert_eq!(AddressPolicy::PublicOnly.allows(ip), is_public_ip(ip), "{}", ip);
            prop_assert_eq!(AddressPolicy::PublicOrLoopback.allows(ip), is_public_ip(ip) || loopback, "{}", ip);
        }
        prop_assert!(!AddressPolicy::PublicOrLoopback.allows(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))));
    }
}
