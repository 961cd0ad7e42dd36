//! CSRF (issue 2, acceptance 5; docs/security-requirements.md R11).

use amolink_tests::{Engine, both_engines, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement};

async fn count_users(app: &amolink_tests::TestApp) -> i64 {
    app.database
        .connection()
        .query_one_raw(Statement::from_string(
            app.database.connection().get_database_backend(),
            "SELECT COUNT(*) AS n FROM users",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

async fn forms_without_or_with_a_wrong_token_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();
    let _ = browser.get("/signup").await; // the browser holds a real anonymous CSRF cookie
    let fields = [
        ("email", "ann@example.com"),
        ("password", "correct horse battery"),
        ("workspace", "Acme"),
    ];
    let missing = browser.post_form("/signup", &fields).await;
    assert_eq!(missing.status(), 403);
    let mut forged = fields.to_vec();
    forged.push(("csrf_token", "forged-token"));
    assert_eq!(browser.post_form("/signup", &forged).await.status(), 403);
    assert_eq!(count_users(&app).await, 0, "nothing was created");

    // Another session's token does not work either.
    let other = app.browser().csrf_token("/signup").await;
    let mut foreign = fields.to_vec();
    foreign.push(("csrf_token", &other));
    assert_eq!(browser.post_form("/signup", &foreign).await.status(), 403);
    assert_eq!(count_users(&app).await, 0);

    // Log-out without a token leaves the session alone.
    let signed_in = app.signed_in_browser("bob@example.com", "Bob Co").await;
    assert_eq!(signed_in.post_form("/logout", &[]).await.status(), 403);
    assert_eq!(signed_in.get("/dashboard").await.status(), 200);
}

async fn cross_site_form_posts_are_refused_even_with_a_token(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.signed_in_browser("ann@example.com", "Acme").await;
    let token = browser.csrf_token("/dashboard").await;
    let res = browser
        .client
        .post(browser.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(browser.get("/dashboard").await.status(), 200);
}

both_engines!(
    forms_without_or_with_a_wrong_token_are_refused,
    cross_site_form_posts_are_refused_even_with_a_token,
);

/// A forged cross-site form arrives without the session cookie (SameSite=Lax) and without a
/// token: every state-changing page route refuses it with 403 — before any sign-in redirect.
async fn forged_posts_without_a_session_are_refused_everywhere(engine: Engine) {
    let app = spawn_app(engine).await;
    let stranger = app.browser();
    let id = uuid::Uuid::new_v4();
    for path in [
        "/logout".to_owned(),
        "/buttons".to_owned(),
        "/settings/api-keys".to_owned(),
        format!("/settings/api-keys/{id}/revoke"),
        format!("/connections/{id}/revoke"),
    ] {
        let res = stranger.post_form(&path, &[("name", "x")]).await;
        assert_eq!(res.status(), 403, "{path}");
    }
}

both_engines!(forged_posts_without_a_session_are_refused_everywhere);
