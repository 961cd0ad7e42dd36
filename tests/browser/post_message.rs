//! A connect button in `post_message` mode, made on the dashboard's "Add a connect button" form
//! and used in Chromium: after Allow, the consent popup itself is redirected to amolink's
//! callback, hands the clean result page to the connect page that opened it and closes; the
//! connect page shows the result. The account then shows up Active.

use anyhow::{Result, ensure};

use web::i18n::{Lang, text_in};

use crate::button_site::Mode;
use crate::demo::{
    ADMIN_ACCOUNT_ID, ADMIN_ACCOUNT_NAME, Demo, connect, connect_link, expect_clean_console,
    open_connect_page, sign_up, wait_for_url,
};
use crate::webdriver::Driver;

const BUTTON_NAME: &str = "Acme via postMessage";
const BUTTON_TITLE: &str = "Connect Acme";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_message_button_lands_the_popup_on_the_result_page() -> Result<()> {
    story(Lang::En).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_message_story_in_russian() -> Result<()> {
    story(Lang::Ru).await
}

async fn story(lang: Lang) -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start_in(Some(lang.code())).await?;
    sign_up(&driver, &demo, "pm@acme.example", "Acme PM").await?;

    add_button(&driver).await?;
    wait_for_url(&driver, &demo.url("/dashboard")).await?;
    expect_clean_console(&driver, "/dashboard after adding a button").await?;
    let card = driver
        .execute(
            "const card = [...document.querySelectorAll('section.button-card')]
               .find(c => c.querySelector('h2').firstChild.textContent.trim() === arguments[0]);
             return card ? card.querySelector('.button-preview').textContent : null;",
            serde_json::json!([BUTTON_NAME]),
        )
        .await?;
    let preview = card.as_str().unwrap_or_default();
    ensure!(
        preview.contains(BUTTON_TITLE) && preview.contains(": post_message"),
        "the new button's preview reads {card}"
    );
    let link = connect_link(&driver, BUTTON_NAME).await?;

    open_connect_page(&driver, &link).await?;
    let shown = driver.find("[data-sim-button]").await?.text().await?;
    assert_eq!(shown, BUTTON_TITLE, "the button's label");
    let done = connect(&driver, &demo, ADMIN_ACCOUNT_ID, Mode::PostMessage).await?;
    assert_eq!(
        done.heading,
        text_in(
            lang,
            "connect-done-heading",
            &[("account", ADMIN_ACCOUNT_NAME)]
        )
    );
    ensure!(
        !done.url.contains('?'),
        "the result page has a query: {}",
        done.url
    );

    driver.goto(&demo.url("/connections")).await?;
    let row = driver.find("main table tbody tr").await?.text().await?;
    ensure!(
        row.contains(ADMIN_ACCOUNT_NAME) && row.contains(&text_in(lang, "status-active", &[])),
        "the connections list shows {row:?}"
    );
    expect_clean_console(&driver, "/connections").await
}

/// Fills in and submits the dashboard's "Add a connect button" form (the current page).
async fn add_button(driver: &Driver) -> Result<()> {
    let form = "form[action='/buttons']";
    choose(driver, &format!("{form} select[name=platform]"), "amocrm").await?;
    type_into(driver, &format!("{form} input[name=name]"), BUTTON_NAME).await?;
    type_into(
        driver,
        &format!("{form} input[name=description]"),
        "Syncs your leads with Acme",
    )
    .await?;
    // The logo field comes filled with amolink's own logo; keep it.
    let logo = driver.find(&format!("{form} input[name=logo_url]")).await?;
    ensure!(
        logo.attribute("value")
            .await?
            .is_some_and(|v| !v.is_empty()),
        "the logo URL field starts empty"
    );
    type_into(driver, &format!("{form} input[name=title]"), BUTTON_TITLE).await?;
    choose(driver, &format!("{form} select[name=color]"), "green").await?;
    choose(driver, &format!("{form} select[name=mode]"), "post_message").await?;
    let crm = driver
        .find(&format!("{form} input[name=scope_crm]"))
        .await?;
    ensure!(
        crm.attribute("checked").await?.is_some(),
        "the crm scope is not checked by default"
    );
    driver
        .find(&format!("{form} button[type=submit]"))
        .await?
        .click()
        .await
}

async fn type_into(driver: &Driver, css: &str, text: &str) -> Result<()> {
    let input = driver.find(css).await?;
    input.clear().await?;
    input.send_keys(text).await
}

/// Picks the option with `value` in the `<select>` matching `css`, by clicking it.
async fn choose(driver: &Driver, css: &str, value: &str) -> Result<()> {
    driver
        .find(&format!("{css} option[value='{value}']"))
        .await?
        .click()
        .await
}
