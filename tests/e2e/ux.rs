//! What a new user tripped on (issue 12), over plain HTTP: destructive actions ask first and
//! say what happened afterwards (a one-time flash after the redirect).

use amolink_tests::{Browser, Engine, Page, TestApp, both_engines, spawn_app};

use crate::connect::DEMO_ADMIN_ACCOUNT;

/// The flash message on `path`, if any (taking it: it is shown once).
async fn flash(browser: &Browser, path: &str) -> Option<String> {
    Page::parse(&browser.get_html(path).await).text("p.flash[role=status]")
}

async fn connect_demo(app: &TestApp, tenant: &Browser) -> String {
    let link = app.connect_links(tenant).await.into_iter().next().unwrap();
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    Page::parse(&tenant.get_html("/connections").await)
        .id_after("/connections/")
        .unwrap()
}

async fn revoking_a_connection_asks_first_and_says_so_after(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let id = connect_demo(&app, &ann).await;
    let page = format!("/connections/{id}");
    let revoke = format!("/connections/{id}/revoke");

    let html = Page::parse(&ann.get_html(&page).await);
    let confirm = html
        .attr(&format!("form[action='{revoke}']"), "data-confirm")
        .expect("the revoke form asks first");
    assert!(confirm.contains("Revoke"), "{confirm}");
    assert_eq!(flash(&ann, &page).await, None, "nothing happened yet");

    let res = ann.submit(&page, &revoke, &[]).await;
    assert_eq!(res.status(), 303);
    let said = flash(&ann, &page).await.expect("a message after revoking");
    assert!(said.contains("Connection revoked"), "{said}");
    assert_eq!(flash(&ann, &page).await, None, "shown once");
}

async fn deleting_an_endpoint_asks_first_and_says_so_after(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let receiver = crate::webhooks::Receiver::start("127.0.0.1").await;
    let (id, _) = crate::webhooks::add_endpoint(&ann, &receiver.url, &["connection.created"]).await;
    let page = format!("/settings/webhooks/{id}");
    let delete = format!("/settings/webhooks/{id}/delete");
    let html = Page::parse(&ann.get_html(&page).await);
    assert!(
        html.attr(&format!("form[action='{delete}']"), "data-confirm")
            .is_some(),
        "deleting asks first"
    );
    let res = ann.submit(&page, &delete, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/settings/webhooks");
    let said = flash(&ann, "/settings/webhooks")
        .await
        .expect("a message after deleting");
    assert!(said.contains("endpoint deleted"), "{said}");
}

/// Each sign-up error sits next to its field (linked by `aria-describedby`), what was typed
/// stays (but the password), and an e-mail that may be registered gets a way to log in.
async fn sign_up_errors_sit_next_to_their_fields(engine: Engine) {
    let app = spawn_app(engine).await;
    let res = app.browser().sign_up("not-an-email", "short", "").await;
    assert_eq!(res.status(), 400);
    let page = Page::parse(&res.text().await.unwrap());
    for (field, message) in [
        ("email", "An email address needs an @."),
        ("password", "Use at least 8 characters."),
        ("workspace", "Name your workspace"),
    ] {
        let input = format!("input[name={field}]");
        assert_eq!(page.attr(&input, "aria-invalid").as_deref(), Some("true"));
        let described = page.attr(&input, "aria-describedby").unwrap_or_default();
        let error_id = format!("{field}-error");
        assert!(
            described.split(' ').any(|id| id == error_id),
            "{field}: {described}"
        );
        let shown = page.text(&format!("#{error_id}")).unwrap_or_default();
        assert!(shown.contains(message), "{field}: {shown:?}");
    }
    assert_eq!(
        page.attr("input[name=email]", "value").as_deref(),
        Some("not-an-email"),
        "what was typed stays"
    );
    assert_eq!(page.attr("input[name=password]", "value"), None);

    app.signed_in_browser("ann@example.com", "Acme").await;
    let res = app
        .browser()
        .sign_up("ann@example.com", "correct horse battery", "Copycat")
        .await;
    assert_eq!(res.status(), 400);
    let page = Page::parse(&res.text().await.unwrap());
    assert!(
        page.attr("#email-error a[href='/login']", "href").is_some(),
        "a hint to log in"
    );
    assert_eq!(
        page.attr("input[name=workspace]", "value").as_deref(),
        Some("Copycat")
    );
}

/// Docs and error pages show a signed-in member their navigation, never "Log in / Sign up".
async fn signed_in_members_keep_their_nav_on_docs_and_error_pages(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    for (path, status) in [
        ("/api/docs", 200),
        ("/no-such-page", 404),
        ("/connections/nope", 404),
    ] {
        let res = ann.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        let page = Page::parse(&res.text().await.unwrap());
        assert!(
            page.attr("form[action='/logout']", "method").is_some(),
            "{path}: no log-out"
        );
        assert!(
            page.attr("a[href='/signup']", "href").is_none(),
            "{path}: offers sign-up"
        );
        assert!(
            page.attr("a[href='/dashboard']", "href").is_some(),
            "{path}: no nav"
        );
    }
    let anonymous = Page::parse(&app.browser().get_html("/no-such-page").await);
    assert!(anonymous.attr("a[href='/signup']", "href").is_some());
}

/// Every kind of page links the favicon, which is served.
async fn every_page_links_the_favicon(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let link = app.connect_links(&ann).await.into_iter().next().unwrap();
    let hosted = crate::teams::local_path(&link);
    let anonymous = app.browser();
    for (browser, path) in [
        (&anonymous, "/"),
        (&anonymous, "/login"),
        (&ann, "/dashboard"),
        (&ann, "/api/docs"),
        (&ann, "/nope"),
        (&anonymous, hosted.as_str()),
    ] {
        let page = Page::parse(&browser.get_html(path).await);
        assert_eq!(
            page.attr("link[rel=icon]", "href").as_deref(),
            Some("/static/favicon.svg"),
            "{path}"
        );
    }
    let icon = ann.get("/static/favicon.svg").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
}

/// The hosted page's button tag attribute `name` for the connect link `link`.
async fn button_attr(app: &TestApp, link: &str, name: &str) -> Option<String> {
    let hosted = crate::teams::local_path(link);
    Page::parse(&app.browser().get_html(&hosted).await).attr("script[class]", name)
}

/// Choosing Kommo takes Kommo's title and theme when the form left amoCRM's (the page's script
/// does it in a browser, the server without one); a refused form keeps everything typed.
async fn the_button_form_follows_the_platform_and_keeps_what_was_typed(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let dashboard = Page::parse(&ann.get_html("/dashboard").await);
    assert_eq!(
        dashboard
            .attr("option[value=kommo]", "data-title")
            .as_deref(),
        Some("Continue with Kommo"),
        "the script knows Kommo's defaults"
    );
    assert!(
        dashboard
            .attr("script[src='/static/button-form.js']", "src")
            .is_some()
    );
    let script = ann.get("/static/button-form.js").await;
    assert_eq!(script.status(), 200);

    // Kommo chosen, amoCRM's title and colour left as they were.
    let res = ann
        .submit(
            "/dashboard",
            "/buttons",
            &[
                ("platform", "kommo"),
                ("name", "Acme for Kommo"),
                ("description", "Syncs leads"),
                ("logo_url", "https://acme.example/logo.png"),
                ("title", "Подключить amoCRM"),
                ("color", "default"),
                ("mode", "popup"),
                ("scope_crm", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let said = flash(&ann, "/dashboard").await.expect("a message");
    assert!(said.contains("Connect button saved"), "{said}");
    let links = app.connect_links(&ann).await;
    assert_eq!(links.len(), 2);
    let mut kommo = None;
    for link in &links {
        if button_attr(&app, link, "class").await.as_deref() == Some("kommo_oauth") {
            kommo = Some(link.clone());
        }
    }
    let kommo = kommo.expect("a Kommo button");
    assert_eq!(
        button_attr(&app, &kommo, "data-title").await.as_deref(),
        Some("Continue with Kommo")
    );
    assert_eq!(
        button_attr(&app, &kommo, "data-theme").await.as_deref(),
        Some("light")
    );

    // A refused form: everything typed is still there.
    let res = ann
        .submit(
            "/dashboard",
            "/buttons",
            &[
                ("platform", "kommo"),
                ("name", "Half-typed name"),
                ("description", ""),
                ("logo_url", "ftp://acme.example/logo.png"),
                ("title", "My own title"),
                ("color", "dark"),
                ("mode", "post_message"),
                ("scope_notifications", "on"),
                ("compact", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let page = Page::parse(&res.text().await.unwrap());
    assert!(page.text("[role=alert]").is_some(), "the errors are said");
    for (field, value) in [
        ("name", "Half-typed name"),
        ("logo_url", "ftp://acme.example/logo.png"),
        ("title", "My own title"),
    ] {
        assert_eq!(
            page.attr(
                &format!("form[action='/buttons'] input[name={field}]"),
                "value"
            )
            .as_deref(),
            Some(value),
            "{field}"
        );
    }
    for selected in [
        "select[name=platform] option[value=kommo][selected]",
        "select[name=color] option[value=dark][selected]",
        "select[name=mode] option[value=post_message][selected]",
        "input[name=scope_notifications][checked]",
        "input[name=compact][checked]",
    ] {
        assert!(page.attr(selected, "value").is_some(), "{selected}");
    }
    assert!(
        page.attr("input[name=scope_crm][checked]", "value")
            .is_none(),
        "an unticked box stays unticked"
    );
}

/// A button is edited from its pre-filled form and deleted after a confirmation; its link stops
/// working, the connection made through it keeps working, other workspaces cannot touch it.
async fn buttons_are_edited_and_deleted_and_their_connections_stay(engine: Engine) {
    let app = spawn_app(engine).await;
    let crate::proxy::Setup {
        tenant: ann,
        id,
        api,
    } = crate::proxy::setup(&app).await;
    let link = app.connect_links(&ann).await.remove(0);
    let dashboard = Page::parse(&ann.get_html("/dashboard").await);
    let button = dashboard.id_after("/buttons/").expect("an edit link");
    let edit = format!("/buttons/{button}");

    let form = Page::parse(&ann.get_html(&edit).await);
    assert_eq!(
        form.attr("input[name=title]", "value").as_deref(),
        Some("Подключить amoCRM"),
        "pre-filled"
    );
    assert!(
        form.attr("input[name=name]", "value")
            .is_some_and(|v| !v.is_empty())
    );
    assert!(
        form.attr("input[name=scope_crm][checked]", "value")
            .is_some()
    );

    let bob = app.signed_in_browser("bob@example.com", "Bob Co").await;
    assert_eq!(
        bob.get(&edit).await.status(),
        404,
        "another workspace's button"
    );
    let res = bob
        .submit("/dashboard", &format!("{edit}/delete"), &[])
        .await;
    assert_eq!(res.status(), 404);

    let res = ann
        .submit(
            &edit,
            &edit,
            &[
                ("platform", "amocrm"),
                ("name", "Acme CRM sync"),
                ("description", "Syncs leads both ways"),
                ("logo_url", "https://acme.example/logo.png"),
                ("title", "Connect Acme"),
                ("color", "green"),
                ("mode", "popup"),
                ("scope_crm", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/dashboard");
    let said = flash(&ann, "/dashboard").await.expect("a message");
    assert!(said.contains("Connect button saved"), "{said}");
    assert_eq!(
        app.connect_links(&ann).await,
        vec![link.clone()],
        "same link"
    );
    assert_eq!(
        button_attr(&app, &link, "data-title").await.as_deref(),
        Some("Connect Acme")
    );
    assert_eq!(
        button_attr(&app, &link, "data-name").await.as_deref(),
        Some("Acme CRM sync")
    );

    let res = ann.submit(&edit, &edit, &[("platform", "amocrm")]).await;
    assert_eq!(res.status(), 400, "a refused edit");

    let delete = format!("{edit}/delete");
    let page = Page::parse(&ann.get_html(&edit).await);
    let confirm = page
        .attr(&format!("form[action='{delete}']"), "data-confirm")
        .expect("deleting asks first");
    assert!(confirm.contains("Acme CRM sync"), "{confirm}");
    let res = ann.submit(&edit, &delete, &[]).await;
    assert_eq!(res.status(), 303);
    let said = flash(&ann, "/dashboard").await.expect("a message");
    assert!(said.contains("Connect button deleted"), "{said}");
    assert!(app.connect_links(&ann).await.is_empty());
    let dashboard = Page::parse(&ann.get_html("/dashboard").await);
    assert!(
        dashboard
            .text("p.empty")
            .is_some_and(|t| t.contains("no connect button")),
        "the empty state says what to do"
    );
    let hosted = crate::teams::local_path(&link);
    assert_eq!(
        app.browser().get(&hosted).await.status(),
        404,
        "the link is gone"
    );
    assert_eq!(ann.get(&edit).await.status(), 404);
    let trail = ann.get_html("/settings/audit").await;
    for action in ["button.updated", "button.deleted"] {
        assert!(trail.contains(action), "{action} in the audit trail");
    }

    // The connection made through it still works.
    let res = api
        .call(
            reqwest::Method::POST,
            &format!("/connections/{id}/token"),
            None,
        )
        .await;
    assert_eq!(res.status(), 200, "the connection keeps working");
}

/// Status badges name their connection for `static/live-status.js`, which redraws them from
/// `GET /connections/statuses`: this workspace's connections only, and the poll neither takes
/// a flash meant for a page nor keeps an idle session alive.
async fn status_badges_refresh_from_a_signed_in_json_endpoint(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let id = connect_demo(&app, &ann).await;
    for path in ["/dashboard", "/connections", &format!("/connections/{id}")] {
        let page = Page::parse(&ann.get_html(path).await);
        assert_eq!(
            page.attr(&format!("[data-status-of='{id}']"), "data-status")
                .as_deref(),
            Some("active"),
            "{path}"
        );
        assert!(
            page.attr("script[src='/static/live-status.js']", "src")
                .is_some(),
            "{path}"
        );
    }
    assert_eq!(ann.get("/static/live-status.js").await.status(), 200);

    let poll = |browser: &amolink_tests::Browser, ids: String| {
        let request = browser
            .client
            .get(browser.url(&format!("/connections/statuses?ids={ids}")))
            .header("accept", "application/json")
            .header("x-amolink-fetch", "1");
        async move { request.send().await.unwrap() }
    };
    let bogus = "00000000-0000-7000-8000-000000000000";
    let res = poll(&ann, format!("{id},{bogus},not-an-id")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"connections": [
            {"id": id, "status": "active", "label": "Active", "class": "ok"}
        ]})
    );

    let res = ann.revoke(&id).await;
    assert_eq!(res.status(), 303);
    // The poll does not take the flash meant for the next page.
    let body: serde_json::Value = poll(&ann, id.clone()).await.json().await.unwrap();
    assert_eq!(body["connections"][0]["status"], "revoked");
    assert_eq!(body["connections"][0]["class"], "bad");
    assert!(
        flash(&ann, "/connections").await.is_some(),
        "the flash is still there"
    );

    let bob = app.signed_in_browser("bob@example.com", "Bob Co").await;
    let body: serde_json::Value = poll(&bob, id.clone()).await.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"connections": []}),
        "ids leak nothing"
    );
    let anonymous = app.browser();
    let res = poll(&anonymous, id.clone()).await;
    assert_ne!(res.status(), 200, "signed in only");

    // Polling for longer than the idle timeout does not keep the session alive.
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::minutes(10));
        assert_eq!(poll(&ann, id.clone()).await.status(), 200);
    }
    app.clock.advance(chrono::Duration::minutes(1));
    assert_ne!(
        poll(&ann, id.clone()).await.status(),
        200,
        "the session idled out"
    );
}

both_engines!(
    status_badges_refresh_from_a_signed_in_json_endpoint,
    the_button_form_follows_the_platform_and_keeps_what_was_typed,
    buttons_are_edited_and_deleted_and_their_connections_stay,
    signed_in_members_keep_their_nav_on_docs_and_error_pages,
    every_page_links_the_favicon,
    sign_up_errors_sit_next_to_their_fields,
    revoking_a_connection_asks_first_and_says_so_after,
    deleting_an_endpoint_asks_first_and_says_so_after,
);
