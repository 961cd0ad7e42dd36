//! amolink's cookies as Chromium stored them (R8), read through WebDriver's cookie list rather
//! than from `Set-Cookie` headers: the session cookie after signing up, and the flow-binding
//! cookie after viewing a hosted connect page. Both must be `HttpOnly` (invisible to
//! `document.cookie` too), `SameSite=Lax` — Lax, not Strict, since amoCRM's return to
//! `/amocrm/callback` is a cross-site top-level GET — and scoped to the whole site.

use anyhow::{Context as _, Result, ensure};
use serde_json::json;

use crate::demo::{Demo, open_connect_page, sign_up};
use crate::webdriver::{Cookie, Driver};

const SESSION_COOKIE: &str = "amolink_sid";
const BINDING_COOKIE: &str = "amolink_connect";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_binding_cookies_are_http_only_and_same_site_lax() -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let driver = Driver::start().await?;

    sign_up(&driver, &demo, "cookies@acme.example", "Cookie Jar").await?;
    let session = cookie(&driver, SESSION_COOKIE).await?;
    check_flags(&session)?;
    assert_eq!(
        session.expiry, None,
        "a browser-session cookie: {session:?}"
    );

    let link = driver.find("code[id^='link-']").await?.text().await?;
    open_connect_page(&driver, &link).await?;
    check_flags(&cookie(&driver, BINDING_COOKIE).await?)?;
    // The session cookie is still there, unchanged in its flags, next to the binding.
    check_flags(&cookie(&driver, SESSION_COOKIE).await?)?;

    let visible = driver.execute("return document.cookie;", json!([])).await?;
    let visible = visible.as_str().context("document.cookie")?;
    ensure!(
        !visible.contains(SESSION_COOKIE) && !visible.contains(BINDING_COOKIE),
        "scripts can read amolink's cookies: {visible:?}"
    );
    Ok(())
}

/// The cookie called `name` the browser holds for the current page.
async fn cookie(driver: &Driver, name: &str) -> Result<Cookie> {
    let all = driver.cookies().await?;
    all.iter()
        .find(|c| c.name == name)
        .cloned()
        .with_context(|| format!("the browser holds no {name} cookie: {all:#?}"))
}

fn check_flags(cookie: &Cookie) -> Result<()> {
    ensure!(cookie.http_only, "not HttpOnly: {cookie:?}");
    ensure!(
        cookie.same_site.as_deref() == Some("Lax"),
        "not SameSite=Lax: {cookie:?}"
    );
    ensure!(
        cookie.path.as_deref() == Some("/"),
        "path is not /: {cookie:?}"
    );
    // No `Domain` attribute: a host-only cookie, which WebDriver reports without a leading dot.
    ensure!(
        cookie.domain.as_deref() == Some("127.0.0.1"),
        "not host-only on 127.0.0.1: {cookie:?}"
    );
    ensure!(!cookie.value.is_empty(), "empty value: {cookie:?}");
    Ok(())
}
