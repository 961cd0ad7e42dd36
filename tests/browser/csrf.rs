//! Cross-origin request forgery in a real browser (R11): a signed-in tenant visits a hostile
//! page on another site — a tiny server on `127.0.0.2`, a different site from amolink's
//! `127.0.0.1` — whose form posts itself to amolink without a CSRF token as soon as it loads.
//! amolink must answer 403 and change nothing: the tenant stays signed in, and no button is
//! added to the workspace.

use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context as _, Result, ensure};
use serde_json::json;

use crate::demo::{Demo, sign_up, wait_for_url};
use crate::webdriver::Driver;

const WORKSPACE: &str = "Forgery Target";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_posted_from_another_site_are_refused() -> Result<()> {
    let demo = Demo::spawn(Vec::new()).await?;
    let evil = EvilSite::spawn(&demo.app.address)?;
    let driver = Driver::start().await?;
    sign_up(&driver, &demo, "victim@acme.example", WORKSPACE).await?;
    assert_eq!(button_count(&driver).await?, 1, "the default button");

    for target in ["/logout", "/buttons"] {
        driver.goto(&evil.page(target)).await?;
        // The page submits itself on load; wait until the browser is back on amolink.
        let landed = wait_for_url(&driver, &demo.url("/")).await?;
        let status = driver
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus;",
                json!([]),
            )
            .await?;
        if target == "/logout" {
            // The token check (and Fetch Metadata) refuses it outright.
            assert_eq!(
                (landed.as_str(), &status),
                (demo.url(target).as_str(), &json!(403)),
                "a forged POST {target}"
            );
        } else {
            // The session cookie (SameSite=Lax) is not sent on a cross-site POST, so amolink
            // sees nobody signed in and sends the browser to log in, which — the cookie being
            // sent on that top-level GET — forwards it to the dashboard: nothing was created.
            ensure!(
                landed == demo.url("/dashboard") || status == json!(403),
                "a forged POST {target} ended on {landed} with {status}"
            );
        }
        // Chromium reports a refused document itself as a failed load; nothing else may fail.
        let refused = format!(
            "{landed} - Failed to load resource: \
             the server responded with a status of 403 (Forbidden)"
        );
        let errors: Vec<_> = driver
            .console_errors()
            .await?
            .into_iter()
            .filter(|e| *e != refused)
            .collect();
        ensure!(
            errors.is_empty(),
            "the browser logged errors on amolink's answer to a forged {target}: {errors:#?}"
        );

        // Still signed in: the dashboard opens (no redirect to the log-in page), unchanged.
        driver.goto(&demo.url("/dashboard")).await?;
        let url = driver.current_url().await?;
        ensure!(
            url == demo.url("/dashboard"),
            "after a forged {target} the dashboard sent the tenant to {url}"
        );
        let heading = driver.find("main h1").await?.text().await?;
        assert_eq!(heading, WORKSPACE, "after a forged {target}");
        assert_eq!(
            button_count(&driver).await?,
            1,
            "a forged {target} added a button"
        );
    }
    Ok(())
}

/// How many connect buttons the dashboard (the current page) lists.
async fn button_count(driver: &Driver) -> Result<usize> {
    Ok(driver.find_all("section.button-card").await?.len())
}

/// A hostile site on `127.0.0.2:<random port>`; stopped when dropped.
struct EvilSite {
    base: String,
    server: ServerHandle,
}

impl EvilSite {
    /// Serves `GET /forge{path}`: a page posting a form to `{amolink}{path}`.
    fn spawn(amolink: &str) -> Result<Self> {
        // All of 127.0.0.0/8 is loopback on Linux: another site, same machine.
        let listener = TcpListener::bind("127.0.0.2:0").context("bind 127.0.0.2")?;
        let base = format!("http://{}", listener.local_addr()?);
        let amolink = web::Data::new(amolink.to_owned());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(amolink.clone())
                .route("/forge/{target}", web::get().to(forged_form))
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

    /// The page that forges a POST to amolink's `target` (`/logout` or `/buttons`).
    fn page(&self, target: &str) -> String {
        format!("{}/forge{target}", self.base)
    }
}

impl Drop for EvilSite {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// `GET /forge/{target}`: a form with what a real one would carry — except the token, which
/// another site cannot read — submitted by an inline script on load.
async fn forged_form(amolink: web::Data<String>, target: web::Path<String>) -> HttpResponse {
    let fields: &[(&str, &str)] = match target.as_str() {
        "logout" => &[],
        "buttons" => &[
            ("platform", "amocrm"),
            ("name", "Forged button"),
            ("description", "Planted by another site"),
            ("logo_url", "https://evil.example/logo.png"),
            ("title", "Connect"),
            ("color", "default"),
            ("mode", "popup"),
            ("scope_crm", "on"),
        ],
        _ => return HttpResponse::NotFound().finish(),
    };
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"))
        .collect();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Win a prize</title></head><body>\
             <form method=\"post\" action=\"{amolink}/{target}\">{inputs}</form>\
             <script>document.forms[0].submit();</script></body></html>",
            amolink = amolink.as_str(),
            target = target.as_str(),
        ))
}
