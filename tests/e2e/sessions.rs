//! Server-side sessions (issue 2, acceptance 4; docs/security-requirements.md R6–R10).

use amolink_tests::{Engine, both_engines, spawn_app, spawn_app_with};
use chrono::Duration;
use web::session::Timeouts;

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("amolink_sid="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

async fn replaying_a_logged_out_cookie_gets_the_login_page(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();
    let res = browser
        .sign_up("ann@example.com", "correct horse battery", "Acme")
        .await;
    let cookie = session_cookie(&res).expect("session cookie set at sign-up");
    assert_eq!(browser.log_out().await.status(), 303);

    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/dashboard", app.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert_eq!(replay.headers()["location"], "/login");
}

async fn the_session_cookie_changes_at_login(engine: Engine) {
    let app = spawn_app(engine).await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    let browser = app.browser();
    // The sign-in page makes no session (its CSRF token is a signed cookie of its own).
    let login_page = browser.get("/login").await;
    assert!(session_cookie(&login_page).is_none(), "no pre-session");
    let html = login_page.text().await.unwrap();
    let token = amolink_tests::csrf_token_in(&html).unwrap();
    let res = browser
        .post_form(
            "/login",
            &[
                ("email", "ann@example.com"),
                ("password", "correct horse battery"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let first = session_cookie(&res).expect("a cookie at login");

    // Signing in again from a signed-in browser (a planted or older id) never keeps the id.
    let token = amolink_tests::csrf_token_in(&browser.get_html("/login").await);
    assert!(
        token.is_none(),
        "a signed-in browser is sent to its dashboard"
    );
    let res = browser.log_out().await;
    assert_eq!(res.status(), 303);
    let res = browser
        .post_form(
            "/login",
            &[
                ("email", "ann@example.com"),
                ("password", "correct horse battery"),
                ("csrf_token", &browser.csrf_token("/login").await),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let second = session_cookie(&res).expect("a new cookie at the next login");
    assert_ne!(first, second);

    // The earlier id no longer resolves to anything.
    let old = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/dashboard", app.address))
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 303);
}

async fn idle_and_absolute_timeouts_end_sessions(engine: Engine) {
    let app = spawn_app_with(engine, &[], |o| {
        o.session_timeouts = Timeouts {
            idle: std::time::Duration::from_secs(30 * 60),
            absolute: std::time::Duration::from_secs(12 * 60 * 60),
        };
    })
    .await;
    let browser = app.signed_in_browser("ann@example.com", "Acme").await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        browser.get("/dashboard").await.status(),
        200,
        "still active"
    );
    app.clock.advance(Duration::minutes(31));
    assert_eq!(
        browser.get("/dashboard").await.status(),
        303,
        "idle timeout"
    );

    let browser = app.signed_in_browser("bob@example.com", "Bob Co").await;
    for _ in 0..25 {
        app.clock.advance(Duration::minutes(29));
        if browser.get("/dashboard").await.status() != 200 {
            break;
        }
    }
    assert_eq!(
        browser.get("/dashboard").await.status(),
        303,
        "absolute timeout"
    );
}

both_engines!(
    replaying_a_logged_out_cookie_gets_the_login_page,
    the_session_cookie_changes_at_login,
    idle_and_absolute_timeouts_end_sessions,
);
