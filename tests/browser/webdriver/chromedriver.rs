//! The `chromedriver` process behind a [`super::Driver`]: started on a free loopback port with a
//! throw-away directory for Chromium's profile and the driver's log, and killed — with every
//! browser process it started — when dropped, so a failed test never leaves Chromium running.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// The browser the session drives (Debian package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Its WebDriver server (Debian package `chromium-driver`), looked up on `PATH`.
const CHROMEDRIVER: &str = "chromedriver";
/// Why a missing browser fails the suite instead of skipping it.
const INSTALL_HINT: &str = "the browser tests need the Debian packages `chromium` and \
    `chromium-driver` (.ci/run installs them): apt-get install chromium chromium-driver";
/// How long `chromedriver` may take to answer `/status` with `ready: true`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// How much of the driver's log an error quotes.
const LOG_TAIL: usize = 2000;

/// A running `chromedriver` and the directory it (and Chromium) write to.
pub struct Chromedriver {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Chromedriver {
    /// Starts `chromedriver` on a free port and waits until it accepts sessions.
    pub async fn start(http: &reqwest::Client) -> Result<Self> {
        if !Path::new(CHROMIUM).exists() {
            bail!("{CHROMIUM} is missing: {INSTALL_HINT}");
        }
        let dir = std::env::temp_dir().join(format!("amolink-browser-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let port = free_port()?;
        let log = File::create(dir.join("chromedriver.log")).context("create chromedriver.log")?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so dropping it can kill Chromium too (see `Drop`).
            .process_group(0)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_dir_all(&dir);
                bail!("`{CHROMEDRIVER}` is not on PATH: {INSTALL_HINT}");
            }
            Err(error) => return Err(error).context("spawn chromedriver"),
        };
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        driver.wait_ready(http).await?;
        Ok(driver)
    }

    /// `http://127.0.0.1:PORT`, the WebDriver endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A fresh, empty Chromium profile directory.
    pub fn profile_dir(&self) -> PathBuf {
        self.dir.join("profile")
    }

    /// The end of the driver's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read(self.dir.join("chromedriver.log")).unwrap_or_default();
        String::from_utf8_lossy(&log[log.len().saturating_sub(LOG_TAIL)..]).into_owned()
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let status = format!("{}/status", self.url);
        loop {
            if let Some(exit) = self.child.try_wait()? {
                bail!(
                    "chromedriver exited at start ({exit}):\n{}",
                    self.log_tail()
                );
            }
            let ready = match http.get(&status).timeout(POLL * 10).send().await {
                Ok(response) => response
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "chromedriver was not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A port that was free a moment ago: bind port 0, read it, release it.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The session is normally deleted first, which quits Chromium; killing the whole group
        // also covers a browser that hung or a session that was never deleted.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
