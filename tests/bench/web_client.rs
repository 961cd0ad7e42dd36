//! What a person's browser does, reduced to what the scenarios need: sign up, read pages, and
//! time requests end to end (until the last body byte, as a browser would wait).

use std::time::{Duration, Instant};

use amolink_tests::{Page, csrf_token_in};
use anyhow::{Context as _, bail, ensure};

/// A cookie-keeping client, redirects not followed.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// One timed request's outcome.
pub struct Timed {
    pub elapsed: Duration,
    pub status: u16,
    pub body: String,
}

/// Sends `request` and reads the whole body, timing both.
pub async fn timed(request: reqwest::RequestBuilder) -> anyhow::Result<Timed> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    Ok(Timed {
        elapsed: started.elapsed(),
        status,
        body,
    })
}

/// `GET base + path`, timed; anything but 200 is an error (a fast error page is no result).
pub async fn timed_page(client: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<Timed> {
    let timed = timed(client.get(format!("{base}{path}"))).await?;
    ensure!(timed.status == 200, "GET {path} answered {}", timed.status);
    Ok(timed)
}

/// The `csrf_token` of the form on `path`.
pub async fn csrf_token(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<String> {
    let html = client
        .get(format!("{base}{path}"))
        .send()
        .await?
        .text()
        .await?;
    csrf_token_in(&html).with_context(|| format!("no CSRF token on {path}"))
}

/// Signs up a new workspace owner in `client` (which keeps the session cookie).
pub async fn sign_up(client: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<()> {
    let token = csrf_token(client, base, "/signup").await?;
    let response = client
        .post(format!("{base}/signup"))
        .form(&[
            ("email", email),
            ("password", "bench password 12345"),
            ("workspace", "Benchmark"),
            ("csrf_token", &token),
        ])
        .send()
        .await?;
    if response.status() != 303 {
        bail!("sign-up answered {}", response.status());
    }
    Ok(())
}

/// Creates an API key with every scope on the settings page and answers it (shown once).
pub async fn api_key(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let token = csrf_token(client, base, "/settings/api-keys").await?;
    // The form redirects; the page it redirects to shows the key once.
    client
        .post(format!("{base}/settings/api-keys"))
        .form(&[("name", "bench"), ("csrf_token", &token)])
        .send()
        .await?;
    let html = client
        .get(format!("{base}/settings/api-keys"))
        .send()
        .await?
        .text()
        .await?;
    Page::parse(&html)
        .text("code#new-api-key")
        .context("no new API key on the page")
}

/// The first hosted connect link on the signed-in dashboard.
pub async fn connect_link(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let html = client
        .get(format!("{base}/dashboard"))
        .send()
        .await?
        .text()
        .await?;
    Page::parse(&html)
        .text("code[id^=\"link-\"]")
        .context("no connect link on the dashboard")
}

/// The "Next page" link of a connections page, if any.
pub fn next_page(html: &str) -> Option<String> {
    let page = Page::parse(html);
    let hrefs = page.attrs(".pager a[href]", "href");
    let texts = page.texts(".pager a[href]");
    hrefs
        .into_iter()
        .zip(texts)
        .find_map(|(href, text)| text.contains("Next page").then_some(href))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page_link() {
        let html = r#"<p class="pager"><a href="/connections?q=">← First page</a>
    <a href="/connections?q=&amp;status=&amp;platform=&amp;cursor=abc">Next page →</a></p>"#;
        assert_eq!(
            next_page(html).as_deref(),
            Some("/connections?q=&status=&platform=&cursor=abc")
        );
        assert_eq!(next_page(r#"<p class="pager"></p>"#), None);
    }
}
