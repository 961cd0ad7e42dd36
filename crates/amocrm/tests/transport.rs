//! Transport hardening (docs/security-requirements.md R18): Host header on the wire, no redirects, capped bodies,
//! timeouts, and the override's validation.

mod support;

use std::time::Duration;

use amocrm::{AmoClient, AmoError, BuildError, ClientSettings};
use serde_json::json;
use support::{Creds, FakeAmo, Reply, assert_no_canary, host, install_crypto_provider};
use url::Url;

#[actix_web::test]
async fn the_account_host_is_sent_in_the_host_header() {
    let fake = FakeAmo::start(|_| Reply::json(200, &json!({"access_token": "at"})));
    let creds = Creds::new();
    let client = fake.client();
    for account in ["acme.amocrm.ru", "shop.kommo.com", "old.amocrm.com"] {
        client
            .exchange_code(&host(account), &creds.app(), &creds.code)
            .await
            .expect("exchange succeeds");
    }
    let seen: Vec<_> = fake
        .hits()
        .iter()
        .map(|hit| hit.header("host").map(str::to_owned))
        .collect();
    assert_eq!(
        seen,
        [
            Some("acme.amocrm.ru".to_owned()),
            Some("shop.kommo.com".to_owned()),
            Some("old.amocrm.com".to_owned())
        ]
    );
}

#[actix_web::test]
async fn redirects_are_refused_and_never_followed() {
    let target = FakeAmo::start(|_| Reply::json(200, &json!({"access_token": "stolen"})));
    for status in [301, 302, 303, 307, 308] {
        let location = format!("{}oauth2/access_token", target.base_url());
        let fake = FakeAmo::start(move |_| {
            Reply::raw(status, "text/html", Vec::new()).header("location", &location)
        });
        let creds = Creds::new();
        let err = fake
            .client()
            .exchange_code(&host("acme.amocrm.ru"), &creds.app(), &creds.code)
            .await
            .expect_err("redirect must fail");
        assert!(
            matches!(err, AmoError::RedirectRefused { status: s } if s == status),
            "{err:?}"
        );
        assert_eq!(fake.hits().len(), 1);
    }
    assert_eq!(target.hits().len(), 0, "the redirect target was contacted");
}

#[actix_web::test]
async fn huge_bodies_are_aborted_at_the_cap() {
    let ten_mb = vec![b'a'; 10 * 1024 * 1024];
    for chunked in [false, true] {
        let mut reply = Reply::raw(200, "application/json", ten_mb.clone());
        if chunked {
            reply = reply.chunked();
        }
        let fake = FakeAmo::start(move |_| reply.clone());
        let creds = Creds::new();
        let err = fake
            .client()
            .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
            .await
            .expect_err("too large");
        assert!(
            matches!(err, AmoError::ResponseTooLarge),
            "chunked={chunked}: {err:?}"
        );
    }
}

#[actix_web::test]
async fn bodies_at_the_cap_are_accepted() {
    let body = json!({"access_token": "at", "pad": ""}).to_string();
    let cap = body.len() + 100;
    let padded = json!({"access_token": "at", "pad": "x".repeat(100)}).to_string();
    assert_eq!(padded.len(), cap);
    let fake = FakeAmo::start(move |_| {
        Reply::raw(200, "application/json", padded.clone().into_bytes()).chunked()
    });
    let creds = Creds::new();
    let client = fake.client_with(|settings| settings.max_body_bytes = cap);
    let grant = client
        .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
        .await;
    assert!(grant.is_ok(), "{:?}", grant.err());
    let client = fake.client_with(|settings| settings.max_body_bytes = cap - 1);
    let err = client
        .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
        .await
        .expect_err("one byte over");
    assert!(matches!(err, AmoError::ResponseTooLarge), "{err:?}");
}

#[actix_web::test]
async fn a_slow_server_times_out() {
    let fake = FakeAmo::start(|_| {
        Reply::json(200, &json!({"access_token": "late"})).delayed(Duration::from_secs(3))
    });
    let client = fake.client_with(|settings| settings.timeout = Duration::from_millis(300));
    let creds = Creds::new();
    let started = std::time::Instant::now();
    let err = client
        .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
        .await
        .expect_err("must time out");
    assert!(matches!(err, AmoError::Timeout), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn connection_failures_are_transient_network_errors_without_urls() {
    // Bind a port, then free it: nothing listens there any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    install_crypto_provider();
    let client = AmoClient::new(ClientSettings {
        base_url_override: Some(Url::parse(&format!("http://{addr}/")).expect("url")),
        ..ClientSettings::default()
    })
    .expect("client");
    let creds = Creds::new();
    let err = client
        .exchange_code(&host("acme.amocrm.ru"), &creds.app(), &creds.code)
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, AmoError::Network { .. }), "{err:?}");
    assert!(err.is_transient());
    let shown = format!("{err} {err:?}");
    assert_no_canary(&shown);
    assert!(
        !shown.contains("oauth2/access_token"),
        "URL leaked: {shown}"
    );
}

#[test]
fn the_override_must_be_a_bare_origin() {
    install_crypto_provider();
    for bad in [
        "http://127.0.0.1:1/sim",
        "http://u:p@127.0.0.1:1/",
        "ftp://127.0.0.1/",
    ] {
        let settings = ClientSettings {
            base_url_override: Some(Url::parse(bad).expect("url")),
            ..ClientSettings::default()
        };
        assert!(
            matches!(
                AmoClient::new(settings),
                Err(BuildError::InvalidBaseUrl { .. })
            ),
            "{bad}"
        );
    }
    assert!(AmoClient::new(ClientSettings::default()).is_ok());
}

/// A redirect to an internal address (the cloud metadata service, loopback, a private range) is
/// refused like any other: never followed, and the secret-bearing request is not repeated
/// (security.md R18, §3.4 "redirect_to=http://127.0.0.9/").
#[actix_web::test]
async fn redirects_to_internal_addresses_are_refused() {
    for location in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.9/oauth2/access_token",
        "http://10.0.0.1/",
        "http://[::1]/",
        "file:///etc/passwd",
    ] {
        let fake = FakeAmo::start(move |_| {
            Reply::raw(302, "text/html", Vec::new()).header("location", location)
        });
        let creds = Creds::new();
        let err = fake
            .client()
            .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
            .await
            .expect_err("redirect must fail");
        assert!(
            matches!(err, AmoError::RedirectRefused { status: 302 }),
            "{location}: {err:?}"
        );
        assert_eq!(fake.hits().len(), 1, "{location}: asked once, never again");
    }
}
