//! The rest of a tenant's day in Chromium (issue 12's leftovers): the Kommo variant of the
//! add-button form (its script switches the title and theme), editing and deleting a button
//! (with the confirmation), sending a test event to a webhook endpoint, logging out, a declined
//! consent on the hosted page, the team flows in two browser sessions (invite, accept, a viewer
//! cannot revoke) and a keyboard-only pass (Tab and Enter to sign up and create an API key), each
//! in English and in Russian.
//!
//! Every page is checked as the rest of the suite does — no console error or CSP violation, no
//! serious axe violation — and saved under `target/browser-screenshots/features/`.

use anyhow::{Context as _, Result, ensure};
use serde_json::json;

use crate::axe::expect_accessible;
use crate::button_site::Mode;
use crate::demo::{
    ADMIN_ACCOUNT_ID, Demo, PASSWORD, connect, connect_link, create_proxy_key,
    expect_clean_console, open_connect_page, sign_up, wait_for_url,
};
use crate::screenshot_path;
use crate::webdriver::{Driver, WAIT};
use web::i18n::{Lang, text_in};

/// The simulator's Kommo account its demo administrator may connect.
const KOMMO_ACCOUNT_ID: i64 = 32_000_001;

const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";

/// The page is clean (console, CSP, axe) and saved as `features/{name}.png`.
async fn step(driver: &Driver, name: &str) -> Result<()> {
    expect_clean_console(driver, name).await?;
    expect_accessible(driver, name).await?;
    driver
        .screenshot(&screenshot_path(&format!("features/{name}.png")))
        .await
}

/// Waits for the flash message after a redirect; answers its text.
async fn flash(driver: &Driver) -> Result<String> {
    driver.wait_for_element("p.flash").await?.text().await
}

async fn value_of(driver: &Driver, css: &str) -> Result<String> {
    let value = driver
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
            json!([css]),
        )
        .await?;
    value
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {css}"))
}

/// Runs a story once in each language (a `#[tokio::test]` per language).
macro_rules! in_both_languages {
    ($story:ident: $english:ident, $russian:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $english() -> Result<()> {
            $story(Lang::En).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $russian() -> Result<()> {
            $story(Lang::Ru).await
        }
    };
}

/// A screenshot's name under the language's folder.
fn at(lang: Lang, name: &str) -> String {
    format!("{}/{name}", lang.code())
}

/// The catalogue's words for `id` in `lang`: what the page must show.
fn words(lang: Lang, id: &str) -> String {
    text_in(lang, id, &[])
}

in_both_languages!(kommo_story: kommo_buttons_in_english, kommo_buttons_in_russian);

/// Kommo buttons are added, edited and deleted, a test event is sent and the tenant logs out.
async fn kommo_story(lang: Lang) -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start_in(Some(lang.code())).await?;
    sign_up(&driver, &demo, "owner@acme.example", "Acme Widgets").await?;

    // Choosing Kommo switches the text and theme left at amoCRM's defaults.
    let form = "form[data-button-form]";
    ensure!(value_of(&driver, &format!("{form} input[name=title]")).await? == "Подключить amoCRM");
    driver
        .find(&format!("{form} select[name=platform] option[value=kommo]"))
        .await?
        .click()
        .await?;
    assert_eq!(
        value_of(&driver, &format!("{form} input[name=title]")).await?,
        "Continue with Kommo"
    );
    assert_eq!(
        value_of(&driver, &format!("{form} select[name=color]")).await?,
        "light"
    );
    for (field, text) in [
        ("name", "Acme for Kommo"),
        ("description", "Syncs your Kommo leads"),
    ] {
        driver
            .find(&format!("{form} input[name={field}]"))
            .await?
            .send_keys(text)
            .await?;
    }
    step(&driver, &at(lang, "kommo-form")).await?;
    driver
        .find(&format!("{form} button[type=submit]"))
        .await?
        .click()
        .await?;
    let said = flash(&driver).await?;
    ensure!(
        said.contains(&words(lang, "flash-button_saved")),
        "the flash says {said:?}"
    );
    step(&driver, &at(lang, "kommo-added")).await?;
    let kommo = connect_link(&driver, "Acme for Kommo").await?;
    open_connect_page(&driver, &kommo).await?;
    let label = driver.find("[data-sim-button]").await?.text().await?;
    ensure!(label.contains("Kommo"), "the Kommo button says {label:?}");
    step(&driver, &at(lang, "kommo-connect-page")).await?;
    let done = connect(&driver, &demo, KOMMO_ACCOUNT_ID, Mode::Popup).await?;
    assert_eq!(
        done.heading,
        text_in(lang, "connect-done-heading", &[("account", "Kommo Demo")])
    );
    step(&driver, &at(lang, "kommo-connected")).await?;

    // Edit it from its pre-filled form.
    driver.goto(&demo.url("/dashboard")).await?;
    let edit = driver
        .execute(
            "const card = [...document.querySelectorAll('section.button-card')]
               .find(c => c.querySelector('h2').textContent.includes(arguments[0]));
             const a = card && card.querySelector('a[href^=\"/buttons/\"]');
             return a ? a.getAttribute('href') : null;",
            json!(["Acme for Kommo"]),
        )
        .await?
        .as_str()
        .map(str::to_owned)
        .context("an edit link on the Kommo button's card")?;
    driver.goto(&demo.url(&edit)).await?;
    assert_eq!(
        value_of(&driver, "input[name=title]").await?,
        "Continue with Kommo",
        "pre-filled"
    );
    step(&driver, &at(lang, "button-edit")).await?;
    let title = driver.find("input[name=title]").await?;
    title.clear().await?;
    title.send_keys("Connect Kommo to Acme").await?;
    driver
        .find("form[data-button-form] button[type=submit]")
        .await?
        .click()
        .await?;
    wait_for_url(&driver, &demo.url("/dashboard")).await?;
    let said = flash(&driver).await?;
    ensure!(
        said.contains(&words(lang, "flash-button_saved")),
        "the flash says {said:?}"
    );

    // Delete it: Cancel keeps it, OK deletes it and says so.
    driver.goto(&demo.url(&edit)).await?;
    let delete = format!("form[action='{edit}/delete'] button");
    driver.find(&delete).await?.click().await?;
    let question = driver
        .wait_for("the confirmation", WAIT, async || {
            driver.answer_dialog(false).await.map(Some)
        })
        .await?;
    ensure!(
        question.contains("Acme for Kommo"),
        "the question is {question:?}"
    );
    ensure!(
        driver.current_url().await?.ends_with(&edit),
        "Cancel deleted it"
    );
    driver.find(&delete).await?.click().await?;
    driver
        .wait_for("the confirmation", WAIT, async || {
            driver.answer_dialog(true).await.map(Some)
        })
        .await?;
    wait_for_url(&driver, &demo.url("/dashboard")).await?;
    let said = flash(&driver).await?;
    ensure!(
        said.contains(&words(lang, "flash-button_deleted")),
        "the flash says {said:?}"
    );
    ensure!(
        connect_link(&driver, "Acme for Kommo").await.is_err(),
        "the deleted button is still listed"
    );
    step(&driver, &at(lang, "button-deleted")).await?;
    // The account connected through it stays connected.
    driver
        .goto(&demo.url("/connections?platform=kommo"))
        .await?;
    let row = driver.find("main table tbody tr").await?.text().await?;
    ensure!(
        row.contains("Kommo Demo") && row.contains(&words(lang, "status-active")),
        "after deleting its button the Kommo connection shows {row:?}"
    );
    step(&driver, &at(lang, "kommo-connection-stays")).await?;

    // A webhook endpoint gets a test event.
    driver.goto(&demo.url("/settings/webhooks")).await?;
    driver
        .find("input[name=url]")
        .await?
        .send_keys("http://127.0.0.1:9/hooks")
        .await?;
    driver
        .find("form[action='/settings/webhooks'] button[type=submit]")
        .await?
        .click()
        .await?;
    driver.wait_for_element("#new-secret").await?;
    driver
        .find("main a[href^='/settings/webhooks/']")
        .await?
        .click()
        .await?;
    let test = driver
        .wait_for_element("form[action$='/test'] button")
        .await?;
    test.click().await?;
    let said = flash(&driver).await?;
    ensure!(
        said.contains(&words(lang, "flash-test_event_sent")),
        "the flash says {said:?}"
    );
    let event = driver
        .find("tr[data-delivery] td code")
        .await?
        .text()
        .await?;
    assert_eq!(event, "webhook.test");
    step(&driver, &at(lang, "webhook-test-event")).await?;

    // Log out: the header's button ends the session.
    driver
        .find("form[action='/logout'] button")
        .await?
        .click()
        .await?;
    driver
        .wait_for("the log-out", WAIT, async || {
            Ok(driver
                .find_all("form[action='/logout']")
                .await?
                .is_empty()
                .then_some(()))
        })
        .await?;
    step(&driver, &at(lang, "logged-out")).await?;
    driver.goto(&demo.url("/dashboard")).await?;
    wait_for_url(&driver, &demo.url("/login")).await?;
    step(&driver, &at(lang, "dashboard-after-log-out")).await
}

in_both_languages!(declined_story: a_declined_consent_says_so_in_english, a_declined_consent_says_so_in_russian);

/// A declined consent on the hosted page tells the end user so, in their language.
async fn declined_story(lang: Lang) -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start_in(Some(lang.code())).await?;
    sign_up(&driver, &demo, "decline@acme.example", "Acme").await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;
    open_connect_page(&driver, &link).await?;
    let opener = driver.window_handle().await?;
    driver.find("[data-sim-button]").await?.click().await?;
    let popup = driver
        .wait_for("the consent popup", WAIT, async || {
            Ok(driver
                .window_handles()
                .await?
                .into_iter()
                .find(|h| *h != opener))
        })
        .await?;
    driver.switch_to_window(&popup).await?;
    driver.wait_for_element("#sim-deny").await?.click().await?;
    driver
        .wait_for("the popup to close", WAIT, async || {
            Ok((driver.window_handles().await? == [opener.clone()]).then_some(()))
        })
        .await?;
    driver.switch_to_window(&opener).await?;
    // The hosted page (or the declined page it was sent to) tells the end user.
    let hints: &[&str] = match lang {
        Lang::En => &["declined", "Nothing was connected"],
        Lang::Ru => &["отклон", "Ничего не подключено"],
    };
    let said = driver
        .wait_for("the declined message", WAIT, async || {
            for css in ["#connect-status:not([hidden])", "main h1"] {
                if let Some(element) = driver.find_all(css).await?.into_iter().next() {
                    let text = element.text().await?;
                    if hints.iter().any(|hint| text.contains(hint)) {
                        return Ok(Some(text));
                    }
                }
            }
            Ok(None)
        })
        .await?;
    ensure!(!said.is_empty());
    step(&driver, &at(lang, "declined-hosted")).await
}

in_both_languages!(viewer_story: a_viewer_cannot_revoke_in_english, a_viewer_cannot_revoke_in_russian);

/// The owner invites a viewer; the viewer accepts in a second browser session, sees the
/// connection and is offered no Revoke.
async fn viewer_story(lang: Lang) -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let owner = Driver::start_in(Some(lang.code())).await?;
    sign_up(&owner, &demo, "owner@team.example", "Team Acme").await?;
    let link = owner.find("code[id^='link-']").await?.text().await?;
    open_connect_page(&owner, &link).await?;
    connect(&owner, &demo, ADMIN_ACCOUNT_ID, Mode::Popup).await?;

    owner.goto(&demo.url("/settings/team")).await?;
    owner
        .find("form[action='/settings/team/invites'] input[name=email]")
        .await?
        .send_keys("vera@team.example")
        .await?;
    owner
        .find("form[action='/settings/team/invites'] select[name=role] option[value=viewer]")
        .await?
        .click()
        .await?;
    owner
        .find("form[action='/settings/team/invites'] button[type=submit]")
        .await?
        .click()
        .await?;
    owner.wait_for_element("p.flash, [role=status]").await?;
    step(&owner, &at(lang, "team-invited")).await?;
    owner.goto(&demo.url("/dev/outbox")).await?;
    let mail = owner.find("pre.mail-body").await?.text().await?;
    let invite = mail
        .split_whitespace()
        .find(|w| w.contains("/invite?token="))
        .context("an invitation link in the mail")?
        .to_owned();

    let viewer = Driver::start_in(Some(lang.code())).await?;
    viewer.goto(&invite).await?;
    step(&viewer, &at(lang, "invite")).await?;
    viewer
        .find("form[action='/invite'] input[name=password]")
        .await?
        .send_keys(PASSWORD)
        .await?;
    viewer
        .find("form[action='/invite'] button[type=submit]")
        .await?
        .click()
        .await?;
    wait_for_url(&viewer, &demo.url("/dashboard")).await?;
    viewer.goto(&demo.url("/connections")).await?;
    viewer
        .find("main table a[href^='/connections/']")
        .await?
        .click()
        .await?;
    wait_for_url(&viewer, &demo.url("/connections/")).await?;
    let badge = viewer.find("main h1 .badge").await?.text().await?;
    assert_eq!(badge, words(lang, "status-active"));
    ensure!(
        viewer.find_all("form[action$='/revoke']").await?.is_empty(),
        "a viewer is offered Revoke"
    );
    step(&viewer, &at(lang, "viewer-connection")).await?;

    owner.goto(&demo.url("/settings/team")).await?;
    let team = owner.find("main").await?.text().await?;
    ensure!(team.contains("vera@team.example"), "the team page: {team}");
    step(&owner, &at(lang, "team-with-viewer")).await?;

    // The owner revokes it; the viewer's open page redraws its badge without a reload.
    let page = viewer.current_url().await?;
    viewer
        .execute("window.__notReloaded = true;", json!([]))
        .await?;
    owner.goto(&page).await?;
    owner.find("button.danger").await?.click().await?;
    owner
        .wait_for("the confirmation", WAIT, async || {
            owner.answer_dialog(true).await.map(Some)
        })
        .await?;
    owner.wait_for_element("p.flash").await?;
    viewer
        .execute(
            "document.dispatchEvent(new Event('amolink:refresh-status'));",
            json!([]),
        )
        .await?;
    viewer
        .wait_for("the Revoked badge", WAIT, async || {
            let badge = viewer.find("main h1 .badge").await?.text().await?;
            Ok((badge == words(lang, "status-revoked")).then_some(()))
        })
        .await?;
    let kept = viewer
        .execute("return window.__notReloaded === true;", json!([]))
        .await?;
    ensure!(kept.as_bool() == Some(true), "the page was reloaded");
    step(&viewer, &at(lang, "viewer-badge-refreshed")).await
}

/// Presses Tab until the focused element matches `css` (at most 40 times).
async fn tab_to(driver: &Driver, css: &str) -> Result<()> {
    for _ in 0..40 {
        let here = driver
            .execute(
                "return document.activeElement && document.activeElement.matches(arguments[0]);",
                json!([css]),
            )
            .await?;
        if here.as_bool() == Some(true) {
            let visible = driver
                .execute(
                    "const s = getComputedStyle(document.activeElement);
                     return s.outlineStyle !== 'none' && s.outlineWidth !== '0px' || s.boxShadow !== 'none';",
                    json!([]),
                )
                .await?;
            ensure!(visible.as_bool() == Some(true), "{css} shows no focus");
            return Ok(());
        }
        driver.active_element().await?.send_keys(TAB).await?;
    }
    anyhow::bail!("Tab never reached {css}")
}

in_both_languages!(
    keyboard_story: the_keyboard_alone_signs_up_and_creates_an_api_key,
    the_keyboard_alone_signs_up_and_creates_an_api_key_in_russian
);

async fn keyboard_story(lang: Lang) -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start_in(Some(lang.code())).await?;
    driver.goto(&demo.url("/signup")).await?;
    for (field, text) in [
        ("email", "keys@acme.example"),
        ("password", PASSWORD),
        ("workspace", "Keyboard Co"),
    ] {
        tab_to(&driver, &format!("input[name={field}]")).await?;
        driver.active_element().await?.send_keys(text).await?;
    }
    driver.active_element().await?.send_keys(ENTER).await?;
    wait_for_url(&driver, &demo.url("/dashboard")).await?;
    step(&driver, &at(lang, "keyboard-dashboard")).await?;

    driver.goto(&demo.url("/settings/api-keys")).await?;
    tab_to(
        &driver,
        "form[action='/settings/api-keys'] input[name=name]",
    )
    .await?;
    driver.active_element().await?.send_keys("keyboard").await?;
    tab_to(
        &driver,
        "form[action='/settings/api-keys'] button[type=submit]",
    )
    .await?;
    driver.active_element().await?.send_keys(ENTER).await?;
    let key = driver
        .wait_for_element("#new-api-key")
        .await?
        .text()
        .await?;
    ensure!(key.starts_with("alk_"), "the new key is {key:?}");
    step(&driver, &at(lang, "keyboard-api-key")).await
}

/// A connection with traffic, for the README: proxied calls (some answered 404 by amoCRM), then
/// its page with the hourly charts in view, saved as `readme/connection-charts.png` (copied to
/// `docs/screenshot-connection.png`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_with_traffic_shows_its_charts() -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start().await?;
    sign_up(&driver, &demo, "charts@acme.example", "Acme Widgets").await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;
    open_connect_page(&driver, &link).await?;
    connect(&driver, &demo, ADMIN_ACCOUNT_ID, Mode::Popup).await?;
    driver.goto(&demo.url("/connections")).await?;
    let page = driver
        .find("main table a[href^='/connections/']")
        .await?
        .attribute("href")
        .await?
        .context("a connection link")?;

    driver.goto(&demo.url("/settings/api-keys")).await?;
    let key = create_proxy_key(&driver, "backend").await?;
    let http = reqwest::Client::new();
    let mut calls = 0;
    for path in [
        "leads",
        "contacts",
        "account",
        "leads",
        "companies",
        "leads/999999999",
        "contacts",
        "leads",
    ] {
        let res = http
            .get(demo.url(&format!("/api/v1{page}/proxy/api/v4/{path}")))
            .bearer_auth(key.trim())
            .send()
            .await?;
        ensure!(res.status().as_u16() < 500, "{path}: {}", res.status());
        calls += 1;
    }
    // The activity is written in batches: wait until the page's numbers hold every call.
    driver
        .wait_for("the calls in the hourly numbers", WAIT, async || {
            driver.goto(&demo.url(&page)).await?;
            let total = driver
                .execute(
                    "return [...document.querySelectorAll('#hourly-numbers td.calls')]
                       .reduce((n, td) => n + Number(td.textContent), 0);",
                    json!([]),
                )
                .await?;
            Ok((total.as_i64() == Some(calls)).then_some(()))
        })
        .await?;
    // Tall enough to show the account, then its charts, in one picture.
    driver.set_window_size(1280, 1750).await?;
    driver.goto(&demo.url(&page)).await?;
    expect_clean_console(&driver, "the connection's page").await?;
    expect_accessible(&driver, "the connection's page").await?;
    driver
        .screenshot(&screenshot_path("readme/connection-charts.png"))
        .await
}
