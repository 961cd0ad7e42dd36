//! The client's address for throttling and logs.
//!
//! `X-Forwarded-For` is trivially forged, so it is believed only when the TCP peer is one of the
//! configured trusted proxies; then the right-most address the proxy appended is used.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;

#[must_use]
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let req = TestRequest::default()
            .peer_addr("203.0.113.7:5000".parse().expect("addr"))
            .insert_header(("x-forwarded-for", "198.51.100.1"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &[]),
            "203.0.113.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn forwarded_for_from_a_trusted_proxy_is_used() {
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().expect("addr"))
            .insert_header(("x-forwarded-for", "1.1.1.1, 198.51.100.1"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &[proxy]),
            "198.51.100.1".parse::<IpAddr>().expect("ip")
        );
    }
}
