//! The browser tests' WebDriver session: [`Driver::start`] launches `chromedriver` (our launcher,
//! [`chromedriver`]) and one headless Chromium session with a fresh profile, driven through
//! `fantoccini`; every command has a bounded timeout; dropping the driver kills the browser.
//! Chromium's console log, which the W3C protocol lacks, is read with its vendor command
//! `se/log` through `fantoccini`'s `issue_cmd`.
//!
//! Conditions are awaited with [`Driver::wait_for`] (short polling, a deadline, and an error that
//! says what was awaited and where the browser was), never with fixed sleeps.

mod chromedriver;
mod element;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::{Value, json};

use chromedriver::{CHROMIUM, Chromedriver};
pub use element::Element;

/// A generous default deadline for [`Driver::wait_for`]: long enough for a loaded CI machine,
/// short enough that a broken flow fails quickly.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often [`Driver::wait_for`] probes, and how long one probe may take.
const POLL: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound of one WebDriver command; above the page-load timeout so that one is reported.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Chromium's own limits, in milliseconds, reported as WebDriver errors.
const PAGE_LOAD_TIMEOUT_MS: u64 = 15_000;
const SCRIPT_TIMEOUT_MS: u64 = 20_000;

/// One Chromium session driven through `chromedriver`.
pub struct Driver {
    client: Client,
    /// Dropped after the client (fields drop in order), which kills Chromium and the driver.
    _chromedriver: Chromedriver,
}

/// One line of the browser's console (console calls, uncaught errors, failed loads, CSP
/// violations).
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO` or `DEBUG`.
    pub level: String,
    pub message: String,
}

/// A cookie as the browser stored it (W3C WebDriver's cookie object).
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub http_only: bool,
    /// `Lax`, `Strict` or `None`, as Chromium reports it.
    pub same_site: Option<String>,
    /// Seconds since the epoch; absent for a session cookie.
    pub expiry: Option<u64>,
}

impl Cookie {
    fn from_webdriver(cookie: &fantoccini::cookies::Cookie<'static>) -> Self {
        Self {
            name: cookie.name().to_owned(),
            value: cookie.value().to_owned(),
            path: cookie.path().map(str::to_owned),
            domain: cookie.domain().map(str::to_owned),
            http_only: cookie.http_only().unwrap_or(false),
            same_site: cookie.same_site().map(|s| s.to_string()),
            expiry: cookie
                .expires_datetime()
                .and_then(|at| u64::try_from(at.unix_timestamp()).ok()),
        }
    }
}

/// Chromium's console log since the previous call: its vendor command, which W3C WebDriver
/// does not define.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// Runs one WebDriver command within [`COMMAND_TIMEOUT`], naming it in the error.
async fn bounded<T, E>(what: &str, command: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result.with_context(|| what.to_owned()),
        Err(_) => bail!("{what}: no answer within {COMMAND_TIMEOUT:?}"),
    }
}

impl Driver {
    /// Starts `chromedriver` and a headless Chromium with a fresh profile. Fails (it never
    /// skips) when either is not installed, naming the Debian packages to install.
    pub async fn start() -> Result<Self> {
        Self::start_in(None).await
    }

    /// [`Driver::start`] with the browser's language set to `language` (e.g. `ru`): its
    /// `Accept-Language` and `navigator.language`.
    pub async fn start_in(language: Option<&str>) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()?;
        let chromedriver = Chromedriver::start(&http).await?;
        let profile = chromedriver.profile_dir();
        let mut args = vec![
            "--headless".to_owned(),
            // The suite runs as root in CI, where Chromium's sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            // Offline machine: no update checks, sync or first-run pages to wait for.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            "--window-size=1280,900".to_owned(),
        ];
        let mut prefs = json!({});
        if let Some(language) = language {
            args.push(format!("--lang={language}"));
            prefs = json!({ "intl.accept_languages": language });
        }
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": PAGE_LOAD_TIMEOUT_MS, "script": SCRIPT_TIMEOUT_MS },
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": prefs,
            },
        });
        let Value::Object(capabilities) = capabilities else {
            bail!("capabilities are an object");
        };
        // chromedriver listens on loopback over plain HTTP: no TLS connector is needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let session = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(chromedriver.url())
            .await;
        let client = match session {
            Ok(client) => client,
            Err(error) => bail!(
                "Chromium did not start: {error}\nchromedriver log:\n{}",
                chromedriver.log_tail()
            ),
        };
        Ok(Self {
            client,
            _chromedriver: chromedriver,
        })
    }

    /// Navigates the current window and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        bounded(&format!("go to {url}"), self.client.goto(url)).await
    }

    /// Goes one entry back in the current window's history and waits for that page to load.
    pub async fn back(&self) -> Result<()> {
        bounded("back", self.client.back()).await
    }

    /// Every cookie the browser would send to the current page's URL, with the flags it
    /// stored (what `document.cookie` cannot show: `HttpOnly` ones included).
    pub async fn cookies(&self) -> Result<Vec<Cookie>> {
        let cookies = bounded("cookies", self.client.get_all_cookies()).await?;
        Ok(cookies.iter().map(Cookie::from_webdriver).collect())
    }

    /// The current window's URL.
    pub async fn current_url(&self) -> Result<String> {
        Ok(bounded("current URL", self.client.current_url())
            .await?
            .to_string())
    }

    /// The current page's `<title>`.
    pub async fn title(&self) -> Result<String> {
        bounded("title", self.client.title()).await
    }

    /// The current DOM serialized as HTML (text in it is escaped again, as markup must be).
    pub async fn page_source(&self) -> Result<String> {
        bounded("page source", self.client.source()).await
    }

    /// The first element matching a CSS selector; an error when there is none.
    pub async fn find(&self, css: &str) -> Result<Element<'_>> {
        let element = bounded(
            &format!("find `{css}`"),
            self.client.find(Locator::Css(css)),
        )
        .await?;
        Ok(Element::new(element))
    }

    /// Every element matching a CSS selector, in document order (possibly none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let found = bounded(
            &format!("find all `{css}`"),
            self.client.find_all(Locator::Css(css)),
        )
        .await?;
        Ok(found.into_iter().map(Element::new).collect())
    }

    /// Runs `script` as a function body in the current page (`arguments[i]` are `args`'
    /// items) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        let args = match args {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        bounded("execute a script", self.client.execute(script, args)).await
    }

    /// The handle of the window commands currently go to.
    pub async fn window_handle(&self) -> Result<String> {
        Ok(bounded("window handle", self.client.window()).await?.into())
    }

    /// The handles of every open window and tab (popups included).
    pub async fn window_handles(&self) -> Result<Vec<String>> {
        let handles = bounded("window handles", self.client.windows()).await?;
        Ok(handles.into_iter().map(String::from).collect())
    }

    /// Sends the following commands to another window (needed after a popup opens or closes).
    pub async fn switch_to_window(&self, handle: &str) -> Result<()> {
        let handle = fantoccini::wd::WindowHandle::try_from(handle.to_owned())
            .map_err(|_| anyhow::anyhow!("`{handle}` is not a window handle"))?;
        bounded("switch window", self.client.switch_to_window(handle)).await
    }

    /// Answers the open `confirm()` dialog: OK when `accept`, else Cancel; returns its text.
    pub async fn answer_dialog(&self, accept: bool) -> Result<String> {
        let text = bounded("dialog text", self.client.get_alert_text()).await?;
        if accept {
            bounded("accept dialog", self.client.accept_alert()).await?;
        } else {
            bounded("dismiss dialog", self.client.dismiss_alert()).await?;
        }
        Ok(text)
    }

    /// Resizes the window so the page's viewport is `width` CSS pixels wide (as a phone's is).
    pub async fn set_viewport_width(&self, width: u32) -> Result<()> {
        bounded("resize", self.client.set_window_size(width, 900)).await?;
        // The window's frame takes some pixels: widen until the viewport itself is `width`.
        let inner = self.execute("return window.innerWidth;", json!([])).await?;
        let inner = u32::try_from(inner.as_u64().unwrap_or(u64::from(width))).unwrap_or(width);
        if inner < width {
            bounded(
                "resize",
                self.client.set_window_size(width + (width - inner), 900),
            )
            .await?;
        }
        Ok(())
    }

    /// Resizes the window to `width` × `height` (for a screenshot that shows more of a page).
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        bounded("resize", self.client.set_window_size(width, height)).await
    }

    /// Closes the current window (as a person closing a popup would); switch to another after.
    pub async fn close_window(&self) -> Result<()> {
        bounded("close window", self.client.close_window()).await
    }

    /// Saves a PNG of the current window's viewport to `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let png = bounded("screenshot", self.client.screenshot()).await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// The browser console lines logged since the previous call (each line is returned once).
    /// Chromium reports CSP violations, uncaught script errors and failed loads as `SEVERE`.
    pub async fn browser_logs(&self) -> Result<Vec<LogEntry>> {
        let entries = bounded("browser log", self.client.issue_cmd(BrowserLog)).await?;
        let entries = entries
            .as_array()
            .with_context(|| format!("browser log: not an array: {entries}"))?;
        Ok(entries
            .iter()
            .map(|entry| LogEntry {
                level: entry["level"].as_str().unwrap_or_default().to_owned(),
                message: entry["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// The `SEVERE` console lines since the previous call — script errors, failed loads, CSP
    /// violations — except the 404 of the `/favicon.ico` a browser fetches on its own, which no
    /// page asked for.
    pub async fn console_errors(&self) -> Result<Vec<String>> {
        Ok(self
            .browser_logs()
            .await?
            .into_iter()
            .filter(|entry| entry.level == "SEVERE" && !is_favicon_probe(&entry.message))
            .map(|entry| entry.message)
            .collect())
    }

    /// Polls `probe` every 100 ms until it yields `Some`, for at most `timeout`. A probe that
    /// fails counts as "not yet" (pages and windows come and go mid-flow); the last failure and
    /// the page the browser was on are reported if the deadline passes.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl AsyncFnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(Ok(Some(value))) => return Ok(value),
                Ok(Ok(None)) => {}
                Ok(Err(error)) => last_error = Some(error),
                Err(_) => last_error = Some(anyhow::anyhow!("a probe took over {PROBE_TIMEOUT:?}")),
            }
            if Instant::now() >= deadline {
                let page = match tokio::time::timeout(PROBE_TIMEOUT, self.current_url()).await {
                    Ok(Ok(url)) => url,
                    Ok(Err(error)) => format!("an unknown page ({error:#})"),
                    Err(_) => "an unknown page (no answer)".to_owned(),
                };
                let last = last_error.map_or_else(String::new, |e| format!("; last error: {e:#}"));
                bail!("timed out after {timeout:?} waiting for {what} (browser at {page}{last})");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The element that has the keyboard focus (the body when nothing else has).
    pub async fn active_element(&self) -> Result<Element<'_>> {
        let element = bounded("the focused element", self.client.active_element()).await?;
        Ok(Element::new(element))
    }

    /// Waits (up to [`WAIT`]) for an element matching a CSS selector to appear, e.g. one a
    /// script renders or a page that is still loading.
    pub async fn wait_for_element(&self, css: &str) -> Result<Element<'_>> {
        self.wait_for(&format!("an element matching `{css}`"), WAIT, async || {
            Ok(self.find_all(css).await?.into_iter().next())
        })
        .await
    }
}

/// Whether a log line is the failed load of a site's default icon
/// (`http://host/favicon.ico - Failed to load resource: ...`).
fn is_favicon_probe(message: &str) -> bool {
    message
        .split_once(' ')
        .and_then(|(url, _)| url::Url::parse(url).ok())
        .is_some_and(|url| url.path() == "/favicon.ico")
}
