//! An XSS canary through the whole pipeline (R13): an amoCRM account whose name is markup —
//! `<img src=x onerror=window.__xss=1>` — is connected through the browser flow, so the name
//! travels from amoCRM's account API into amolink's database and back out into its pages. On
//! the result page, the dashboard, `/connections` and `/connections/{id}` it must read as that
//! literal text, no `<img>` may appear, and `window.__xss` must stay undefined.
//!
//! amolink's CSP (no inline script) would stop the `onerror` even if escaping broke, so the test
//! does not rely on the canary alone: it looks for the element itself, and for the CSP
//! violation a blocked handler logs.

use amocrm_sim::{AccountSeed, Platform};
use anyhow::{Result, ensure};
use serde_json::json;

use crate::button_site::Mode;
use crate::demo::{Demo, connect, expect_clean_console, open_connect_page, sign_up, wait_for_url};
use crate::webdriver::Driver;

const HOSTILE_NAME: &str = "<img src=x onerror=window.__xss=1>";
const HOSTILE_ACCOUNT_ID: i64 = 31_000_666;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_named_with_markup_shows_as_text() -> Result<()> {
    let demo = Demo::spawn(vec![AccountSeed {
        id: HOSTILE_ACCOUNT_ID,
        platform: Platform::Amocrm,
        subdomain: "canary".to_owned(),
        name: HOSTILE_NAME.to_owned(),
        admin: true,
    }])
    .await?;
    let driver = Driver::start().await?;
    sign_up(&driver, &demo, "canary@acme.example", "Canary").await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;

    open_connect_page(&driver, &link).await?;
    let done = connect(&driver, &demo, HOSTILE_ACCOUNT_ID, Mode::Popup).await?;
    assert_eq!(done.heading, format!("{HOSTILE_NAME} is connected"));
    check_page(&driver, "the result page").await?;

    driver.goto(&demo.url("/dashboard")).await?;
    let recent = driver
        .find("main ul.plain a[href^='/connections/']")
        .await?
        .text()
        .await?;
    assert_eq!(recent, HOSTILE_NAME, "the dashboard's recent connections");
    check_page(&driver, "/dashboard").await?;

    driver.goto(&demo.url("/connections")).await?;
    let listed = driver.find("main table a[href^='/connections/']").await?;
    assert_eq!(listed.text().await?, HOSTILE_NAME, "/connections");
    check_page(&driver, "/connections").await?;

    listed.click().await?;
    wait_for_url(&driver, &demo.url("/connections/")).await?;
    let heading = driver.find("main h1").await?.text().await?;
    ensure!(
        heading.starts_with(HOSTILE_NAME),
        "the connection's page is headed {heading:?}"
    );
    let title = driver.title().await?;
    ensure!(
        title.starts_with(HOSTILE_NAME),
        "the connection's page is titled {title:?}"
    );
    check_page(&driver, "/connections/{id}").await
}

/// The current page holds no injected element, never ran the canary, and logged nothing (a
/// handler the CSP blocked would show up as a violation here).
async fn check_page(driver: &Driver, page: &str) -> Result<()> {
    let found = driver
        .execute(
            "return [typeof window.__xss,
                     document.querySelectorAll('img[src=\"x\"], [onerror]').length];",
            json!([]),
        )
        .await?;
    assert_eq!(
        found,
        json!(["undefined", 0]),
        "[canary, injected elements] on {page}"
    );
    expect_clean_console(driver, page).await
}
