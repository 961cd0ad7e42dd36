//! API keys on `/settings/api-keys`: shown once, stored as a keyed hash, scoped, revocable
//! (issue 6).

use amolink_tests::{Browser, Engine, Page, TestApp, both_engines, captured_logs, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement};

/// Creates a key named `name` with `scopes` on the signed-in `browser`; returns the secret the
/// page showed once. The form redirects (post/redirect/get), so a reload creates nothing.
pub async fn create_key(browser: &Browser, name: &str, scopes: &[&str]) -> String {
    let fields: Vec<String> = scopes.iter().map(|s| format!("scope_{s}")).collect();
    let mut form: Vec<(&str, &str)> = vec![("name", name), ("scopes_shown", "1")];
    form.extend(fields.iter().map(|f| (f.as_str(), "on")));
    let res = browser
        .submit("/settings/api-keys", "/settings/api-keys", &form)
        .await;
    assert_eq!(res.status(), 303, "key creation redirects");
    assert_eq!(res.headers()["location"], "/settings/api-keys");
    let html = browser.get_html("/settings/api-keys").await;
    assert!(
        Page::parse(&html)
            .text("p.flash")
            .is_some_and(|t| t.contains("API key created")),
        "a flash message says so"
    );
    secret_in(&html).expect("the new key is shown")
}

/// The `alk_…` key shown on a page, if any.
pub fn secret_in(html: &str) -> Option<String> {
    Page::parse(html).text("code#new-api-key")
}

/// A tenant with a key holding every scope.
pub async fn tenant_with_key(app: &TestApp, email: &str) -> (Browser, String) {
    let browser = app.signed_in_browser(email, "Acme").await;
    let key = create_key(&browser, "backend", &["read", "write", "tokens", "proxy"]).await;
    (browser, key)
}

/// `GET /api/v1/connections` with `key`; the status.
pub async fn list_status(app: &TestApp, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

struct KeyRow {
    key_hash: String,
    prefix: String,
    last_used_at: Option<i64>,
}

async fn key_rows(app: &TestApp) -> Vec<KeyRow> {
    let db = app.database.connection();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT key_hash, prefix, last_used_at FROM api_keys ORDER BY created_at",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| KeyRow {
        key_hash: r.try_get("", "key_hash").unwrap(),
        prefix: r.try_get("", "prefix").unwrap(),
        last_used_at: r.try_get("", "last_used_at").unwrap(),
    })
    .collect()
}

fn dump(app: &TestApp) -> String {
    match app.engine {
        Engine::Sqlite => {
            let mut bytes = Vec::new();
            for file in ["amolink.db", "amolink.db-wal"] {
                bytes.extend(std::fs::read(app.data_dir.join(file)).unwrap_or_default());
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Engine::Postgres => {
            let output = std::process::Command::new("pg_dump")
                .arg(&app.database_url)
                .output()
                .expect("pg_dump runs");
            assert!(output.status.success());
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    }
}

async fn a_key_is_shown_once_and_stored_only_as_a_keyed_hash(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let secret = create_key(&ann, "billing worker", &["read"]).await;
    assert!(secret.starts_with("alk_") && secret.len() == 47, "{secret}");

    let page = ann.get_html("/settings/api-keys").await;
    assert!(
        !page.contains(&secret),
        "shown only once: a reload does not show it again"
    );
    assert!(secret_in(&page).is_none() && !page.contains("class=\"flash\""));
    assert!(page.contains("billing worker") && page.contains(&secret[..12]));
    assert!(
        !page.contains(&secret[..20]),
        "only the first characters are listed"
    );

    let rows = key_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key_hash.len(), 64, "HMAC-SHA256 hex");
    assert_ne!(rows[0].key_hash, secret);
    assert_eq!(rows[0].prefix, secret[..12]);
    let body = &secret[12..];
    assert!(!dump(&app).contains(body), "the key is not in the database");
    assert!(
        !captured_logs().contains(body),
        "the key is not in the logs"
    );
    assert_eq!(list_status(&app, &secret).await, 200);
}

async fn a_revoked_key_is_refused_at_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let secret = create_key(&ann, "worker", &["read"]).await;
    assert_eq!(list_status(&app, &secret).await, 200);
    let page = ann.get_html("/settings/api-keys").await;
    let id = Page::parse(&page).id_after("/settings/api-keys/").unwrap();
    let revoke = format!("/settings/api-keys/{id}/revoke");
    assert_eq!(
        ann.post_form(&revoke, &[]).await.status(),
        403,
        "revoking needs the CSRF token"
    );
    let page = Page::parse(&ann.get_html("/settings/api-keys").await);
    assert!(
        page.attr(&format!("form[action='{revoke}']"), "data-confirm")
            .is_some_and(|c| c.contains("worker")),
        "revoking asks first, naming the key"
    );
    let res = ann.submit("/settings/api-keys", &revoke, &[]).await;
    assert_eq!(res.status(), 303);
    let flash = Page::parse(&ann.get_html("/settings/api-keys").await).text("p.flash");
    assert!(
        flash.is_some_and(|t| t.contains("API key revoked")),
        "a flash message says the key was revoked"
    );
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(ann.get_html("/settings/api-keys").await.contains("Revoked"));
    assert_eq!(
        ann.submit("/settings/api-keys", &revoke, &[])
            .await
            .status(),
        303,
        "revoking twice is harmless"
    );
}

async fn keys_belong_to_their_workspace(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let secret = create_key(&ann, "ann's worker", &["read"]).await;
    let ann_page = ann.get_html("/settings/api-keys").await;
    let id = Page::parse(&ann_page)
        .id_after("/settings/api-keys/")
        .unwrap();
    let bob = app
        .signed_in_browser("bob@example.com", "Bob's Bakery")
        .await;
    let bob_page = bob.get_html("/settings/api-keys").await;
    assert!(!bob_page.contains("ann&#39;s worker") && !bob_page.contains(&secret[..12]));
    for target in [id.clone(), uuid::Uuid::new_v4().to_string(), "nope".into()] {
        let res = bob
            .submit(
                "/settings/api-keys",
                &format!("/settings/api-keys/{target}/revoke"),
                &[],
            )
            .await;
        assert_eq!(res.status(), 404, "{target}");
    }
    assert_eq!(
        list_status(&app, &secret).await,
        200,
        "ann's key still works"
    );
    let anonymous = app.browser().get("/settings/api-keys").await;
    assert_eq!(anonymous.status(), 303, "signed-in only");
}

async fn the_form_validates_and_scripted_posts_get_every_scope(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let res = ann
        .submit(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", "  "), ("scopes_shown", "1"), ("scope_read", "on")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Give the key a name."));
    let res = ann
        .submit(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", "nothing"), ("scopes_shown", "1")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("at least one scope"));
    // The contract names only `name` and `csrf_token`: such a post gets a full-access key.
    let res = ann
        .submit(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", "ci")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = ann.get_html("/settings/api-keys").await;
    assert!(secret_in(&html).is_some_and(|s| s.starts_with("alk_")));
    assert!(html.contains("read, write, tokens, proxy"), "{html}");
}

async fn last_use_is_recorded_at_most_once_a_minute(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let secret = create_key(&ann, "worker", &["read"]).await;
    assert_eq!(key_rows(&app).await[0].last_used_at, None);
    assert!(ann.get_html("/settings/api-keys").await.contains("—"));
    assert_eq!(list_status(&app, &secret).await, 200);
    let first = key_rows(&app).await[0].last_used_at.expect("recorded");
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(list_status(&app, &secret).await, 200);
    assert_eq!(
        key_rows(&app).await[0].last_used_at,
        Some(first),
        "not rewritten"
    );
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(list_status(&app, &secret).await, 200);
    let later = key_rows(&app).await[0].last_used_at.expect("recorded");
    assert_eq!(later - first, 61_000);
}

both_engines!(
    a_key_is_shown_once_and_stored_only_as_a_keyed_hash,
    a_revoked_key_is_refused_at_once,
    keys_belong_to_their_workspace,
    the_form_validates_and_scripted_posts_get_every_scope,
    last_use_is_recorded_at_most_once_a_minute,
);
