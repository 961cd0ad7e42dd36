//! Accessibility: `axe-core` (the npm package; `test.sh` installs it under the target
//! directory) injected into a page through WebDriver, which no page CSP applies to. A page
//! passes when axe finds no violation of `serious` or `critical` impact.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::webdriver::Driver;

/// Where `test.sh` installs axe-core: `$CARGO_TARGET_DIR/axe` (override: `AMOLINK_AXE_JS`,
/// the path of `axe.min.js`).
fn axe_path() -> PathBuf {
    if let Some(path) = std::env::var_os("AMOLINK_AXE_JS") {
        return PathBuf::from(path);
    }
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    scratch
        .parent()
        .map_or_else(|| scratch.clone(), PathBuf::from)
        .join("axe/node_modules/axe-core/axe.min.js")
}

fn axe_source() -> Result<&'static str> {
    static SOURCE: OnceLock<Result<String, String>> = OnceLock::new();
    let source = SOURCE.get_or_init(|| {
        let path = axe_path();
        std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "axe-core is not installed at {} ({e}): run ./test.sh, or \
                 `npm install --prefix $CARGO_TARGET_DIR/axe axe-core@4`",
                path.display()
            )
        })
    });
    match source {
        Ok(source) => Ok(source.as_str()),
        Err(message) => bail!("{message}"),
    }
}

/// Runs axe on the current page; fails listing every serious or critical violation.
///
/// amoCRM's own button (`[data-sim-button]`, drawn by amoCRM's script in amoCRM's colours) and
/// the dashboard's previews of it (`.preview`, which show exactly those colours) are not ours to
/// restyle, and are left out.
pub async fn expect_accessible(driver: &Driver, page: &str) -> Result<()> {
    let script = format!(
        "{source}\n;return axe.run({{ exclude: [['[data-sim-button]'], ['.preview']] }}, {{ resultTypes: ['violations'] }}).then(function (r) {{\
           return r.violations.filter(function (v) {{ return v.impact === 'serious' || v.impact === 'critical'; }})\
             .map(function (v) {{ return v.impact + ' ' + v.id + ': ' + v.help + ' — ' +\
               v.nodes.slice(0, 5).map(function (n) {{ return n.target.join(' ') + ' (' + (n.failureSummary || '').replace(/\\s+/g, ' ') + ')'; }}).join('; '); }});\
         }});",
        source = axe_source()?
    );
    let found = driver
        .execute(&script, json!([]))
        .await
        .with_context(|| format!("run axe on {page}"))?;
    let found: Vec<String> = serde_json::from_value(found).context("axe's answer")?;
    if !found.is_empty() {
        bail!(
            "serious accessibility violations on {page}:\n  {}",
            found.join("\n  ")
        );
    }
    Ok(())
}
