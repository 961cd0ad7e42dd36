//! The simulator's site button in a real browser: an integrator's page embeds the official tag,
//! a person clicks the button, allows access in the consent popup, and the browser comes back to
//! the integrator's `redirect_uri` with a code — in both `data-mode`s. The secrets webhook must
//! reach the integrator before the browser does.

use amocrm_sim::{AccountSeed, Platform, SimConfig, SimHandle};
use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::button_site::{Arrival, BUTTON_TITLE, ButtonSite, INTEGRATION_NAME, Mode};
use crate::screenshot_path;
use crate::webdriver::{Driver, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popup_mode_sends_the_opener_to_the_redirect_uri() -> Result<()> {
    connect_through_the_button(Mode::Popup).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_message_mode_redirects_the_popup_to_the_redirect_uri() -> Result<()> {
    connect_through_the_button(Mode::PostMessage).await
}

async fn connect_through_the_button(mode: Mode) -> Result<()> {
    let sim = amocrm_sim::spawn(SimConfig::default()).await?;
    let config = sim.sim().config();
    let admin = config
        .accounts
        .iter()
        .find(|a| a.platform == Platform::Amocrm && a.admin)
        .context("the demo data has an amoCRM account the demo user administers")?;
    let button_js = format!(
        "{}{}/www.amocrm.ru/auth/button.min.js",
        sim.base_url(),
        config.browser_prefix
    );
    let site = ButtonSite::spawn(&button_js).await?;
    let driver = Driver::start().await?;

    // The integrator's page: the script renders the button right after its tag.
    driver.goto(&site.page_url(mode)).await?;
    let button = driver.wait_for_element("[data-sim-button]").await?;
    assert_eq!(button.text().await?, BUTTON_TITLE);
    let opener = driver.window_handle().await?;
    button.click().await?;

    // The consent page opens in a popup window.
    let popup = driver
        .wait_for("the consent popup", WAIT, async || {
            let handles = driver.window_handles().await?;
            Ok(handles.into_iter().find(|h| *h != opener))
        })
        .await?;
    driver.switch_to_window(&popup).await?;
    let allow = driver.wait_for_element("#sim-allow").await?;
    check_consent_page(&driver).await?;
    pick_account(&driver, admin).await?;
    driver
        .screenshot(&screenshot_path(&format!("consent-{}.png", mode.as_str())))
        .await?;
    // Read now: in popup mode the window closes itself, and its console with it.
    let mut console_errors = driver.console_errors().await?;
    allow.click().await?;

    // Back at the Redirect URI: the opener in popup mode, the popup itself in post_message mode.
    if mode == Mode::Popup {
        driver
            .wait_for("the popup to close itself", WAIT, async || {
                Ok((driver.window_handles().await? == [opener.clone()]).then_some(()))
            })
            .await?;
        driver.switch_to_window(&opener).await?;
    }
    let landed = driver
        .wait_for("the browser at the Redirect URI", WAIT, async || {
            let url = driver.current_url().await?;
            Ok(url.starts_with(&site.callback_url()).then_some(url))
        })
        .await?;
    assert_eq!(driver.find("#callback").await?.text().await?, "Connected");
    console_errors.extend(driver.console_errors().await?);
    if mode == Mode::PostMessage {
        driver.switch_to_window(&opener).await?;
        assert_eq!(
            driver.current_url().await?,
            site.page_url(mode),
            "opener stays"
        );
    }
    assert!(console_errors.is_empty(), "console: {console_errors:#?}");

    let landed_query: Vec<_> = url::Url::parse(&landed)?
        .query_pairs()
        .into_owned()
        .collect();
    check_arrivals(&site, &sim, admin, &landed_query)?;
    // Chromium first, so no keep-alive connection holds up the simulator's graceful stop.
    drop(driver);
    sim.stop().await;
    Ok(())
}

/// The consent page shows the integration's name as text — its markup escaped in the DOM, its
/// `onerror` never run — and keeps a reference to its opener, which popup mode depends on.
async fn check_consent_page(driver: &Driver) -> Result<()> {
    assert_eq!(driver.title().await?, "Предоставить доступ");
    let shown = driver.find("#sim-integration-name").await?.text().await?;
    assert_eq!(shown, INTEGRATION_NAME);
    let source = driver.page_source().await?;
    assert!(
        source.contains("&lt;img src=x"),
        "name not escaped:\n{source}"
    );
    let page = driver
        .execute(
            "return [typeof window.__xss, window.opener !== null];",
            json!([]),
        )
        .await?;
    assert_eq!(page, json!(["undefined", true]), "[xss canary, has opener]");
    Ok(())
}

/// Selects `account` in the consent page's account picker, when it shows one (the account
/// checked first need not be one the user administers).
async fn pick_account(driver: &Driver, account: &AccountSeed) -> Result<()> {
    let radios = driver.find_all("input[name=account_id]").await?;
    if radios.is_empty() {
        return Ok(());
    }
    let id = account.id.to_string();
    for radio in radios {
        if radio.attribute("value").await?.as_deref() == Some(id.as_str()) {
            return radio.click().await;
        }
    }
    bail!("the account picker does not offer account {id}")
}

/// What reached the integrator: the keys first, then the browser, with a code for `account`
/// and the button's state — the very query the browser landed on (`landed_query`).
fn check_arrivals(
    site: &ButtonSite,
    sim: &SimHandle,
    account: &AccountSeed,
    landed_query: &[(String, String)],
) -> Result<()> {
    let arrivals = site.arrivals();
    let [Arrival::Secrets(secrets), Arrival::Callback(query)] = arrivals.as_slice() else {
        bail!("expected the secrets POST, then the callback; got {arrivals:#?}");
    };
    assert_eq!(
        query, landed_query,
        "the site saw the URL the browser shows"
    );
    let param = |key: &str| {
        let value = query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        value.with_context(|| format!("no {key} in the callback: {query:?}"))
    };
    let client_id = secrets["client_id"]
        .as_str()
        .context("client_id in the secrets POST")?;
    assert!(
        secrets["client_secret"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "secrets POST: {secrets}"
    );
    assert_eq!(
        secrets["state"],
        json!(site.state()),
        "secrets POST: {secrets}"
    );
    assert!(!param("code")?.is_empty());
    assert_eq!(
        param("referer")?,
        account.platform.account_host(&account.subdomain)
    );
    assert_eq!(param("state")?, site.state());
    assert_eq!(param("client_id")?, client_id);

    let integrations = sim.sim().integrations();
    assert!(
        integrations
            .iter()
            .any(|i| i.client_id == client_id && i.redirect_uri == site.callback_url()),
        "the simulator created the integration: {integrations:#?}"
    );
    Ok(())
}
