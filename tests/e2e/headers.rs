//! Security headers and log hygiene (issue 2, acceptance 6; docs/security-requirements.md R12, R28).

use amolink_tests::{Engine, captured_logs, spawn_app};

const HTML_PAGES: &[&str] = &[
    "/",
    "/signup",
    "/login",
    "/dashboard",
    "/connections",
    "/no-such-page",
];

fn assert_security_headers(path: &str, res: &reqwest::Response) {
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: missing {name}"))
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    assert!(csp.contains("object-src 'none'"), "{path}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(
        header("referrer-policy"),
        "strict-origin-when-cross-origin",
        "{path}"
    );
    assert_eq!(header("cache-control"), "no-store", "{path}");
    assert!(
        res.headers().get("server").is_none(),
        "{path}: server header"
    );
}

#[tokio::test]
async fn every_html_response_carries_the_security_headers() {
    let app = spawn_app(Engine::Sqlite).await;
    let anonymous = app.browser();
    let signed_in = app.signed_in_browser("ann@example.com", "Acme").await;
    for path in HTML_PAGES {
        for browser in [&anonymous, &signed_in] {
            let res = browser.get(path).await;
            assert_security_headers(path, &res);
        }
    }
    // Error pages and form answers too.
    let res = anonymous.post_form("/login", &[]).await;
    assert_eq!(res.status(), 403);
    assert_security_headers("POST /login", &res);
}

#[tokio::test]
async fn query_strings_never_reach_the_logs() {
    let app = spawn_app(Engine::Sqlite).await;
    let canary = format!("canary{}", uuid::Uuid::new_v4().simple());
    let browser = app.browser();
    for path in ["/login", "/amocrm/callback", "/no-such-page", "/healthz"] {
        let _ = browser
            .get(&format!("{path}?code={canary}&state={canary}"))
            .await;
    }
    let res = browser
        .client
        .get(browser.url("/login"))
        .header("referer", format!("https://example.com/?code={canary}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let logs = captured_logs();
    assert!(logs.contains("/no-such-page"), "requests are logged");
    assert!(
        !logs.contains(&canary),
        "a query string or referer reached the logs"
    );
}
