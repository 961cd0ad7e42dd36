//! API calls: `/api/v4/account`, the subdomain lookup and the tenant proxy.

mod support;

use amocrm::testing::hostile_referer_samples;
use amocrm::{AccountInfo, AmoError, DomainAllowList, ForwardRequest};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use support::{Creds, FakeAmo, Reply, assert_no_canary, host};

#[actix_web::test]
async fn account_sends_the_bearer_token_and_tolerates_extra_fields() {
    let fake = FakeAmo::start(|_| {
        Reply::raw(
            200,
            "application/hal+json",
            json!({
                "id": 31_000_123, "name": "<img src=x onerror=alert(1)>", "subdomain": "acme",
                "created_at": 1_600_000_000, "current_user_id": 11_223_344, "country": "RU",
                "currency": "RUB", "_links": {"self": {"href": "https://acme.amocrm.ru/api/v4/account"}}
            })
            .to_string()
            .into_bytes(),
        )
    });
    let creds = Creds::new();
    let info = fake
        .client()
        .account(&host("acme.amocrm.ru"), &creds.access_token)
        .await
        .expect("account");
    assert_eq!(
        info,
        AccountInfo {
            id: 31_000_123,
            name: "<img src=x onerror=alert(1)>".into(),
            subdomain: "acme".into(),
            current_user_id: Some(11_223_344),
        }
    );
    let hit = &fake.hits()[0];
    assert_eq!(
        (hit.method.as_str(), hit.path.as_str()),
        ("GET", "/api/v4/account")
    );
    assert_eq!(hit.header("host"), Some("acme.amocrm.ru"));
    assert_eq!(
        hit.header("authorization"),
        Some("Bearer canary-access-token")
    );
}

#[actix_web::test]
async fn api_errors_are_classified() {
    let cases = [
        (401, "unauthorized"),
        (402, "payment_required"),
        (403, "forbidden"),
        (404, "not_found"),
        (429, "rate_limited"),
        (503, "server_error"),
    ];
    let creds = Creds::new();
    for (status, kind) in cases {
        let body = json!({"title": "Unauthorized", "type": "https://httpstatus.es/401", "status": status,
                          "detail": "Неверный логин или пароль"});
        let fake = FakeAmo::start(move |_| Reply::problem(status, &body));
        let err = fake
            .client()
            .account(&host("acme.amocrm.ru"), &creds.access_token)
            .await
            .expect_err("must fail");
        assert_eq!(err.kind(), kind, "{status}");
        assert_no_canary(&format!("{err} {err:?}"));
    }
}

#[actix_web::test]
async fn current_subdomain_sends_the_refresh_token_header_to_the_api_domain() {
    let fake = FakeAmo::start(|_| {
        Reply::json(
            200,
            &json!({"id": 31_000_123, "subdomain": "renamed", "domain": "renamed.amocrm.ru",
                                 "top_level_domain": "ru"}),
        )
    });
    let creds = Creds::new();
    let moved = fake
        .client()
        .current_subdomain("api-b.amocrm.ru", &creds.refresh_token)
        .await
        .expect("lookup");
    assert_eq!(moved.subdomain, "renamed");
    let new_host = moved
        .host(&DomainAllowList::default())
        .expect("allow-listed");
    assert_eq!(new_host.as_str(), "renamed.amocrm.ru");

    let hit = &fake.hits()[0];
    assert_eq!(
        (hit.method.as_str(), hit.path.as_str()),
        ("GET", "/oauth2/account/current/subdomain")
    );
    assert_eq!(hit.query, "");
    assert_eq!(hit.header("host"), Some("api-b.amocrm.ru"));
    assert_eq!(hit.header("x-refresh-token"), Some("canary-refresh-token"));
    assert_eq!(hit.header("authorization"), None);
}

#[actix_web::test]
async fn current_subdomain_refuses_hostile_api_domains_before_sending() {
    let fake = FakeAmo::start(|_| Reply::json(200, &json!({})));
    let client = fake.client();
    let creds = Creds::new();
    for api_domain in hostile_referer_samples() {
        let err = client
            .current_subdomain(api_domain, &creds.refresh_token)
            .await
            .expect_err("hostile api_domain");
        assert!(
            matches!(err, AmoError::InvalidHost(_)),
            "{api_domain:?}: {err:?}"
        );
    }
    assert_eq!(
        fake.hits().len(),
        0,
        "a request left for a hostile api_domain"
    );
}

fn forward_request(method: Method, path: &str, query: Option<&str>) -> ForwardRequest {
    ForwardRequest {
        method,
        path: path.into(),
        query: query.map(Into::into),
        headers: HeaderMap::new(),
        body: Bytes::new(),
    }
}

#[actix_web::test]
async fn forward_relays_method_path_query_body_and_allowed_headers_only() {
    let fake = FakeAmo::start(|_| {
        Reply::raw(
            400,
            "application/problem+json",
            br#"{"title":"Bad Request"}"#.to_vec(),
        )
        .header("set-cookie", "session=upstream")
        .header("etag", "\"v1\"")
    });
    let mut req = forward_request(
        Method::PATCH,
        "/api/v4/leads/42",
        Some("with=contacts&filter[id][]=1"),
    );
    req.body = Bytes::from_static(br#"[{"id":42,"price":100}]"#);
    for (name, value) in [
        ("content-type", "application/json"),
        ("authorization", "Bearer alk_tenant_key"),
        ("host", "evil.example"),
        ("cookie", "sid=tenant"),
        ("x-context-user-id", "77"),
    ] {
        req.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let creds = Creds::new();
    let response = fake
        .client()
        .forward(&host("acme.amocrm.ru"), &creds.access_token, req)
        .await
        .expect("forwarded");

    assert_eq!(
        response.status.as_u16(),
        400,
        "upstream statuses pass through"
    );
    assert_eq!(
        response.headers.get("etag").map(|v| v.as_bytes()),
        Some(&b"\"v1\""[..])
    );
    assert!(response.headers.get("set-cookie").is_none());
    assert_eq!(
        response.collect().await.expect("body"),
        Bytes::from_static(br#"{"title":"Bad Request"}"#)
    );

    let hit = &fake.hits()[0];
    assert_eq!(hit.method, "PATCH");
    assert_eq!(hit.path, "/api/v4/leads/42");
    assert_eq!(hit.query, "with=contacts&filter[id][]=1");
    assert_eq!(hit.body, br#"[{"id":42,"price":100}]"#);
    assert_eq!(hit.header("host"), Some("acme.amocrm.ru"));
    assert_eq!(
        hit.header("authorization"),
        Some("Bearer canary-access-token")
    );
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(hit.header("x-context-user-id"), Some("77"));
    assert_eq!(hit.header("cookie"), None);
}

#[actix_web::test]
async fn forward_refuses_traversal_before_any_request() {
    let fake = FakeAmo::start(|_| Reply::json(200, &json!({})));
    let client = fake.client();
    let creds = Creds::new();
    let attempts: &[(&str, Option<&str>)] = &[
        ("/api/v4/../../oauth2/access_token", None),
        ("/api/v4/..%2f..%2foauth2", None),
        ("/api/v4/%2e%2e/%2e%2e/oauth2/access_token", None),
        ("/api/v4//evil.com", None),
        ("//evil.com/api/v4/leads", None),
        ("/api/v4/\\..\\oauth2", None),
        ("https://evil.com/api/v4/leads", None),
        ("http://127.0.0.1/api/v4/leads", None),
        ("/oauth2/access_token", None),
        ("/api/v4/leads?x=1", None),
        ("/api/v4/leads", Some("a=1#fragment")),
        ("/api/v4/leads", Some("a=1\r\nHost: evil")),
    ];
    for (path, query) in attempts {
        let err = client
            .forward(
                &host("acme.amocrm.ru"),
                &creds.access_token,
                forward_request(Method::GET, path, *query),
            )
            .await
            .err();
        assert!(
            matches!(err, Some(AmoError::UnsafeRequest { .. })),
            "{path:?} {query:?}: {err:?}"
        );
    }
    let err = client
        .forward(
            &host("acme.amocrm.ru"),
            &creds.access_token,
            forward_request(Method::TRACE, "/api/v4/leads", None),
        )
        .await
        .err();
    assert!(
        matches!(err, Some(AmoError::UnsafeRequest { .. })),
        "{err:?}"
    );
    assert_eq!(
        fake.hits().len(),
        0,
        "a refused request reached the upstream"
    );
}

#[actix_web::test]
async fn forward_refuses_redirects_and_caps_streamed_bodies() {
    let fake = FakeAmo::start(|_| {
        Reply::raw(302, "text/html", Vec::new()).header("location", "http://127.0.0.9/")
    });
    let creds = Creds::new();
    let err = fake
        .client()
        .forward(
            &host("acme.amocrm.ru"),
            &creds.access_token,
            forward_request(Method::GET, "/api/v4/leads", None),
        )
        .await
        .err();
    assert!(
        matches!(err, Some(AmoError::RedirectRefused { status: 302 })),
        "{err:?}"
    );

    let big = FakeAmo::start(|_| {
        Reply::raw(200, "application/hal+json", vec![b'x'; 3 * 1024 * 1024]).chunked()
    });
    let client = big.client_with(|settings| settings.max_forward_body_bytes = 1024 * 1024);
    let response = client
        .forward(
            &host("acme.amocrm.ru"),
            &creds.access_token,
            forward_request(Method::GET, "/api/v4/leads", None),
        )
        .await
        .expect("headers arrive");
    assert_eq!(response.status.as_u16(), 200);
    assert!(matches!(
        response.collect().await,
        Err(AmoError::ResponseTooLarge)
    ));

    let small = FakeAmo::start(|_| {
        Reply::raw(200, "application/hal+json", vec![b'y'; 200 * 1024]).chunked()
    });
    let response = small
        .client()
        .forward(
            &host("acme.amocrm.ru"),
            &creds.access_token,
            forward_request(Method::GET, "/api/v4/leads", None),
        )
        .await
        .expect("forwarded");
    assert_eq!(
        response.collect().await.expect("under the cap").len(),
        200 * 1024
    );
}
