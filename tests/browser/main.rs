//! Browser tests: headless Chromium, driven over WebDriver, clicking through pages the way a
//! person would — what plain HTTP tests cannot see (scripts, popups, `postMessage`, CSP).
//!
//! They need Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them
//! the tests fail, naming the packages, rather than skip.

mod axe;
mod button_site;
mod cookies;
mod csrf;
mod demo;
mod embed;
mod features;
mod post_message;
mod sim_button;
mod tour;
mod user_story;
mod webdriver;
mod xss;

use std::path::{Path, PathBuf};

/// Where a screenshot called `name` is saved: `target/browser-screenshots/`, kept after the run
/// so a person can look at what the browser saw.
fn screenshot_path(name: &str) -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    scratch
        .parent()
        .unwrap_or(scratch)
        .join("browser-screenshots")
        .join(name)
}
