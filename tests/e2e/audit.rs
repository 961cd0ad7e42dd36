//! Issue 11, acceptance 5: every audited action leaves exactly one audit entry, and no entry —
//! nor the audit page, the audit API or the logs — holds any of the secrets those actions
//! handled (the suite's canary scan: passwords, API keys, webhook secrets, invitation and
//! password-reset tokens). Also: filters, paging and retention.

use std::collections::BTreeSet;

use amolink_tests::{
    Engine, SmtpSink, TestApp, both_engines, captured_logs, link_in, spawn_app, spawn_app_with,
};
use sea_orm::{ConnectionTrait as _, Statement};

use crate::{
    api_keys::create_key,
    connect::DEMO_ADMIN_ACCOUNT,
    teams::{PASSWORD, between, invite, join, local, member_id, token_of},
};

/// One stored entry, every column as text.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    action: String,
    workspace: Option<String>,
    text: String,
}

async fn rows(app: &TestApp) -> Vec<Row> {
    let db = app.database.connection();
    let text = match app.engine {
        Engine::Sqlite => {
            "COALESCE(actor_kind,'') || '|' || COALESCE(actor_id,'') || '|' || actor_label || '|' \
             || COALESCE(target_kind,'') || '|' || COALESCE(target_id,'') || '|' || \
             COALESCE(target_label,'') || '|' || COALESCE(client_ip,'') || '|' || COALESCE(detail,'')"
        }
        Engine::Postgres => {
            "concat_ws('|', actor_kind, actor_id, actor_label, target_kind, target_id, \
             target_label, client_ip, detail)"
        }
    };
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT id, action, workspace_id, {text} AS t FROM audit_events"),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| Row {
        id: r.try_get::<uuid::Uuid>("", "id").unwrap().to_string(),
        action: r.try_get("", "action").unwrap(),
        workspace: r
            .try_get::<Option<uuid::Uuid>>("", "workspace_id")
            .unwrap()
            .map(|w| w.to_string()),
        text: r.try_get("", "t").unwrap(),
    })
    .collect()
}

/// Runs `act` and asserts that exactly one entry, for `action`, was added.
macro_rules! exactly_one {
    ($app:expr, $action:expr, $act:expr) => {{
        let before: BTreeSet<String> = rows($app).await.into_iter().map(|r| r.id).collect();
        let outcome = $act;
        let added: Vec<Row> = rows($app)
            .await
            .into_iter()
            .filter(|r| !before.contains(&r.id))
            .collect();
        assert_eq!(
            added.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
            vec![$action],
            "exactly one entry for {}",
            $action
        );
        (outcome, added.into_iter().next().unwrap())
    }};
}

async fn endpoint_id(html: &str) -> String {
    between(html, "href=\"/settings/webhooks/", "\"")
        .unwrap()
        .to_owned()
}

fn new_secret(html: &str) -> String {
    between(html, "<code id=\"new-secret\">", "</code>")
        .unwrap()
        .to_owned()
}

async fn every_listed_action_leaves_exactly_one_entry_and_no_secret(engine: Engine) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(
        engine,
        &[
            ("smtp_url", url.as_str()),
            ("mail_from", "amolink@amolink.test"),
        ],
        |_| {},
    )
    .await;
    let mut canaries: Vec<(&str, String)> = vec![("password", PASSWORD.to_owned())];
    app.signed_in_browser("ann@example.com", "Acme").await;

    let ann = app.browser();
    let (res, entry) = exactly_one!(
        &app,
        "user.signed_in",
        ann.log_in("ann@example.com", PASSWORD).await
    );
    assert_eq!(res.status(), 303);
    assert!(entry.text.contains("ann@example.com") && entry.text.contains("127.0.0.1"));
    let acme = entry.workspace.clone().unwrap();

    let (link, entry) = exactly_one!(
        &app,
        "member.invited",
        invite(&ann, "carol@example.com", "viewer").await
    );
    assert!(entry.text.contains("carol@example.com") && entry.text.contains("viewer"));
    canaries.push(("invite token", token_of(&link)));
    sink.wait_for("carol@example.com", 1).await;
    let (carol, _) = exactly_one!(&app, "member.joined", join(&app, &link).await);
    let carol_id = member_id(&ann, "carol@example.com").await;
    let (res, entry) = exactly_one!(
        &app,
        "member.role_changed",
        ann.submit(
            "/settings/team",
            &format!("/settings/team/members/{carol_id}/role"),
            &[("role", "developer")],
        )
        .await
    );
    assert_eq!(res.status(), 303);
    assert!(entry.text.contains("viewer") && entry.text.contains("developer"));

    let dave_link = invite(&ann, "dave@example.com", "viewer").await;
    canaries.push(("invite token", token_of(&dave_link)));
    join(&app, &dave_link).await;
    let dave_id = member_id(&ann, "dave@example.com").await;
    let (res, _) = exactly_one!(
        &app,
        "member.removed",
        ann.submit(
            "/settings/team",
            &format!("/settings/team/members/{dave_id}/remove"),
            &[],
        )
        .await
    );
    assert_eq!(res.status(), 303);

    let (key, entry) = exactly_one!(
        &app,
        "api_key.created",
        create_key(&carol, "backend", &["read"]).await
    );
    assert!(
        entry.text.contains("carol@example.com"),
        "the actor is the key's creator"
    );
    canaries.push(("API key", key.clone()));
    let key_id = between(
        &ann.get_html("/settings/api-keys").await,
        "action=\"/settings/api-keys/",
        "/revoke\"",
    )
    .unwrap()
    .to_owned();
    let (res, _) = exactly_one!(
        &app,
        "api_key.revoked",
        ann.submit(
            "/settings/api-keys",
            &format!("/settings/api-keys/{key_id}/revoke"),
            &[],
        )
        .await
    );
    assert_eq!(res.status(), 303);

    // A token of the tenant's own in the endpoint's URL stays out of the trail.
    let url_token = "tenant-url-token-canary";
    canaries.push(("webhook URL token", url_token.to_owned()));
    let url = format!("http://127.0.0.1:9/hook?token={url_token}");
    let (res, entry) = exactly_one!(
        &app,
        "webhook_endpoint.created",
        ann.submit(
            "/settings/webhooks",
            "/settings/webhooks",
            &[("url", url.as_str()), ("connection.revoked", "on")],
        )
        .await
    );
    assert!(entry.text.contains("http://127.0.0.1:9/hook"));
    let html = res.text().await.unwrap();
    canaries.push(("webhook secret", new_secret(&html)));
    let endpoint = endpoint_id(&html).await;
    let (res, entry) = exactly_one!(
        &app,
        "webhook_endpoint.changed",
        ann.submit(
            &format!("/settings/webhooks/{endpoint}"),
            &format!("/settings/webhooks/{endpoint}/disable"),
            &[],
        )
        .await
    );
    assert_eq!(res.status(), 303);
    assert!(entry.text.contains("\"enabled\":\"false\""));
    let (res, _) = exactly_one!(
        &app,
        "webhook_endpoint.secret_rotated",
        ann.submit(
            &format!("/settings/webhooks/{endpoint}"),
            &format!("/settings/webhooks/{endpoint}/rotate"),
            &[],
        )
        .await
    );
    canaries.push((
        "rotated webhook secret",
        new_secret(&res.text().await.unwrap()),
    ));

    exactly_one!(
        &app,
        "button.created",
        crate::connect::add_kommo_button(&ann).await
    );

    let mut connected = false;
    for link in app.connect_links(&ann).await {
        let page = app
            .browser()
            .get_html(&crate::teams::local_path(&link))
            .await;
        if amolink_tests::ButtonTag::parse(&page).unwrap().class == "amocrm_oauth" {
            let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
            assert_eq!(answer.status(), 303);
            connected = true;
        }
    }
    assert!(connected, "the default amoCRM button connected");
    let connection = between(
        &ann.get_html("/connections").await,
        "href=\"/connections/",
        "\"",
    )
    .unwrap()
    .to_owned();
    let (res, entry) = exactly_one!(
        &app,
        "connection.revoked",
        ann.submit(
            &format!("/connections/{connection}"),
            &format!("/connections/{connection}/revoke"),
            &[],
        )
        .await
    );
    assert_eq!(res.status(), 303);
    assert!(entry.text.contains(&connection));

    let new_password = "ann's new passphrase";
    canaries.push(("new password", new_password.to_owned()));
    let (res, _) = exactly_one!(
        &app,
        "user.password_changed",
        ann.submit(
            "/settings/account",
            "/settings/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password)
            ],
        )
        .await
    );
    assert_eq!(res.status(), 200);

    let asker = app.browser();
    asker
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "carol@example.com")],
        )
        .await;
    let mail = sink.wait_for("carol@example.com", 2).await;
    let reset = mail
        .iter()
        .find_map(|m| link_in(&m.body, &format!("{}/password/reset?token=", app.address)))
        .unwrap();
    canaries.push(("reset token", token_of(&reset)));
    let carols_new = "carol's new passphrase";
    canaries.push(("reset password", carols_new.to_owned()));
    let page = asker.get(&local(&reset)).await;
    let csrf = amolink_tests::csrf_token_in(&page.text().await.unwrap()).unwrap();
    let (res, _) = exactly_one!(
        &app,
        "user.password_reset",
        asker
            .post_form(
                "/password/reset",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("token", &token_of(&reset)),
                    ("password", carols_new),
                ],
            )
            .await
    );
    assert_eq!(res.status(), 200);

    // A workspace of its own to delete: the record outlives it, without its id.
    let res = ann
        .submit("/workspaces/new", "/workspaces", &[("name", "Short lived")])
        .await;
    assert_eq!(res.status(), 303);
    let (res, entry) = exactly_one!(
        &app,
        "workspace.deleted",
        ann.submit(
            "/settings/workspace",
            "/settings/workspace/delete",
            &[("name", "Short lived")],
        )
        .await
    );
    assert_eq!(res.status(), 303);
    assert_eq!(entry.workspace, None);
    assert!(entry.text.contains("Short lived"));

    // The trail as admins and their backend read it.
    let trail = ann.get_html("/settings/audit").await;
    for action in [
        "user.signed_in",
        "member.invited",
        "member.joined",
        "member.role_changed",
        "member.removed",
        "api_key.created",
        "api_key.revoked",
        "webhook_endpoint.created",
        "webhook_endpoint.changed",
        "webhook_endpoint.secret_rotated",
        "button.created",
        "connection.revoked",
        "user.password_changed",
        "user.password_reset",
    ] {
        assert!(trail.contains(action), "{action} on the page");
    }
    let reader = create_key(&ann, "auditor", &["read"]).await;
    let mut api = String::new();
    let mut cursor = None::<String>;
    loop {
        let mut req = reqwest::Client::new()
            .get(format!("{}/api/v1/audit-events", app.address))
            .query(&[("limit", "5")])
            .bearer_auth(&reader);
        if let Some(cursor) = &cursor {
            req = req.query(&[("cursor", cursor)]);
        }
        let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        api.push_str(&body.to_string());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let stored: Vec<Row> = rows(&app)
        .await
        .into_iter()
        .filter(|r| r.workspace.as_deref() == Some(acme.as_str()))
        .collect();
    for row in &stored {
        assert!(api.contains(&row.id), "{} is listed by the API", row.action);
    }

    // The canary scan.
    let logs = captured_logs();
    let everything: String = rows(&app).await.into_iter().map(|r| r.text).collect();
    for (what, canary) in &canaries {
        assert!(canary.len() >= 8, "{what} canary is meaningful");
        assert!(
            !everything.contains(canary.as_str()),
            "an audit entry holds the {what}"
        );
        assert!(
            !api.contains(canary.as_str()),
            "the audit API shows the {what}"
        );
        assert!(
            !trail.contains(canary.as_str()),
            "the audit page shows the {what}"
        );
        assert!(!logs.contains(canary.as_str()), "the logs hold the {what}");
    }
}

async fn the_trail_filters_pages_and_forgets_after_the_retention_period(engine: Engine) {
    let app = spawn_app_with(engine, &[("audit_retention_days", "30")], |_| {}).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    for n in 0..3 {
        create_key(&ann, &format!("key {n}"), &["read"]).await;
    }
    let key = create_key(&ann, "reader", &["read"]).await;
    let get = |query: &'static [(&'static str, &'static str)]| {
        let key = key.clone();
        let url = format!("{}/api/v1/audit-events", app.address);
        async move {
            reqwest::Client::new()
                .get(url)
                .query(query)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };
    let body: serde_json::Value = get(&[("action", "api_key.created")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 4);
    assert_eq!(body["data"][0]["target"]["label"], "reader", "newest first");
    assert_eq!(body["data"][0]["actor"]["label"], "ann@example.com");
    let first: serde_json::Value = get(&[("action", "api_key.created"), ("limit", "3")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let rest: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/audit-events", app.address))
        .query(&[("action", "api_key.created"), ("cursor", cursor.as_str())])
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    for bad in [
        &[("action", "nope")][..],
        &[("cursor", "garbage")],
        &[("since", "yesterday")],
        &[("limit", "0")],
    ] {
        let res = get(bad).await;
        assert_eq!(res.status(), 400, "{bad:?}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let page = ann
        .get_html("/settings/audit?action=api_key.created&actor=ANN%40example.com")
        .await;
    assert_eq!(page.matches("<code>api_key.created</code>").count(), 4);
    let page = ann.get_html("/settings/audit?actor=someone-else").await;
    assert!(page.contains("Nothing recorded"));

    // Entries older than the retention period go with the next housekeeping round.
    app.clock.advance(chrono::Duration::days(31));
    app.housekeeping.run_once().await;
    assert!(
        rows(&app).await.is_empty(),
        "everything was older than 30 days"
    );
}

/// The audit page is for admins: members see neither the link nor the page.
async fn only_admins_read_the_trail(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let link = invite(&ann, "dev@example.com", "developer").await;
    let dev = join(&app, &link).await;
    assert!(ann.get_html("/dashboard").await.contains("/settings/audit"));
    assert!(!dev.get_html("/dashboard").await.contains("/settings/audit"));
    assert_eq!(dev.get("/settings/audit").await.status(), 403);
    let key = create_key(&dev, "dev key", &["read"]).await;
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/audit-events", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "a `read` key of the workspace reads it (the contract)"
    );
}

both_engines!(
    every_listed_action_leaves_exactly_one_entry_and_no_secret,
    the_trail_filters_pages_and_forgets_after_the_retention_period,
    only_admins_read_the_trail,
);
