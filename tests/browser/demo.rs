//! amolink itself in demo mode, driven through Chromium the way a tenant and their customer use
//! it: the simulator is mounted inside amolink's own server (its button script, consent popup
//! and amoCRM API on amolink's origin), so the whole connect flow runs on one loopback port.
//!
//! The helpers here click through pages and check, on every amolink page they pass, that the
//! browser logged no error: no script error, no failed load, no CSP violation.

use amocrm_sim::{AccountSeed, Sim, SimConfig};
use amolink_tests::{Engine, TestApp, spawn_app_with};
use anyhow::{Context as _, Result, bail, ensure};
use serde_json::json;

use crate::button_site::Mode;
use crate::webdriver::{Driver, WAIT};

/// The demo user's amoCRM account they administer (the simulator's default data).
pub const ADMIN_ACCOUNT_ID: i64 = 31_000_001;
pub const ADMIN_ACCOUNT_NAME: &str = "Рога и копыта";
pub const ADMIN_ACCOUNT_HOST: &str = "demo.amocrm.ru";
/// Every tenant in these tests signs up with it.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running amolink in demo mode with the simulator it mounts.
pub struct Demo {
    pub app: TestApp,
    /// The simulator inside amolink: add accounts to it, read its journal.
    pub sim: Sim,
}

impl Demo {
    /// Starts amolink (SQLite, demo mode, no `amocrm_base_url`) with the simulator's default
    /// accounts plus `extra_accounts`.
    pub async fn spawn(extra_accounts: Vec<AccountSeed>) -> Result<Self> {
        let sim = Sim::new(SimConfig::default());
        for seed in extra_accounts {
            sim.add_account(seed).context("add a simulator account")?;
        }
        let mounted = sim.clone();
        let app = spawn_app_with(
            Engine::Sqlite,
            &[("demo", "true"), ("amocrm_base_url", "")],
            |overrides| overrides.simulator = Some(mounted),
        )
        .await;
        Ok(Self { app, sim })
    }

    /// An absolute URL of amolink.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }
}

/// Fails, naming `page`, when the browser logged an error since the previous check.
pub async fn expect_clean_console(driver: &Driver, page: &str) -> Result<()> {
    let errors = driver.console_errors().await?;
    ensure!(
        errors.is_empty(),
        "the browser logged errors on {page}: {errors:#?}"
    );
    Ok(())
}

/// Waits until the current window shows a URL starting with `prefix`; returns it.
pub async fn wait_for_url(driver: &Driver, prefix: &str) -> Result<String> {
    driver
        .wait_for(&format!("a page at {prefix}…"), WAIT, async || {
            let url = driver.current_url().await?;
            Ok(url.starts_with(prefix).then_some(url))
        })
        .await
}

/// Signs up through `/signup` like a person: types into the form, submits, and lands on the
/// dashboard, whose heading is the workspace's name.
pub async fn sign_up(driver: &Driver, demo: &Demo, email: &str, workspace: &str) -> Result<()> {
    driver.goto(&demo.url("/signup")).await?;
    expect_clean_console(driver, "/signup").await?;
    driver
        .find("input[name=email]")
        .await?
        .send_keys(email)
        .await?;
    driver
        .find("input[name=password]")
        .await?
        .send_keys(PASSWORD)
        .await?;
    driver
        .find("input[name=workspace]")
        .await?
        .send_keys(workspace)
        .await?;
    driver
        .find("form[action='/signup'] button[type=submit]")
        .await?
        .click()
        .await?;
    wait_for_url(driver, &demo.url("/dashboard")).await?;
    let heading = driver.wait_for_element("main h1").await?.text().await?;
    ensure!(
        heading == workspace,
        "the dashboard shows {heading:?}, not the workspace"
    );
    expect_clean_console(driver, "/dashboard").await
}

/// The hosted connect link of the dashboard's button called `button_name` (the current page
/// is the dashboard), read from its `code#link-…` element.
pub async fn connect_link(driver: &Driver, button_name: &str) -> Result<String> {
    let link = driver
        .execute(
            "const card = [...document.querySelectorAll('section.button-card')]
               .find(c => c.querySelector('h2').firstChild.textContent.trim() === arguments[0]);
             const code = card && card.querySelector('code[id^=\"link-\"]');
             return code ? code.textContent.trim() : null;",
            json!([button_name]),
        )
        .await?;
    link.as_str().map(str::to_owned).with_context(|| {
        format!("no connect link for a button named {button_name:?} on the dashboard")
    })
}

/// Opens a hosted connect page and waits for the simulator's button script to render the
/// button; the page must load without a console error.
pub async fn open_connect_page(driver: &Driver, link: &str) -> Result<()> {
    driver.goto(link).await?;
    driver.wait_for_element("[data-sim-button]").await?;
    expect_clean_console(driver, "the hosted connect page").await
}

/// On an open connect page (see [`open_connect_page`]): clicks the button, picks the account
/// `account_id` in the consent popup, allows, and follows the result the way the button's
/// `mode` sends it — popup mode: the popup closes and this window is sent to the callback;
/// post_message mode: the popup itself goes there, hands the result page to this window and
/// closes. Either way this window ends on amolink's result page, `/connect/done/{flow}`,
/// which is returned.
pub async fn connect(driver: &Driver, demo: &Demo, account_id: i64, _mode: Mode) -> Result<Done> {
    let opener = driver.window_handle().await?;
    let connect_page = driver.current_url().await?;
    driver.find("[data-sim-button]").await?.click().await?;
    let popup = driver
        .wait_for("the consent popup", WAIT, async || {
            let handles = driver.window_handles().await?;
            Ok(handles.into_iter().find(|h| *h != opener))
        })
        .await?;
    driver.switch_to_window(&popup).await?;
    let allow = driver.wait_for_element("#sim-allow").await?;
    pick_account(driver, account_id).await?;
    expect_clean_console(driver, "the consent popup").await?;
    allow.click().await?;

    // Popup mode: the consent window hands the redirect to this window and closes.
    // post_message mode: the consent window itself lands on the result page, tells this
    // window where it is (same origin only) and closes; this window follows.
    wait_for_popup_to_close(driver, &opener).await?;
    driver.switch_to_window(&opener).await?;
    let url = wait_for_url(driver, &demo.url("/connect/done/")).await?;
    ensure!(url != connect_page, "the window stayed on the connect page");
    let heading = driver.wait_for_element("main h1").await?.text().await?;
    let done = Done { url, heading };
    expect_clean_console(driver, "the window that opened the popup").await?;
    Ok(done)
}

/// Selects `account_id` in the consent page's account picker.
async fn pick_account(driver: &Driver, account_id: i64) -> Result<()> {
    let id = account_id.to_string();
    for radio in driver.find_all("input[name=account_id]").await? {
        if radio.attribute("value").await?.as_deref() == Some(id.as_str()) {
            return radio.click().await;
        }
    }
    bail!("the consent page does not offer account {id}")
}

async fn wait_for_popup_to_close(driver: &Driver, opener: &str) -> Result<()> {
    driver
        .wait_for("the popup to close itself", WAIT, async || {
            Ok((driver.window_handles().await? == [opener.to_owned()]).then_some(()))
        })
        .await
}

/// Where a connect flow ended: amolink's result page.
#[derive(Debug)]
pub struct Done {
    /// `{PUBLIC_URL}/connect/done/{flow}`.
    pub url: String,
    /// Its heading: "{account name} is connected" when the flow completed.
    pub heading: String,
}

/// Creates an API key with the `proxy` scope on `/settings/api-keys` (the browser is on that
/// page); answers the key the page shows once.
pub async fn create_proxy_key(driver: &Driver, name: &str) -> Result<String> {
    let form = "form[action='/settings/api-keys']";
    driver
        .find(&format!("{form} input[name=name]"))
        .await?
        .send_keys(name)
        .await?;
    driver
        .find(&format!("{form} input[name=scope_proxy]"))
        .await?
        .click()
        .await?;
    driver
        .find(&format!("{form} button[type=submit]"))
        .await?
        .click()
        .await?;
    driver.wait_for_element("#new-api-key").await?.text().await
}
