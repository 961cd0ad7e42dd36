//! Sign-up, log-in and log-out (issue 2, acceptance 2 and 3).

use amolink_tests::{Engine, both_engines, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement};

const PASSWORD: &str = "correct horse battery";

async fn signup_dashboard_logout_login_round_trip(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();

    let res = browser
        .sign_up("ann@example.com", PASSWORD, "Acme Ltd")
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/dashboard");
    let dashboard = browser.get_html("/dashboard").await;
    assert!(
        dashboard.contains("Acme Ltd"),
        "dashboard shows the workspace"
    );

    let res = browser.log_out().await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    let res = browser.get("/dashboard").await;
    assert_eq!(res.status(), 303, "signed out");
    assert_eq!(res.headers()["location"], "/login");

    let res = browser.log_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(browser.get_html("/dashboard").await.contains("Acme Ltd"));
}

async fn stored_hash_is_argon2id_at_owasp_minimum(engine: Engine) {
    let app = spawn_app(engine).await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    let row = app
        .database
        .connection()
        .query_one_raw(Statement::from_string(
            app.database.connection().get_database_backend(),
            "SELECT password_hash FROM users",
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "password_hash").unwrap();
    let params = hash
        .strip_prefix("$argon2id$v=19$")
        .expect("argon2id v19 PHC string");
    let (m, rest) = params
        .strip_prefix("m=")
        .and_then(|p| p.split_once(",t="))
        .unwrap();
    let (t, rest) = rest.split_once(",p=").unwrap();
    assert!(m.parse::<u32>().unwrap() >= 19_456, "{hash}");
    assert!(t.parse::<u32>().unwrap() >= 2, "{hash}");
    assert!(rest.starts_with("1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

async fn wrong_password_and_unknown_email_get_the_same_answer(engine: Engine) {
    let app = spawn_app(engine).await;
    app.signed_in_browser("ann@example.com", "Acme").await;

    let wrong_password = app
        .browser()
        .log_in("ann@example.com", "not the password")
        .await;
    let unknown_email = app
        .browser()
        .log_in("nobody@example.com", "not the password")
        .await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), wrong_password.status());
    let strip = |html: String| {
        // The forms differ only in the echoed email and their CSRF token.
        html.replace("ann@example.com", "EMAIL")
            .replace("nobody@example.com", "EMAIL")
            .lines()
            .filter(|line| !line.contains("csrf_token"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = strip(wrong_password.text().await.unwrap());
    let b = strip(unknown_email.text().await.unwrap());
    assert_eq!(a, b);
    assert!(a.contains("The email or password is not correct."));
}

async fn the_eleventh_failed_login_for_one_account_is_throttled(engine: Engine) {
    let app = spawn_app(engine).await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    let attacker = app.browser();
    for attempt in 1..=10 {
        let res = attacker.log_in("ann@example.com", "guess-guess").await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
    }
    let res = attacker.log_in("ann@example.com", "guess-guess").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Even the right password is refused while the account is locked.
    let res = app.browser().log_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
}

async fn invalid_signups_are_explained_and_store_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();
    let res = browser.sign_up("not-an-email", "short", "").await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("An email address needs an @."));
    assert!(html.contains("Use at least 8 characters."));
    assert!(html.contains("Name your workspace"));

    app.signed_in_browser("ann@example.com", "Acme").await;
    let res = app
        .browser()
        .sign_up("ANN@example.com", PASSWORD, "Copycat")
        .await;
    assert_eq!(res.status(), 400, "email taken (case-insensitively)");
    let count = app
        .database
        .connection()
        .query_one_raw(Statement::from_string(
            app.database.connection().get_database_backend(),
            "SELECT COUNT(*) AS n FROM workspaces",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(count, 1);
}

both_engines!(
    signup_dashboard_logout_login_round_trip,
    stored_hash_is_argon2id_at_owasp_minimum,
    wrong_password_and_unknown_email_get_the_same_answer,
    the_eleventh_failed_login_for_one_account_is_throttled,
    invalid_signups_are_explained_and_store_nothing,
);
