//! Webhook destinations and the address guard (R18, R44): in production an accepted URL is
//! https, without credentials, naming no non-public address literal and no localhost name.
#![no_main]

use std::net::IpAddr;

use domain::webhooks::{DestinationPolicy, EndpointUrl};
use libfuzzer_sys::fuzz_target;
use url::Host;

fuzz_target!(|raw: &str| {
    let _ = EndpointUrl::parse(raw, DestinationPolicy::AllowLoopback);
    if let Ok(url) = EndpointUrl::parse(raw, DestinationPolicy::PublicHttpsOnly) {
        let url = url.as_url();
        assert_eq!(url.scheme(), "https");
        assert!(url.username().is_empty() && url.password().is_none());
        match url.host() {
            Some(Host::Ipv4(ip)) => assert!(amocrm::is_public_ip(IpAddr::V4(ip))),
            Some(Host::Ipv6(ip)) => assert!(amocrm::is_public_ip(IpAddr::V6(ip))),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.');
                assert!(name != "localhost" && !name.ends_with(".localhost"));
            }
            None => panic!("accepted a URL without a host"),
        }
    }
    // Raw bytes as addresses: an IPv4-mapped IPv6 address gets its IPv4 address's verdict.
    if raw.len() >= 4 {
        let b = raw.as_bytes();
        let v4 = std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        assert_eq!(
            amocrm::is_public_ip(IpAddr::V4(v4)),
            amocrm::is_public_ip(IpAddr::V6(v4.to_ipv6_mapped()))
        );
        for policy in [amocrm::AddressPolicy::PublicOnly, amocrm::AddressPolicy::PublicOrLoopback] {
            assert_eq!(
                policy.allows(IpAddr::V4(v4)),
                policy.allows(IpAddr::V6(v4.to_ipv6_mapped()))
            );
        }
    }
});
