//! No storage without a reason (issue 14, acceptance 3): one address viewing the sign-in,
//! sign-up and connect pages 10 000 times each is refused with 429 once its allowance is spent;
//! the anonymous pages leave no session row at all (their CSRF token is a signed double-submit
//! cookie), and the connect views at most one flow row per allowed request. Per-workspace caps
//! bound what a tenant can store: buttons, API keys, webhook endpoints, connect sessions.

use std::time::Instant;

use amolink_tests::{Engine, TestApp, both_engines, spawn_app_with};
use futures_util::{StreamExt as _, stream};
use sea_orm::{ConnectionTrait as _, Statement};

const VIEWS: usize = 10_000;
/// The allowance the test sets: a burst of 100, then 10 a second.
const BURST: u32 = 100;
const PER_SECOND: f64 = 10.0;

/// The one value `sql` selects (as column `v`).
async fn scalar<T: sea_orm::TryGetable>(app: &TestApp, sql: String) -> T {
    let conn = app.database.connection();
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "v").unwrap()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    scalar(app, format!("SELECT COUNT(*) AS v FROM {table}")).await
}

/// Sends `VIEWS` GETs of `paths` (in turn) from one address, 16 at a time; the statuses seen.
async fn view(app: &TestApp, paths: &[String]) -> Vec<u16> {
    let client = reqwest::Client::new();
    stream::iter(0..VIEWS)
        .map(|n| {
            let url = format!("{}{}", app.address, paths[n % paths.len()]);
            let client = client.clone();
            async move { client.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// The most requests the allowance lets through in `seconds`.
fn allowance(seconds: f64) -> i64 {
    i64::from(BURST) + (PER_SECOND * seconds).ceil() as i64 + 1
}

async fn one_address_gets_a_bounded_share_of_the_public_pages(engine: Engine) {
    let app = spawn_app_with(engine, &[], |overrides| {
        overrides.slow_clients.pages_per_address = web::api::RatePolicy {
            burst: BURST,
            per_second: PER_SECOND,
        };
    })
    .await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    let key: String = scalar(&app, "SELECT \"key\" AS v FROM connect_buttons".to_owned()).await;
    let sessions_before = count(&app, "web_sessions").await;
    let flows_before = count(&app, "connect_flows").await;

    // One allowance covers the three pages: the rows both floods leave are bounded by it.
    let started = Instant::now();
    let pages = view(&app, &["/login".to_owned(), "/signup".to_owned()]).await;
    let connects = view(&app, &[format!("/connect/{key}")]).await;
    let elapsed = started.elapsed().as_secs_f64();
    for (what, statuses) in [("anonymous pages", &pages), ("connect pages", &connects)] {
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 429),
            "{what}: only 200 and 429"
        );
        assert!(
            statuses.iter().filter(|s| **s == 429).count() > VIEWS / 2,
            "{what}: the address is refused once its allowance is spent"
        );
    }
    let sessions = count(&app, "web_sessions").await - sessions_before;
    let flows = count(&app, "connect_flows").await - flows_before;
    // Anonymous pages store no session (their CSRF token is a signed cookie); connect views
    // leave at most one flow row per allowed request.
    assert_eq!(sessions, 0, "{VIEWS} anonymous page views stored sessions");
    let bound = allowance(elapsed);
    assert!(
        flows <= bound,
        "{flows} flow rows after {VIEWS} connect views (bound {bound})"
    );
}

both_engines!(one_address_gets_a_bounded_share_of_the_public_pages);

async fn a_workspace_cannot_add_buttons_past_the_cap(engine: Engine) {
    use domain::{
        connect::{Button, ButtonKey, ButtonSettings, MAX_BUTTONS_PER_WORKSPACE},
        ids::ButtonId,
        ports::ButtonRepository as _,
    };
    let app = spawn_app_with(engine, &[], |_| {}).await;
    let tenant = app.signed_in_browser("ann@example.com", "Acme").await;
    let workspace = only_workspace(&app).await;
    // The sign-up made the first button; fill up to the cap behind the form's back.
    for n in 1..MAX_BUTTONS_PER_WORKSPACE {
        let button = Button {
            id: ButtonId::random(),
            workspace,
            key: ButtonKey::mint(),
            settings: ButtonSettings::default_for(
                &format!("Button {n}"),
                "https://acme.example/logo.png".parse().unwrap(),
            ),
        };
        app.database
            .insert_button(&button, chrono::Utc::now())
            .await
            .unwrap();
    }
    let res = tenant
        .submit(
            "/dashboard",
            "/buttons",
            &[
                ("platform", "kommo"),
                ("name", "One too many"),
                ("description", "Syncs leads"),
                ("logo_url", "https://acme.example/logo.png"),
                ("title", "Continue with Kommo"),
                ("color", "dark"),
                ("mode", "popup"),
                ("scope_crm", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("100 connect buttons"));
    assert_eq!(
        count(&app, "connect_buttons").await,
        i64::try_from(MAX_BUTTONS_PER_WORKSPACE).unwrap()
    );
}

both_engines!(a_workspace_cannot_add_buttons_past_the_cap);

async fn one_button_gets_a_bounded_share_of_connect_views_from_every_address(engine: Engine) {
    let app = spawn_app_with(engine, &[("trusted_proxies", "127.0.0.1")], |overrides| {
        overrides.slow_clients.connect_per_button = web::api::RatePolicy {
            burst: 5,
            per_second: 0.001,
        };
    })
    .await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    let key: String = scalar(&app, "SELECT \"key\" AS v FROM connect_buttons".to_owned()).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 1..=10u8 {
        let res = client
            .get(format!("{}/connect/{key}", app.address))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429, 429, 429],
        "ten addresses share one button's allowance"
    );
}

both_engines!(one_button_gets_a_bounded_share_of_connect_views_from_every_address);

/// A form field.
type Field<'a> = (&'a str, &'a str);

/// Anonymous pages store nothing: their forms' CSRF token is a signed double-submit cookie, not
/// a session row. Views of every anonymous page, with and without a cookie jar, leave the
/// sessions table as it was; each anonymous form still works with its token and refuses a
/// missing or forged one with the 403 page; only signing in (or up) makes a row.
async fn anonymous_pages_leave_no_session_rows(engine: Engine) {
    use amolink_tests::{SmtpSink, link_in};

    use crate::teams::{PASSWORD, invite, join, local};

    const VIEWS_EACH: usize = 25;
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let app = spawn_app_with(
        engine,
        &[
            ("smtp_url", smtp.as_str()),
            ("mail_from", "amolink <noreply@amolink.test>"),
        ],
        |_| {},
    )
    .await;
    let owner = app.signed_in_browser("ann@example.com", "Acme").await;
    let invite_link = invite(&owner, "bob@example.com", "viewer").await;
    let asked = app
        .browser()
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "ann@example.com")],
        )
        .await;
    assert_eq!(asked.status(), 200);
    let mail = sink.wait_for("ann@example.com", 1).await;
    let reset_link = link_in(
        &mail[0].body,
        &format!("{}/password/reset?token=", app.address),
    )
    .expect("the mail holds the reset link");
    let invite_token = crate::teams::token_of(&invite_link);
    let pages = [
        "/login".to_owned(),
        "/signup".to_owned(),
        "/password/forgot".to_owned(),
        local(&reset_link),
        local(&invite_link),
    ];

    let sessions_before = count(&app, "web_sessions").await;
    let jar = app.browser();
    let bare = reqwest::Client::new();
    for page in &pages {
        for _ in 0..VIEWS_EACH {
            let res = jar.get(page).await;
            assert_eq!(res.status(), 200, "{page}");
            assert!(
                res.text().await.unwrap().contains("name=\"csrf_token\""),
                "{page} has a form with a token"
            );
            let res = bare
                .get(format!("{}{page}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{page}");
            assert!(
                res.headers()
                    .get_all("set-cookie")
                    .iter()
                    .all(|c| !c.to_str().unwrap().starts_with("amolink_sid=")),
                "{page} sets no session cookie"
            );
        }
    }
    assert_eq!(
        count(&app, "web_sessions").await,
        sessions_before,
        "{} anonymous views left no session row",
        2 * VIEWS_EACH * pages.len()
    );

    // Every anonymous form refuses a missing token, a forged one, and another browser's.
    let forms: [(&str, &str, Vec<Field>); 4] = [
        (
            "/login",
            "/login",
            vec![("email", "ann@example.com"), ("password", PASSWORD)],
        ),
        (
            "/signup",
            "/signup",
            vec![
                ("email", "carol@example.com"),
                ("password", PASSWORD),
                ("workspace", "Carol Co"),
            ],
        ),
        (
            "/password/forgot",
            "/password/forgot",
            vec![("email", "ann@example.com")],
        ),
        (
            pages[4].as_str(),
            "/invite",
            vec![("token", invite_token.as_str()), ("password", PASSWORD)],
        ),
    ];
    let other = app.browser();
    for (page, action, fields) in &forms {
        let stranger = app.browser();
        let _ = stranger.get(page).await; // holds a cookie of its own
        assert_eq!(
            stranger.post_form(action, fields).await.status(),
            403,
            "{action}: no token"
        );
        let mut forged = fields.clone();
        forged.push(("csrf_token", "forged-token"));
        assert_eq!(
            stranger.post_form(action, &forged).await.status(),
            403,
            "{action}: forged"
        );
        let foreign_token = other.csrf_token(page).await;
        let mut foreign = fields.clone();
        foreign.push(("csrf_token", &foreign_token));
        assert_eq!(
            stranger.post_form(action, &foreign).await.status(),
            403,
            "{action}: another browser's token"
        );
        // A token without its cookie (a client that keeps none) is refused too.
        let res = bare
            .post(format!("{}{action}", app.address))
            .form(&foreign)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{action}: token without its cookie");
        assert!(res.text().await.unwrap().contains("<html"), "the 403 page");
    }
    assert_eq!(count(&app, "web_sessions").await, sessions_before);

    // …and works with its own token, end to end; a forgotten-password request stores no
    // session either, signing in and up make one each.
    let res = app
        .browser()
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(count(&app, "web_sessions").await, sessions_before);
    assert_eq!(
        app.browser()
            .log_in("ann@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(
        app.browser()
            .sign_up("carol@example.com", PASSWORD, "Carol Co")
            .await
            .status(),
        303
    );
    let bob = join(&app, &invite_link).await;
    assert_eq!(bob.get("/dashboard").await.status(), 200);
    assert_eq!(count(&app, "web_sessions").await, sessions_before + 3);
    let res = app.browser().get(&local(&reset_link)).await;
    assert_eq!(res.status(), 200);
    let reset = app
        .browser()
        .submit(
            &local(&reset_link),
            "/password/reset",
            &[
                ("token", &crate::teams::token_of(&reset_link)),
                ("password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(reset.status(), 200, "the reset form works with its token");
}

both_engines!(anonymous_pages_leave_no_session_rows);

/// The id of the only workspace.
async fn only_workspace(app: &TestApp) -> domain::ids::WorkspaceId {
    domain::ids::WorkspaceId::from_uuid(
        scalar(app, "SELECT id AS v FROM workspaces".to_owned()).await,
    )
}

async fn a_workspace_cannot_hold_api_keys_past_the_cap(engine: Engine) {
    use domain::api_keys::MAX_KEYS_PER_WORKSPACE;

    use crate::api_keys::create_key;

    let app = spawn_app_with(engine, &[], |_| {}).await;
    let tenant = app.signed_in_browser("ann@example.com", "Acme").await;
    for n in 0..MAX_KEYS_PER_WORKSPACE {
        create_key(&tenant, &format!("key {n}"), &["read"]).await;
    }
    let one_too_many = [
        ("name", "one too many"),
        ("scopes_shown", "1"),
        ("scope_read", "on"),
    ];
    let res = tenant
        .submit("/settings/api-keys", "/settings/api-keys", &one_too_many)
        .await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("already has 50 API keys"), "{html}");
    assert_eq!(
        count(&app, "api_keys").await,
        i64::try_from(MAX_KEYS_PER_WORKSPACE).unwrap()
    );

    // The cap counts usable keys: revoking one makes room for one.
    let page = tenant.get_html("/settings/api-keys").await;
    let id = amolink_tests::Page::parse(&page)
        .id_after("/settings/api-keys/")
        .unwrap();
    let revoked = tenant
        .submit(
            "/settings/api-keys",
            &format!("/settings/api-keys/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoked.status(), 303);
    create_key(&tenant, "room again", &["read"]).await;
}

both_engines!(a_workspace_cannot_hold_api_keys_past_the_cap);

async fn a_workspace_cannot_add_webhook_endpoints_past_the_cap(engine: Engine) {
    use crate::webhooks::{Receiver, add_endpoint};

    let max = domain::webhooks::MAX_ENDPOINTS_PER_WORKSPACE;
    let app = spawn_app_with(engine, &[], |_| {}).await;
    let tenant = app.signed_in_browser("ann@example.com", "Acme").await;
    let receiver = Receiver::start("127.0.0.1").await;
    for _ in 0..max {
        add_endpoint(&tenant, &receiver.url, &["connection.created"]).await;
    }
    let res = tenant
        .submit(
            "/settings/webhooks",
            "/settings/webhooks",
            &[("url", receiver.url.as_str()), ("connection.created", "on")],
        )
        .await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("already has {max} webhook endpoints")),
        "{html}"
    );
    assert_eq!(
        count(&app, "webhook_endpoints").await,
        i64::try_from(max).unwrap()
    );
}

both_engines!(a_workspace_cannot_add_webhook_endpoints_past_the_cap);

async fn a_workspace_cannot_hold_open_connect_sessions_past_the_cap(engine: Engine) {
    use domain::{
        clock::Clock as _,
        connect_sessions::{
            ConnectSessionRepository as _, MAX_OPEN_SESSIONS_PER_WORKSPACE, NewConnectSession,
        },
        end_user::{EndUser, EndUserId},
        ids::{ButtonId, ConnectSessionId},
    };
    use reqwest::Method;
    use serde_json::json;

    use crate::{
        api::{Api, problem},
        api_keys::tenant_with_key,
    };

    let app = spawn_app_with(engine, &[], |_| {}).await;
    let (_tenant, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);
    let workspace = only_workspace(&app).await;
    let button =
        ButtonId::from_uuid(scalar(&app, "SELECT id AS v FROM connect_buttons".to_owned()).await);
    // One through the API, the rest behind its back (the same rows the API would write).
    let first = api
        .call(
            Method::POST,
            "/connect-sessions",
            Some(json!({"end_user_id": "customer-0"})),
        )
        .await;
    assert_eq!(first.status(), 201);
    let now = app.clock.now();
    for n in 1..MAX_OPEN_SESSIONS_PER_WORKSPACE {
        app.database
            .insert_connect_session(&NewConnectSession {
                id: ConnectSessionId::random(),
                workspace,
                button,
                token_hash: format!("{n:064}"),
                end_user: EndUser {
                    id: EndUserId::parse(&format!("customer-{n}")).unwrap(),
                    metadata: None,
                },
                created_at: now,
                expires_at: now + chrono::Duration::minutes(30),
            })
            .await
            .unwrap();
    }
    let refused = api
        .call(
            Method::POST,
            "/connect-sessions",
            Some(json!({"end_user_id": "one-too-many"})),
        )
        .await;
    let body = problem(refused, 409).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("1000 open connect sessions"),
        "{body}"
    );
    assert_eq!(
        count(&app, "connect_sessions").await,
        i64::try_from(MAX_OPEN_SESSIONS_PER_WORKSPACE).unwrap()
    );

    // Expired sessions no longer count.
    app.clock.advance(chrono::Duration::minutes(31));
    let again = api
        .call(
            Method::POST,
            "/connect-sessions",
            Some(json!({"end_user_id": "later"})),
        )
        .await;
    assert_eq!(again.status(), 201);
}

both_engines!(a_workspace_cannot_hold_open_connect_sessions_past_the_cap);
