//! The connection lifecycle end to end against the simulator (issue 4).

use amolink_tests::{Browser, Engine, Page, TestApp, both_engines, spawn_app};

pub const DEMO_ADMIN_ACCOUNT: i64 = 31_000_001;
pub const KOMMO_ADMIN_ACCOUNT: i64 = 32_000_001;

/// Signs a tenant up and returns their browser and their default (amoCRM) connect link.
pub async fn tenant(app: &TestApp, email: &str) -> (Browser, String) {
    let tenant = app.signed_in_browser(email, "Acme").await;
    let link = app
        .connect_links(&tenant)
        .await
        .into_iter()
        .next()
        .expect("a default button");
    (tenant, link)
}

/// A tenant with the demo amoCRM account connected; returns their browser and the connection id.
pub async fn connected(app: &TestApp) -> (Browser, String) {
    let (tenant_browser, link) = tenant(app, "ann@example.com").await;
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let list = tenant_browser.get_html("/connections").await;
    let id = Page::parse(&list)
        .id_after("/connections/")
        .expect("the connection is listed");
    (tenant_browser, id)
}

/// Adds a Kommo button through the dashboard form.
pub async fn add_kommo_button(tenant: &Browser) {
    let res = tenant
        .submit(
            "/dashboard",
            "/buttons",
            &[
                ("platform", "kommo"),
                ("name", "Acme for Kommo"),
                ("description", "Syncs leads"),
                ("logo_url", "https://acme.example/logo.png"),
                ("title", "Continue with Kommo"),
                ("color", "dark"),
                ("mode", "popup"),
                ("scope_crm", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
}

async fn amocrm_account_connects_and_appears_in_connections(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, link) = tenant(&app, "ann@example.com").await;

    let (customer, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let done = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(done.starts_with("/connect/done/"), "{done}");
    assert!(
        !done.contains("code") && !done.contains("state"),
        "clean URL: {done}"
    );
    let page = customer.get_html(&done).await;
    assert!(page.contains("Рога и копыта is connected"), "{page}");

    let list = tenant.get_html("/connections").await;
    assert!(list.contains("Рога и копыта"), "{list}");
    assert!(list.contains("demo.amocrm.ru"));
    assert!(list.contains("Active"));
    let id = Page::parse(&list).id_after("/connections/").unwrap();
    let detail = tenant.get_html(&format!("/connections/{id}")).await;
    for event in ["Integration secrets received", "Connected"] {
        assert!(detail.contains(event), "history has {event}: {detail}");
    }
    // Someone else's browser cannot see the result page of this flow.
    assert_eq!(app.browser().get(&done).await.status(), 404);
}

async fn kommo_account_connects_through_a_kommo_button(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, _) = tenant(&app, "ann@example.com").await;
    add_kommo_button(&tenant).await;
    let links = app.connect_links(&tenant).await;
    assert_eq!(links.len(), 2);
    let mut kommo_link = None;
    for link in &links {
        let html = app
            .browser()
            .client
            .get(link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if amolink_tests::ButtonTag::parse(&html).unwrap().class == "kommo_oauth" {
            kommo_link = Some(link.clone());
        }
    }
    let kommo_link = kommo_link.expect("the new button renders Kommo's tag");
    let (_, _, callback) = app.consent(&kommo_link, KOMMO_ADMIN_ACCOUNT).await;
    assert!(
        callback.contains("referer=kommodemo.kommo.com"),
        "{callback}"
    );
    let (_, answer) = app.connect_account(&kommo_link, KOMMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let list = tenant.get_html("/connections?platform=kommo").await;
    assert!(
        list.contains("Kommo Demo") && list.contains("kommodemo.kommo.com"),
        "{list}"
    );
}

both_engines!(
    amocrm_account_connects_and_appears_in_connections,
    kommo_account_connects_through_a_kommo_button,
);
