//! The embed loader on a tenant's own site (another origin), in Chromium: the popup it opens
//! stays open while the end user is busy in it (no early `amolink:closed`), and the tenant's
//! page hears, once each and in order, `amolink:connected` (with the connection id) or
//! `amolink:declined`, then `amolink:closed` when the popup has really closed — which it does
//! by itself after a success. A declined consent tells the end user so on the hosted page, and
//! the result pages link back to the tenant's `data-return-url`.

use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use crate::demo::{ADMIN_ACCOUNT_ID, Demo, expect_clean_console, sign_up, wait_for_url};
use crate::screenshot_path;
use crate::webdriver::{Driver, WAIT};

/// A tenant's page embedding amolink's loader; every event the loader fires is recorded in
/// `window.__amolink` as `{type, detail}`.
struct TenantSite {
    base: String,
    server: ServerHandle,
}

impl TenantSite {
    async fn spawn(embed_src: String) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the tenant site")?;
        let base = format!("http://{}", listener.local_addr()?);
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shop</title>\
             <script>window.__amolink = [];\
             ['amolink:connected','amolink:declined','amolink:error','amolink:closed'].forEach(function (t) {{\
               document.addEventListener(t, function (e) {{ window.__amolink.push({{type: t, detail: e.detail}}); }});\
             }});</script></head><body><h1>Shop settings</h1>\
             <script src=\"{embed_src}\" data-return-url=\"/settings\"></script></body></html>"
        );
        let server = HttpServer::new(move || {
            let page = page.clone();
            App::new().default_service(web::to(move || {
                let page = page.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(page)
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            base,
            server: handle,
        })
    }
}

impl Drop for TenantSite {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Signs up, and serves a tenant page embedding the workspace's first button.
async fn embedded(driver: &Driver, demo: &Demo, email: &str) -> Result<TenantSite> {
    sign_up(driver, demo, email, "Embed Co").await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;
    let key = link
        .rsplit('/')
        .next()
        .context("a connect link ends with its key")?;
    TenantSite::spawn(demo.url(&format!("/embed/{key}.js"))).await
}

async fn events(driver: &Driver) -> Result<Vec<Value>> {
    let events = driver
        .execute("return window.__amolink;", json!([]))
        .await?;
    events.as_array().cloned().context("window.__amolink")
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

/// Clicks the embedded button and returns (tenant window, popup window), the popup current and
/// showing amoCRM's button. Until then the tenant page has heard nothing.
async fn open_popup(driver: &Driver, site: &TenantSite) -> Result<(String, String)> {
    driver.goto(&site.base).await?;
    let tenant = driver.window_handle().await?;
    driver
        .wait_for_element("button.amolink-connect")
        .await?
        .click()
        .await?;
    let popup = driver
        .wait_for("the connect popup", WAIT, async || {
            let handles = driver.window_handles().await?;
            Ok(handles.into_iter().find(|h| *h != tenant))
        })
        .await?;
    driver.switch_to_window(&popup).await?;
    driver.wait_for_element("[data-sim-button]").await?;
    expect_clean_console(driver, "the hosted page in the embed popup").await?;
    driver
        .screenshot(&screenshot_path("embed-popup.png"))
        .await?;
    driver.switch_to_window(&tenant).await?;
    let heard = events(driver).await?;
    ensure!(
        heard.is_empty(),
        "the tenant page heard {heard:?} while the popup is still open"
    );
    driver.switch_to_window(&popup).await?;
    Ok((tenant, popup))
}

/// Clicks amoCRM's button in the current window and answers the consent window it opens with
/// `decision` (`allow` or `deny`).
async fn consent(driver: &Driver, decision: &str) -> Result<()> {
    let before = driver.window_handles().await?;
    driver.find("[data-sim-button]").await?.click().await?;
    let consent = driver
        .wait_for("the consent window", WAIT, async || {
            let handles = driver.window_handles().await?;
            Ok(handles.into_iter().find(|h| !before.contains(h)))
        })
        .await?;
    driver.switch_to_window(&consent).await?;
    driver.wait_for_element("#sim-allow").await?;
    let id = ADMIN_ACCOUNT_ID.to_string();
    for radio in driver.find_all("input[name=account_id]").await? {
        if radio.attribute("value").await?.as_deref() == Some(id.as_str()) {
            radio.click().await?;
        }
    }
    driver
        .find(&format!("#sim-{decision}"))
        .await?
        .click()
        .await
}

async fn wait_for_windows(driver: &Driver, count: usize) -> Result<Vec<String>> {
    driver
        .wait_for(&format!("{count} open window(s)"), WAIT, async || {
            let handles = driver.window_handles().await?;
            Ok((handles.len() == count).then_some(handles))
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_reports_a_connection_then_closes_its_popup() -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start().await?;
    let site = embedded(&driver, &demo, "embed@shop.example").await?;
    let (tenant, popup) = open_popup(&driver, &site).await?;

    // Popup mode: the consent window closes, the popup lands on the result page, reports to
    // the tenant page and closes itself.
    consent(&driver, "allow").await?;
    let left = wait_for_windows(&driver, 1).await?;
    ensure!(
        left == [tenant.clone()],
        "windows left: {left:?} (popup {popup})"
    );
    driver.switch_to_window(&tenant).await?;
    let heard = driver
        .wait_for("amolink:closed", WAIT, async || {
            let heard = events(&driver).await?;
            Ok(types(&heard).contains(&"amolink:closed").then_some(heard))
        })
        .await?;
    assert_eq!(types(&heard), ["amolink:connected", "amolink:closed"]);
    let connection_id = heard[0]["detail"]["connection_id"]
        .as_str()
        .context("a connection id")?
        .to_owned();
    assert_eq!(heard[0]["detail"]["end_user_id"], Value::Null);
    assert_eq!(heard[1]["detail"]["outcome"], "connected");
    expect_clean_console(&driver, "the tenant page").await?;

    // The id is the connection amolink lists.
    driver
        .goto(&demo.url(&format!("/connections/{connection_id}")))
        .await?;
    let status = driver.find("main h1 .badge").await?.text().await?;
    assert_eq!(status, "Active");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_consent_is_shown_and_reported_to_the_embedding_page() -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start().await?;
    let site = embedded(&driver, &demo, "decline@shop.example").await?;
    let (tenant, popup) = open_popup(&driver, &site).await?;

    consent(&driver, "deny").await?;
    wait_for_windows(&driver, 2).await?;
    driver.switch_to_window(&popup).await?;
    let message = driver
        .wait_for("the declined message", WAIT, async || {
            let status = driver.find("#connect-status").await?;
            let hidden = status.attribute("hidden").await?.is_some();
            let text = status.text().await?;
            Ok((!hidden && !text.is_empty()).then_some(text))
        })
        .await?;
    ensure!(
        message.contains("declined"),
        "the hosted page says {message:?}"
    );
    expect_clean_console(&driver, "the hosted page after declining").await?;
    driver
        .screenshot(&screenshot_path("embed-declined.png"))
        .await?;

    driver.switch_to_window(&tenant).await?;
    let heard = events(&driver).await?;
    assert_eq!(
        types(&heard),
        ["amolink:declined"],
        "before the popup closes"
    );
    driver.switch_to_window(&popup).await?;
    driver.close_window().await?;
    driver.switch_to_window(&tenant).await?;
    let heard = driver
        .wait_for("amolink:closed", WAIT, async || {
            let heard = events(&driver).await?;
            Ok((heard.len() == 2).then_some(heard))
        })
        .await?;
    assert_eq!(types(&heard), ["amolink:declined", "amolink:closed"]);
    assert_eq!(heard[1]["detail"]["outcome"], "declined");
    Ok(())
}

/// Without the embed (a hosted link opened in a tab) and with a return URL, the result page
/// offers the way back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_page_links_back_to_the_return_url() -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start().await?;
    sign_up(&driver, &demo, "back@shop.example", "Back Co").await?;
    let link = driver.find("code[id^='link-']").await?.text().await?;
    let back = "https://shop.example/settings/crm";
    driver.goto(&format!("{link}?return_url={back}")).await?;
    driver.wait_for_element("[data-sim-button]").await?;
    let opener = driver.window_handle().await?;
    consent(&driver, "allow").await?;
    wait_for_windows(&driver, 1).await?;
    driver.switch_to_window(&opener).await?;
    wait_for_url(&driver, &demo.url("/connect/done/")).await?;
    let link = driver.wait_for_element("a[data-return-link]").await?;
    assert_eq!(link.attribute("href").await?.as_deref(), Some(back));
    assert_eq!(link.text().await?, "Back to shop.example");
    expect_clean_console(&driver, "the result page").await
}
