//! Issue 11, acceptance 3: password reset end to end through a real SMTP server on loopback;
//! password change; the development outbox when no SMTP server is configured.

use amolink_tests::{
    Browser, Engine, SmtpSink, TestApp, both_engines, link_in, spawn_app, spawn_app_with,
};
use chrono::Duration;
use sea_orm::{ConnectionTrait as _, Statement};

use crate::teams::{PASSWORD, between, invite, join, local, token_of};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app_with_mail(engine: Engine, sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(
        engine,
        &[
            ("smtp_url", url.as_str()),
            ("mail_from", "amolink <noreply@amolink.test>"),
        ],
        |_| {},
    )
    .await
}

async fn ask_for_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.browser()
        .submit("/password/forgot", "/password/forgot", &[("email", email)])
        .await
}

async fn reset_rows(app: &TestApp) -> i64 {
    let db = app.database.connection();
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM password_resets",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}

/// Sets `password` through the reset link in a fresh browser; answers the response.
async fn use_link(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    let browser = app.browser();
    let page = browser.get(&local(link)).await;
    assert_eq!(page.status(), 200, "the reset page opens");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let csrf = amolink_tests::csrf_token_in(&page.text().await.unwrap()).unwrap();
    browser
        .post_form(
            "/password/reset",
            &[
                ("csrf_token", &csrf),
                ("token", &token_of(link)),
                ("password", password),
            ],
        )
        .await
}

async fn a_password_reset_by_email_ends_the_old_password_and_every_session(engine: Engine) {
    let sink = SmtpSink::start();
    let app = app_with_mail(engine, &sink).await;
    let first = app.signed_in_browser("ann@example.com", "Acme").await;
    let second = app.browser();
    assert_eq!(
        second.log_in("ann@example.com", PASSWORD).await.status(),
        303
    );

    // The same answer whether or not the address has an account.
    let known = ask_for_reset(&app, "ann@example.com").await;
    let unknown = ask_for_reset(&app, "nobody@example.com").await;
    assert_eq!(known.status(), 200);
    assert_eq!(unknown.status(), known.status());
    let strip = |html: String, email: &str| {
        html.replace(email, "EMAIL")
            .lines()
            .filter(|line| !line.contains("csrf_token"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let known = strip(known.text().await.unwrap(), "ann@example.com");
    let unknown = strip(unknown.text().await.unwrap(), "nobody@example.com");
    assert_eq!(known, unknown);
    assert!(known.contains("If an account exists for EMAIL"));

    // The mail arrives at the SMTP server, from the configured sender.
    let mail = sink.wait_for("ann@example.com", 1).await;
    assert_eq!(mail[0].subject, "Reset your amolink password");
    assert_eq!(mail[0].from, "noreply@amolink.test");
    let link = link_in(
        &mail[0].body,
        &format!("{}/password/reset?token=", app.address),
    )
    .expect("the mail holds the link");
    assert_eq!(reset_rows(&app).await, 1, "no link for an unknown address");
    assert!(sink.messages().iter().all(|m| m.to != "nobody@example.com"));

    // A password that breaks the rules keeps the link usable.
    let res = use_link(&app, &link, "short").await;
    assert_eq!(res.status(), 400);
    let res = use_link(&app, &link, NEW_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Log in with the new password")
    );

    // The old password and every session stop working; the new password works.
    for (name, browser) in [("first", &first), ("second", &second)] {
        let res = browser.get("/dashboard").await;
        assert_eq!(res.status(), 303, "{name} session ended");
        assert_eq!(res.headers()["location"], "/login");
    }
    assert_eq!(
        app.browser()
            .log_in("ann@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.browser()
            .log_in("ann@example.com", NEW_PASSWORD)
            .await
            .status(),
        303
    );

    // Single use.
    let res = app.browser().get(&local(&link)).await;
    assert_eq!(res.status(), 410);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );

    // A link lives one hour.
    assert_eq!(ask_for_reset(&app, "ann@example.com").await.status(), 200);
    let mail = sink.wait_for("ann@example.com", 2).await;
    let later = mail
        .iter()
        .filter_map(|m| link_in(&m.body, &format!("{}/password/reset?token=", app.address)))
        .find(|l| *l != link)
        .unwrap();
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(app.browser().get(&local(&later)).await.status(), 410);
}

async fn reset_requests_are_throttled_alike_for_known_and_unknown_addresses(engine: Engine) {
    let sink = SmtpSink::start();
    let app = app_with_mail(engine, &sink).await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    for email in ["ann@example.com", "nobody@example.com"] {
        for attempt in 1..=5 {
            assert_eq!(
                ask_for_reset(&app, email).await.status(),
                200,
                "{email} attempt {attempt}"
            );
        }
        let res = ask_for_reset(&app, email).await;
        assert_eq!(res.status(), 429, "{email}");
        assert!(res.headers().contains_key("retry-after"));
    }
    sink.wait_for("ann@example.com", 5).await;
    assert_eq!(
        sink.messages().len(),
        5,
        "five mails for five answered requests"
    );
}

async fn change(browser: &Browser, current: &str, new: &str) -> reqwest::Response {
    browser
        .submit(
            "/settings/account",
            "/settings/account/password",
            &[("current_password", current), ("new_password", new)],
        )
        .await
}

async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(engine: Engine) {
    let app = spawn_app(engine).await;
    let here = app.signed_in_browser("ann@example.com", "Acme").await;
    let elsewhere = app.browser();
    assert_eq!(
        elsewhere.log_in("ann@example.com", PASSWORD).await.status(),
        303
    );

    let res = change(&here, "not the password", NEW_PASSWORD).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("current password is not correct")
    );
    assert_eq!(
        elsewhere.get("/dashboard").await.status(),
        200,
        "nothing changed"
    );

    let res = change(&here, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Every other session"));
    assert_eq!(
        here.get("/dashboard").await.status(),
        200,
        "this browser stays in"
    );
    assert_eq!(
        elsewhere.get("/dashboard").await.status(),
        303,
        "the other is out"
    );
    assert_eq!(
        app.browser()
            .log_in("ann@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.browser()
            .log_in("ann@example.com", NEW_PASSWORD)
            .await
            .status(),
        303
    );

    // "Log out my other sessions" without changing the password.
    let third = app.browser();
    assert_eq!(
        third.log_in("ann@example.com", NEW_PASSWORD).await.status(),
        303
    );
    let res = here
        .submit("/settings/account", "/settings/account/sessions", &[])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(here.get("/dashboard").await.status(), 200);
    assert_eq!(third.get("/dashboard").await.status(), 303);
}

async fn without_smtp_development_mail_lands_in_the_outbox(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let shown = invite(&ann, "carol@example.com", "viewer").await;
    let outbox = app.browser().get_html("/dev/outbox").await;
    assert!(outbox.contains("ann@example.com invited you to Acme on amolink"));
    let body = amolink_tests::html_unescape(
        between(&outbox, "<pre class=\"mail-body\">", "</pre>").unwrap(),
    );
    let mailed = link_in(&body, &format!("{}/invite?token=", app.address)).unwrap();
    assert_eq!(mailed, shown, "the mail holds the link that was shown");
    join(&app, &mailed).await;

    // Password reset works offline too.
    assert_eq!(ask_for_reset(&app, "ann@example.com").await.status(), 200);
    let mut link = None;
    for _ in 0..200 {
        let outbox = app.browser().get_html("/dev/outbox").await;
        link = outbox
            .split("<pre class=\"mail-body\">")
            .skip(1)
            .filter_map(|part| {
                link_in(
                    &amolink_tests::html_unescape(part.split("</pre>").next()?),
                    &format!("{}/password/reset?token=", app.address),
                )
            })
            .next();
        if link.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let link = link.expect("the reset mail reached the outbox");
    assert_eq!(use_link(&app, &link, NEW_PASSWORD).await.status(), 200);
}

both_engines!(
    a_password_reset_by_email_ends_the_old_password_and_every_session,
    reset_requests_are_throttled_alike_for_known_and_unknown_addresses,
    changing_the_password_needs_the_current_one_and_ends_other_sessions,
    without_smtp_development_mail_lands_in_the_outbox,
);
