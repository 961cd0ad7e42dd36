//! The outbound guard: which addresses amolink may connect to, enforced when it connects.
//!
//! Validating the *name* is not enough: an allow-listed name can still resolve to an internal
//! address (DNS rebinding, a hijacked record, a split-horizon resolver). So every name amolink
//! resolves for an outgoing request — amoCRM calls here, tenants' webhook endpoints in `web` —
//! goes through [`GuardedResolver`], which refuses the whole answer if any address falls outside
//! its [`AddressPolicy`]. The check happens when reqwest connects, so there is no gap between
//! checking and using the address. (The principle is requirement R18 in
//! `docs/security-requirements.md`.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which addresses an outgoing connection may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Public unicast addresses only ([`is_public_ip`]).
    PublicOnly,
    /// Public addresses and loopback (development: local receivers and demos). Private,
    /// link-local, CGNAT and metadata ranges stay refused even here.
    PublicOrLoopback,
}

impl AddressPolicy {
    /// Whether a connection to `ip` is allowed.
    #[must_use]
    pub fn allows(self, ip: IpAddr) -> bool {
        is_public_ip(ip) || (self == Self::PublicOrLoopback && is_loopback(ip))
    }
}

/// Loopback in every spelling, including IPv4-mapped `::ffff:127.0.0.1`.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `ip` is a public unicast address we may connect to.
///
/// Refused: unspecified `0.0.0.0/8` and `::`, loopback, private (10/8, 172.16/12, 192.168/16),
/// CGNAT 100.64/10, link-local 169.254/16 (incl. the 169.254.169.254 metadata service) and fe80::/10,
/// unique-local fc00::/7, site-local fec0::/10, multicast, broadcast and reserved 240/4, the
/// documentation/benchmark/IETF ranges, Teredo, and any IPv6 form that embeds an IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) whose IPv4 part is refused.
#[must_use]
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0                              // "this network"
        || a == 10                                    // private
        || a == 127                                   // loopback
        || (a == 100 && (64..128).contains(&b))       // CGNAT
        || (a == 169 && b == 254)                     // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))        // private
        || (a == 192 && b == 0 && c == 0)             // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)             // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)           // 6to4 relay anycast
        || (a == 192 && b == 168)                     // private
        || (a == 198 && (b == 18 || b == 19))         // benchmarking
        || (a == 198 && b == 51 && c == 100)          // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)           // TEST-NET-3
        || a >= 224; // multicast, reserved 240/4, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(embedded) = embedded_v4(ip) {
        return is_public_v4(embedded);
    }
    let s = ip.segments();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00                  // unique-local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                  // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                  // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00                  // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)         // documentation
        || (s[0] == 0x2001 && s[1] == 0x0000)         // Teredo (tunnels to arbitrary IPv4)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]); // discard-only 100::/64
    !refused
}

/// The IPv4 address hidden in an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || compatible || nat64 {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// The name resolved to an address the policy refuses; the connection is never attempted.
#[derive(Debug, thiserror::Error)]
#[error("refusing to connect: {name} resolves to non-public address {address}")]
pub struct NonPublicAddress {
    name: String,
    address: IpAddr,
}

/// Resolves `name` and checks every address against `policy`.
///
/// # Errors
/// [`NonPublicAddress`] when any address is refused; the resolver's error when the name does
/// not resolve (an empty answer included).
pub async fn resolve_checked(
    policy: AddressPolicy,
    name: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    // Port 0: reqwest substitutes the URL's port.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no address").into());
    }
    if let Some(bad) = addrs.iter().find(|addr| !policy.allows(addr.ip())) {
        return Err(NonPublicAddress {
            name: name.to_owned(),
            address: bad.ip(),
        }
        .into());
    }
    Ok(addrs)
}

/// A DNS resolver that resolves normally, then refuses any answer with an address outside its
/// policy.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver(AddressPolicy);

impl GuardedResolver {
    #[must_use]
    pub const fn new(policy: AddressPolicy) -> Self {
        Self(policy)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(policy, &name).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn refuses_internal_and_special_addresses() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
        ];
        for addr in refused {
            assert!(!is_public_ip(ip(addr)), "{addr} should be refused");
        }
    }

    #[test]
    fn allows_public_addresses() {
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "95.213.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "192.167.1.1",
            "198.17.0.1",
            "223.255.255.254",
            "2a00:1450:4010::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for addr in allowed {
            assert!(is_public_ip(ip(addr)), "{addr} should be allowed");
        }
    }

    #[test]
    fn loopback_is_allowed_only_by_the_development_policy() {
        for addr in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(AddressPolicy::PublicOrLoopback.allows(ip(addr)), "{addr}");
            assert!(!AddressPolicy::PublicOnly.allows(ip(addr)), "{addr}");
        }
        for addr in ["10.0.0.1", "169.254.169.254", "fd00::1"] {
            assert!(!AddressPolicy::PublicOrLoopback.allows(ip(addr)), "{addr}");
        }
    }

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_to_loopback() {
        let name = Name::from_str("localhost").expect("valid name");
        let err = match GuardedResolver::new(AddressPolicy::PublicOnly)
            .resolve(name)
            .await
        {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(err) => err,
        };
        assert!(err.is::<NonPublicAddress>(), "{err}");
    }

    #[tokio::test]
    async fn resolver_refuses_ip_literals_of_private_ranges() {
        for literal in ["127.0.0.1", "10.0.0.1", "169.254.169.254"] {
            let name = Name::from_str(literal).expect("valid name");
            let err = GuardedResolver::new(AddressPolicy::PublicOnly)
                .resolve(name)
                .await
                .err();
            assert!(
                err.is_some_and(|e| e.is::<NonPublicAddress>()),
                "{literal} was not refused"
            );
        }
    }
}
