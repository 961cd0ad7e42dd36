//! The tenant's whole story in Chromium, against amolink in demo mode: sign up on `/signup`,
//! read the hosted connect link off the dashboard, open it, click the (simulated) amoCRM button,
//! allow access for the admin account in the consent popup, and land — in popup mode, in the
//! original window — on amolink's clean result page; then find the account Active under
//! Connections and revoke it.
//!
//! Along the way: no amolink page logs a console error or CSP violation (R12), neither the final
//! URL nor any history entry holds `code=` or `state=`, and the result page loads nothing from
//! another origin (R20). Screenshots of the dashboard, the connect page and the connections page
//! are kept in `target/browser-screenshots/` for a person to judge.

use amocrm_sim::Event;
use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use crate::button_site::Mode;
use crate::demo::{
    ADMIN_ACCOUNT_HOST, ADMIN_ACCOUNT_ID, ADMIN_ACCOUNT_NAME, Demo, connect, expect_clean_console,
    open_connect_page, sign_up, wait_for_url,
};
use crate::screenshot_path;
use crate::webdriver::{Driver, WAIT};
use web::i18n::{Lang, text_in};

const WORKSPACE: &str = "Acme Widgets";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_signs_up_connects_an_account_and_revokes_it() -> Result<()> {
    story(Lang::En).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_story_in_russian() -> Result<()> {
    story(Lang::Ru).await
}

/// Sign up, connect the demo account in the popup, see it on the pages, revoke it (Cancel first,
/// then OK): in `lang`, checking the catalogue's words.
async fn story(lang: Lang) -> Result<()> {
    let words = |id: &str| text_in(lang, id, &[]);
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start_in(Some(lang.code())).await?;

    sign_up(&driver, &demo, "owner@acme.example", WORKSPACE).await?;
    driver
        .screenshot(&screenshot_path(&format!(
            "{}/amolink-dashboard.png",
            lang.code()
        )))
        .await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;
    ensure!(
        link.starts_with(&demo.url("/connect/")),
        "the dashboard's connect link is {link:?}"
    );

    open_connect_page(&driver, &link).await?;
    let button = driver.find("[data-sim-button]").await?.text().await?;
    ensure!(!button.is_empty(), "the amoCRM button has no label");
    driver
        .screenshot(&screenshot_path(&format!(
            "{}/amolink-connect.png",
            lang.code()
        )))
        .await?;

    let done = connect(&driver, &demo, ADMIN_ACCOUNT_ID, Mode::Popup).await?;
    assert_eq!(
        done.heading,
        text_in(
            lang,
            "connect-done-heading",
            &[("account", ADMIN_ACCOUNT_NAME)]
        )
    );
    driver
        .screenshot(&screenshot_path(&format!(
            "{}/amolink-connect-done.png",
            lang.code()
        )))
        .await?;
    check_result_page(&driver, &demo, &done.url).await?;
    check_history(&driver, &link, &done.url).await?;
    check_amocrm_saw_amolink(&demo)?;

    // The tenant's browser still holds the workspace session: the account is listed, Active.
    driver.goto(&demo.url("/connections")).await?;
    expect_clean_console(&driver, "/connections").await?;
    let row = driver.find("main table tbody tr").await?.text().await?;
    let active = words("status-active");
    for expected in [
        ADMIN_ACCOUNT_NAME,
        ADMIN_ACCOUNT_HOST,
        active.as_str(),
        "amoCRM",
    ] {
        ensure!(row.contains(expected), "the row {row:?} lacks {expected:?}");
    }
    driver
        .screenshot(&screenshot_path(&format!(
            "{}/amolink-connections.png",
            lang.code()
        )))
        .await?;

    driver
        .find("main table a[href^='/connections/']")
        .await?
        .click()
        .await?;
    wait_for_url(&driver, &demo.url("/connections/")).await?;
    assert_eq!(status_badge(&driver).await?, words("status-active"));
    expect_clean_console(&driver, "the connection's page").await?;
    driver
        .screenshot(&screenshot_path(&format!(
            "{}/amolink-connection.png",
            lang.code()
        )))
        .await?;

    // Revoking asks first: Cancel changes nothing, OK revokes and says so.
    driver.find("button.danger").await?.click().await?;
    let question = driver
        .wait_for("the confirmation", WAIT, async || {
            driver.answer_dialog(false).await.map(Some)
        })
        .await?;
    ensure!(
        question.contains(ADMIN_ACCOUNT_NAME),
        "the question is {question:?}"
    );
    assert_eq!(
        status_badge(&driver).await?,
        words("status-active"),
        "Cancel revoked it"
    );
    driver.find("button.danger").await?.click().await?;
    driver
        .wait_for("the confirmation", WAIT, async || {
            driver.answer_dialog(true).await.map(Some)
        })
        .await?;
    driver
        .wait_for("the Revoked badge", WAIT, async || {
            Ok((status_badge(&driver).await? == words("status-revoked")).then_some(()))
        })
        .await?;
    let flash = driver.find("p.flash").await?.text().await?;
    ensure!(
        flash.contains(&words("flash-connection_revoked")),
        "the flash says {flash:?}"
    );
    ensure!(
        driver.find_all("button.danger").await?.is_empty(),
        "a revoked connection still offers to revoke"
    );
    expect_clean_console(&driver, "the revoked connection's page").await?;
    driver.goto(&demo.url("/connections")).await?;
    let row = driver.find("main table tbody tr").await?.text().await?;
    ensure!(
        row.contains(&words("status-revoked")),
        "the list still shows {row:?}"
    );
    expect_clean_console(&driver, "/connections after revoking").await
}

/// The status badge next to a connection's name.
async fn status_badge(driver: &Driver) -> Result<String> {
    driver.find("main h1 .badge").await?.text().await
}

/// The result page: a clean URL, and every resource it loaded came from amolink itself.
async fn check_result_page(driver: &Driver, demo: &Demo, url: &str) -> Result<()> {
    ensure_no_oauth_params(url)?;
    let loaded = driver
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name);",
            json!([]),
        )
        .await?;
    let loaded: Vec<&str> = loaded
        .as_array()
        .context("resource entries")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(!loaded.is_empty(), "the result page loaded no stylesheet?");
    let own = demo.url("/");
    for resource in &loaded {
        ensure!(
            resource.starts_with(&own),
            "the result page loaded {resource} from another origin (all: {loaded:?})"
        );
    }
    Ok(())
}

/// Every entry of the window's history, walked back from the newest: none carries the code or
/// the state, and the walk passed both the connect page and the result page.
async fn check_history(driver: &Driver, link: &str, done: &str) -> Result<()> {
    let length = driver.execute("return history.length;", json!([])).await?;
    let length = length.as_u64().context("history.length")?;
    let mut urls = vec![driver.current_url().await?];
    for _ in 1..length {
        driver.back().await?;
        urls.push(driver.current_url().await?);
    }
    for url in &urls {
        ensure_no_oauth_params(url).with_context(|| format!("history: {urls:#?}"))?;
    }
    ensure!(
        urls.iter().any(|u| u == link) && urls.iter().any(|u| u == done),
        "history lacks the connect or the result page: {urls:#?}"
    );
    // The walk re-rendered older pages; none of them may log an error either.
    expect_clean_console(driver, "pages revisited through history").await
}

fn ensure_no_oauth_params(url: &str) -> Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    let keys: Vec<_> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    ensure!(
        !keys.iter().any(|k| k == "code" || k == "state") && !url.contains("code="),
        "{url} carries OAuth parameters"
    );
    Ok(())
}

/// The simulator mounted in amolink saw the whole install: the secrets reached amolink's
/// webhook, and amolink exchanged the code for the admin account.
fn check_amocrm_saw_amolink(demo: &Demo) -> Result<()> {
    let journal = demo.sim.journal();
    let secrets = demo.url("/amocrm/secrets");
    ensure!(
        journal.iter().any(|e| matches!(
            &e.event,
            Event::SecretsDelivered { url, accepted: true, .. } if *url == secrets
        )),
        "no accepted secrets delivery to {secrets}: {journal:#?}"
    );
    ensure!(
        journal.iter().any(|e| matches!(
            &e.event,
            Event::TokenIssued { account_id, via, .. }
                if *account_id == ADMIN_ACCOUNT_ID && via == "authorization_code"
        )),
        "amolink never exchanged the code: {journal:#?}"
    );
    Ok(())
}
