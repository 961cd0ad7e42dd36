//! A small W3C WebDriver client for headless Chromium, written over `reqwest` so the suite needs
//! no browser-automation crate: [`Driver::start`] launches `chromedriver` and one Chromium
//! session with a fresh profile; every command has a bounded timeout; dropping the driver ends
//! the session and kills the processes.
//!
//! Conditions are awaited with [`Driver::wait_for`] (short polling, a deadline, and an error that
//! says what was awaited and where the browser was), never with fixed sleeps.

mod chromedriver;
mod element;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use reqwest::Method;
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
const SCRIPT_TIMEOUT_MS: u64 = 5_000;
/// How long dropping the driver waits for Chromium to quit before killing it.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One Chromium session driven through `chromedriver`.
pub struct Driver {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/{id}`: every command's path starts here.
    session: String,
    /// Held only to be dropped after the session is deleted (see `Drop`), which kills it.
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
    fn from_json(value: &Value) -> Result<Self> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Ok(Self {
            name: text("name").with_context(|| format!("a cookie without a name: {value}"))?,
            value: text("value").unwrap_or_default(),
            path: text("path"),
            domain: text("domain"),
            http_only: value["httpOnly"].as_bool().unwrap_or(false),
            same_site: text("sameSite"),
            expiry: value["expiry"].as_u64(),
        })
    }
}

impl Driver {
    /// Starts `chromedriver` and a headless Chromium with a fresh profile. Fails (it never
    /// skips) when either is not installed, naming the Debian packages to install.
    pub async fn start() -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()?;
        let chromedriver = Chromedriver::start(&http).await?;
        let profile = chromedriver.profile_dir();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": PAGE_LOAD_TIMEOUT_MS, "script": SCRIPT_TIMEOUT_MS },
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    // The suite runs as root in CI, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    // Offline machine: no update checks, sync or first-run pages to wait for.
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,900",
                ],
            },
        }}});
        let url = format!("{}/session", chromedriver.url());
        let answer = match send(&http, Method::POST, &url, Some(capabilities)).await {
            Ok(answer) => answer,
            Err(error) => bail!(
                "Chromium did not start: {error:#}\nchromedriver log:\n{}",
                chromedriver.log_tail()
            ),
        };
        let id = answer["sessionId"]
            .as_str()
            .with_context(|| format!("no sessionId in {answer}"))?;
        Ok(Self {
            session: format!("{}/session/{id}", chromedriver.url()),
            http,
            _chromedriver: chromedriver,
        })
    }

    /// Navigates the current window and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.command(Method::POST, "url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// Goes one entry back in the current window's history and waits for that page to load.
    pub async fn back(&self) -> Result<()> {
        self.command(Method::POST, "back", Some(json!({})))
            .await
            .map(drop)
    }

    /// Every cookie the browser would send to the current page's URL, with the flags it
    /// stored (what `document.cookie` cannot show: `HttpOnly` ones included).
    pub async fn cookies(&self) -> Result<Vec<Cookie>> {
        let cookies = self.command(Method::GET, "cookie", None).await?;
        cookies
            .as_array()
            .with_context(|| format!("cookies: not an array: {cookies}"))?
            .iter()
            .map(Cookie::from_json)
            .collect()
    }

    /// The current window's URL.
    pub async fn current_url(&self) -> Result<String> {
        self.string(Method::GET, "url").await
    }

    /// The current page's `<title>`.
    pub async fn title(&self) -> Result<String> {
        self.string(Method::GET, "title").await
    }

    /// The current DOM serialized as HTML (text in it is escaped again, as markup must be).
    pub async fn page_source(&self) -> Result<String> {
        self.string(Method::GET, "source").await
    }

    /// The first element matching a CSS selector; an error when there is none.
    pub async fn find(&self, css: &str) -> Result<Element<'_>> {
        let found = self
            .command(Method::POST, "element", Some(locator(css)))
            .await?;
        Element::from_reference(self, &found)
    }

    /// Every element matching a CSS selector, in document order (possibly none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let found = self
            .command(Method::POST, "elements", Some(locator(css)))
            .await?;
        found
            .as_array()
            .with_context(|| format!("elements: not an array: {found}"))?
            .iter()
            .map(|reference| Element::from_reference(self, reference))
            .collect()
    }

    /// Runs `script` as a function body in the current page (`arguments[i]` are `args`'
    /// items) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.command(
            Method::POST,
            "execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The handle of the window commands currently go to.
    pub async fn window_handle(&self) -> Result<String> {
        self.string(Method::GET, "window").await
    }

    /// The handles of every open window and tab (popups included).
    pub async fn window_handles(&self) -> Result<Vec<String>> {
        let handles = self.command(Method::GET, "window/handles", None).await?;
        handles
            .as_array()
            .and_then(|all| all.iter().map(|h| h.as_str().map(str::to_owned)).collect())
            .with_context(|| format!("window handles: {handles}"))
    }

    /// Sends the following commands to another window (needed after a popup opens or closes).
    pub async fn switch_to_window(&self, handle: &str) -> Result<()> {
        self.command(Method::POST, "window", Some(json!({ "handle": handle })))
            .await
            .map(drop)
    }

    /// Saves a PNG of the current window's viewport to `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let png = STANDARD
            .decode(self.string(Method::GET, "screenshot").await?)
            .context("screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// The browser console lines logged since the previous call (each line is returned once).
    /// Chromium reports CSP violations, uncaught script errors and failed loads as `SEVERE`.
    pub async fn browser_logs(&self) -> Result<Vec<LogEntry>> {
        let entries = self
            .command(Method::POST, "se/log", Some(json!({ "type": "browser" })))
            .await?;
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

    /// Waits (up to [`WAIT`]) for an element matching a CSS selector to appear, e.g. one a
    /// script renders or a page that is still loading.
    pub async fn wait_for_element(&self, css: &str) -> Result<Element<'_>> {
        self.wait_for(&format!("an element matching `{css}`"), WAIT, async || {
            Ok(self.find_all(css).await?.into_iter().next())
        })
        .await
    }

    /// Sends one command of this session (`path` is relative to `/session/{id}/`).
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        send(
            &self.http,
            method,
            &format!("{}/{path}", self.session),
            body,
        )
        .await
    }

    async fn string(&self, method: Method, path: &str) -> Result<String> {
        match self.command(method, path, None).await? {
            Value::String(text) => Ok(text),
            other => bail!("{path}: expected a string, got {other}"),
        }
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

fn locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

/// Sends a WebDriver request and unwraps its `value`, turning a WebDriver error into an error
/// that names the command, the error code and the driver's message.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let command = format!("{method} {url}");
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| command.clone())?;
    let status = response.status();
    let mut answer: Value = response
        .json()
        .await
        .with_context(|| format!("{command}: {status} without a JSON body"))?;
    let value = answer.get_mut("value").map(Value::take).unwrap_or_default();
    if !status.is_success() {
        let message = value["message"].as_str().unwrap_or_default();
        // Chromium appends multi-line session details; the first line is the message.
        let message = message.lines().next().unwrap_or_default();
        bail!("{command}: {status} {}: {message}", value["error"]);
    }
    Ok(value)
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Deleting the session lets Chromium quit cleanly before `Chromedriver`'s drop kills
        // what is left. Drop cannot await and may run on a runtime's worker, so the request
        // runs on a thread with a runtime of its own.
        let url = self.session.clone();
        let quit = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let http = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(QUIT_TIMEOUT)
                    .build()
                    .ok()?;
                http.delete(&url).send().await.ok()
            })
        });
        let _ = quit.join();
    }
}
