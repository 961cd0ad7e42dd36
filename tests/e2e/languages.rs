//! Issue 12, acceptance 2: every page, walked in Russian and in English, shows only catalogue
//! text — no English left on a Russian page, no message id without text — and says its language
//! in `<html lang>`. The walk covers every GET page of the route table (`web::routes::page_routes`)
//! as a signed-in owner with a connection and a webhook endpoint, the anonymous pages, the error
//! pages and the end user's hosted connect page.

use std::collections::HashSet;

use amolink_tests::{Browser, Engine, Page, both_engines, spawn_app};
use scraper::{Html, Node, Selector};

use crate::connect::connected;

/// Latin words a Russian page may show: names of products and protocols, and code.
const ALLOWED_LATIN: &[&str] = &[
    "amolink",
    "amoCRM",
    "Kommo",
    "API",
    "URL",
    "curl",
    "JSON",
    "ID",
    "OAuth",
    "HTTP",
    "HTTPS",
    "JavaScript",
    "Node",
    "Python",
    "PHP",
    "SVG",
    "HMAC",
    "SHA",
    "SMTP",
    "UTC",
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "CSV",
    "HTML",
    "CSRF",
    "Bearer",
    "OpenAPI",
    "Standard",
    "Webhooks",
    "p50",
    "REST",
    "postMessage",
    "http",
    "https",
    "p95",
    "RU",
    "EN",
    "MSK",
    "amo",
    "link",
    // the test's own data and the simulator's demo account
    "Acme",
    "ann",
];

/// Elements whose text is code or recorded data (`translate="no"`: event details, audit
/// targets, addresses), not interface text.
const NOT_TEXT: &str = "script, style, code, pre, textarea, kbd, samp, [translate=\"no\"]";

fn is_code_like(word: &str) -> bool {
    word.chars()
        .any(|c| c.is_ascii_digit() || "@./_:=&?#%{}<>$\\|".contains(c))
}

/// Every run of Latin words in the page's visible text and labels that is not allowed.
fn english_on(html: &str, lang: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let skip = Selector::parse(NOT_TEXT).unwrap();
    let any = Selector::parse("[lang]").unwrap();
    let foreign = doc.select(&any).filter(|e| {
        e.value().attr("lang").is_some_and(|l| l != lang) && e.value().name() != "html"
    });
    let skipped: HashSet<_> = doc
        .select(&skip)
        .chain(foreign)
        .flat_map(|e| e.descendants().map(|d| d.id()).collect::<Vec<_>>())
        .collect();
    let mut texts: Vec<String> = Vec::new();
    for node in doc.tree.nodes() {
        if let Node::Text(text) = node.value()
            && !skipped.contains(&node.id())
        {
            texts.push(text.to_string());
        }
    }
    let labelled = Selector::parse("[placeholder], [title], [aria-label], [alt]").unwrap();
    for element in doc.select(&labelled) {
        if skipped.contains(&element.id()) {
            continue;
        }
        for name in ["placeholder", "title", "aria-label", "alt"] {
            if let Some(value) = element.value().attr(name) {
                texts.push(value.to_owned());
            }
        }
    }
    let mut found = Vec::new();
    for text in texts {
        let words: Vec<&str> = text
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| {
                w.chars().any(|c| c.is_ascii_alphabetic())
                    && !is_code_like(w)
                    && !ALLOWED_LATIN.contains(w)
            })
            .collect();
        if !words.is_empty() {
            found.push(words.join(" "));
        }
    }
    found
}

/// Checks one page in one language; returns what is wrong with it.
fn check(path: &str, html: &str, lang: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let page = Page::parse(html);
    let declared = page.attr("html", "lang").unwrap_or_default();
    if declared != lang {
        problems.push(format!(
            "{path}: <html lang=\"{declared}\">, expected {lang}"
        ));
    }
    if html.contains(web::i18n::MISSING_MARK) {
        problems.push(format!("{path}: a message id has no text"));
    }
    if lang == "ru" {
        for words in english_on(html, lang) {
            problems.push(format!("{path}: untranslated `{words}`"));
        }
    }
    problems
}

/// The pages a browser can reach: every GET page route with its ids filled in, the error pages.
fn pages(connection: &str, endpoint: &str, button: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for route in web::routes::page_routes() {
        if route.method.as_str() != "GET" {
            continue;
        }
        let id = if route.path.starts_with("/connections") {
            connection
        } else if route.path.starts_with("/buttons") {
            button
        } else {
            endpoint
        };
        let path = route.path.replace("{id}", id);
        paths.push(match path.as_str() {
            "/password/reset" | "/invite" => format!("{path}?token=bogus"),
            _ => path,
        });
    }
    paths.push("/no-such-page".to_owned());
    paths.push("/connections/00000000-0000-7000-8000-000000000000".to_owned());
    paths
}

async fn in_language(browser: &Browser, lang: &str) {
    let res = browser.get(&format!("/language/{lang}?next=/")).await;
    assert_eq!(res.status(), 303);
}

async fn every_page_is_in_the_chosen_language(engine: Engine) {
    let app = spawn_app(engine).await;
    let (owner, connection) = connected(&app).await;
    let res = owner
        .submit(
            "/settings/webhooks",
            "/settings/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("connection.created", "on"),
            ],
        )
        .await;
    // Answered with the page that shows the signing secret once (or a redirect to it).
    assert!(
        res.status() == 200 || res.status() == 303,
        "the webhook endpoint is created: {}",
        res.status()
    );
    let endpoint = Page::parse(&owner.get_html("/settings/webhooks").await)
        .id_after("/settings/webhooks/")
        .expect("the endpoint is listed");
    let hosted = app
        .connect_links(&owner)
        .await
        .into_iter()
        .next()
        .expect("a connect link");
    let hosted_path = hosted
        .strip_prefix(&app.address)
        .unwrap_or(&hosted)
        .to_owned();
    let button = Page::parse(&owner.get_html("/dashboard").await)
        .id_after("/buttons/")
        .expect("the button's edit link");
    let pages = pages(&connection, &endpoint, &button);

    let mut problems = Vec::new();
    for lang in ["ru", "en"] {
        in_language(&owner, lang).await;
        let anonymous = app.browser();
        in_language(&anonymous, lang).await;
        let mut seen = 0;
        for path in &pages {
            for (who, browser) in [("owner", &owner), ("anonymous", &anonymous)] {
                let res = browser.get(path).await;
                let status = res.status();
                let html_page = res
                    .headers()
                    .get("content-type")
                    .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
                if status.is_redirection() || !html_page {
                    continue;
                }
                assert!(
                    status.as_u16() < 500,
                    "{who} {path} in {lang} answered {status}"
                );
                let html = res.text().await.unwrap();
                problems.extend(check(&format!("{who} {path}"), &html, lang));
                seen += 1;
            }
        }
        // The hosted connect page follows the end user's browser language.
        let end_user = app.browser();
        let html = end_user
            .client
            .get(end_user.url(&hosted_path))
            .header("Accept-Language", format!("{lang};q=1, de;q=0.5"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        problems.extend(check(&format!("end user {hosted_path}"), &html, lang));
        assert!(seen >= 20, "the walk saw only {seen} pages in {lang}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A Russian browser gets Russian without choosing; the switch's cookie overrides the browser.
async fn accept_language_then_the_switch_decide(engine: Engine) {
    let app = spawn_app(engine).await;
    let browser = app.browser();
    let russian = browser
        .client
        .get(browser.url("/login"))
        .header("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.8")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        Page::parse(&russian).attr("html", "lang").as_deref(),
        Some("ru")
    );
    in_language(&browser, "en").await;
    let english = browser
        .client
        .get(browser.url("/login"))
        .header("Accept-Language", "ru-RU,ru;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        Page::parse(&english).attr("html", "lang").as_deref(),
        Some("en")
    );
    // The switch returns only to this site.
    let res = browser.get("/language/ru?next=//evil.example/").await;
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/")
    );
}

fn lang_of(html: &str) -> String {
    Page::parse(html).attr("html", "lang").unwrap_or_default()
}

/// The language saved on the account page outranks the browser's cookie, and comes back at the
/// next sign-in; the time zone is shown in dates; an unknown zone is refused with a 400.
async fn the_saved_preference_wins_once_signed_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let (owner, _) = connected(&app).await;
    in_language(&owner, "en").await;
    let res = owner
        .submit(
            "/settings/account",
            "/settings/account/preferences",
            &[("language", "ru"), ("time_zone", "Asia/Tokyo")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(lang_of(&owner.get_html("/dashboard").await), "ru");
    let connections = owner.get_html("/connections").await;
    assert!(connections.contains("JST"), "dates in the saved zone");

    // Signed out, the cookie decides; signed in again, the saved choice does.
    assert_eq!(owner.log_out().await.status(), 303);
    in_language(&owner, "en").await;
    assert_eq!(lang_of(&owner.get_html("/login").await), "en");
    assert_eq!(
        owner
            .log_in("ann@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    assert_eq!(lang_of(&owner.get_html("/dashboard").await), "ru");

    let res = owner
        .submit(
            "/settings/account",
            "/settings/account/preferences",
            &[("language", "ru"), ("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(res.status(), 400);
}

both_engines!(
    every_page_is_in_the_chosen_language,
    accept_language_then_the_switch_decide,
    the_saved_preference_wins_once_signed_in
);
