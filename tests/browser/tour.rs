//! Every page a tenant meets, in Chromium at 1280 and 390 px wide, in Russian and English
//! (`Accept-Language`): each loads without a console error or CSP violation, passes axe-core
//! with no serious violation, fits a phone's width without sideways scrolling of the page (wide
//! tables scroll inside their card, keeping Revoke and Replay reachable), and is saved as a
//! screenshot under `target/browser-screenshots/tour/`.

use anyhow::{Context as _, Result, ensure};
use serde_json::json;

use crate::axe::expect_accessible;
use crate::button_site::Mode;
use crate::demo::{ADMIN_ACCOUNT_ID, Demo, connect, create_proxy_key, open_connect_page, sign_up};
use crate::screenshot_path;
use crate::webdriver::Driver;

const WIDTHS: [u32; 2] = [1280, 390];

/// Checks the current page at both widths; `name` names its screenshots. Every finding of
/// the tour is collected in `found`, so one run lists them all.
async fn check(driver: &Driver, language: &str, name: &str, found: &mut Vec<String>) -> Result<()> {
    let url = driver.current_url().await?;
    for width in WIDTHS {
        driver.set_viewport_width(width).await?;
        let page = format!("{name} ({url}) at {width} px in {language}");
        // A 404 page's own status is logged by Chromium as a failed load: expected there.
        let errors: Vec<String> = driver
            .console_errors()
            .await?
            .into_iter()
            .filter(|e| !(name == "not-found" && e.starts_with(&format!("{url} "))))
            .collect();
        if !errors.is_empty() {
            found.push(format!("the browser logged errors on {page}: {errors:#?}"));
        }
        if let Err(e) = expect_accessible(driver, &page).await {
            found.push(format!("{e:#}"));
        }
        let shown = driver
            .execute("return document.documentElement.lang;", json!([]))
            .await?;
        if shown.as_str() != Some(language) {
            found.push(format!("{page} says <html lang={shown}>"));
        }
        let overflow = driver
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                json!([]),
            )
            .await?;
        if overflow.as_i64().unwrap_or(0) > 0 {
            found.push(format!("{page} scrolls sideways by {overflow} px"));
        }
        driver
            .screenshot(&screenshot_path(&format!(
                "tour/{language}/{name}-{width}.png"
            )))
            .await?;
    }
    driver.set_viewport_width(WIDTHS[0]).await
}

async fn visit(
    driver: &Driver,
    demo: &Demo,
    language: &str,
    name: &str,
    path: &str,
    found: &mut Vec<String>,
) -> Result<()> {
    driver.goto(&demo.url(path)).await?;
    driver.wait_for_element("main").await?;
    check(driver, language, name, found).await
}

async fn tour(language: &str) -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start_in(Some(language)).await?;
    let mut found = Vec::new();
    for (name, path) in [("landing", "/"), ("login", "/login"), ("signup", "/signup")] {
        visit(&driver, &demo, language, name, path, &mut found).await?;
    }
    sign_up(&driver, &demo, "tour@acme.example", "Acme Tour").await?;
    check(&driver, language, "dashboard-empty", &mut found).await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;
    open_connect_page(&driver, &link).await?;
    check(&driver, language, "connect", &mut found).await?;
    connect(&driver, &demo, ADMIN_ACCOUNT_ID, Mode::Popup).await?;
    check(&driver, language, "connect-done", &mut found).await?;

    visit(
        &driver,
        &demo,
        language,
        "dashboard",
        "/dashboard",
        &mut found,
    )
    .await?;
    let edit = driver
        .find("main a[href^='/buttons/']")
        .await?
        .attribute("href")
        .await?
        .context("the button's edit link")?;
    visit(&driver, &demo, language, "button-edit", &edit, &mut found).await?;
    visit(
        &driver,
        &demo,
        language,
        "connections",
        "/connections",
        &mut found,
    )
    .await?;
    let id = driver
        .find("main table a[href^='/connections/']")
        .await?
        .attribute("href")
        .await?
        .context("a connection link")?;
    visit(&driver, &demo, language, "connection", &id, &mut found).await?;

    visit(
        &driver,
        &demo,
        language,
        "api-keys",
        "/settings/api-keys",
        &mut found,
    )
    .await?;
    let key = create_proxy_key(&driver, "tour").await?;
    check(&driver, language, "api-key-created", &mut found).await?;
    // The demo account has data: the first proxied call a new user makes finds leads.
    let leads = reqwest::Client::new()
        .get(demo.url(&format!(
            "/api/v1{}/proxy/api/v4/leads",
            id.trim_end_matches('/')
        )))
        .bearer_auth(key.trim())
        .send()
        .await?;
    ensure!(
        leads.status() == 200,
        "GET /api/v4/leads answered {}",
        leads.status()
    );
    let leads: serde_json::Value = leads.json().await?;
    ensure!(
        leads["_embedded"]["leads"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "the demo account has no leads: {leads}"
    );
    let revoke = driver.find("main table form button").await?;
    ensure!(revoke.is_displayed().await?, "Revoke is hidden");

    for (name, path) in [
        ("webhooks", "/settings/webhooks"),
        ("events", "/settings/events"),
        ("team", "/settings/team"),
        ("audit", "/settings/audit"),
        ("account", "/settings/account"),
        ("api-docs", "/api/docs"),
        ("not-found", "/no-such-page"),
    ] {
        visit(&driver, &demo, language, name, path, &mut found).await?;
    }
    ensure!(found.is_empty(), "{}", found.join("\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_english() -> Result<()> {
    tour("en").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_russian() -> Result<()> {
    tour("ru").await
}
