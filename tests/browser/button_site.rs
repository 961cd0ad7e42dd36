//! A stand-in for an integrator's website, the other party of amoCRM's site button: a page
//! carrying the official button tag, the `secrets_uri` webhook and the `redirect_uri` page. It
//! records what reaches it, in order, so a test can tell what the simulator sent and when.

use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

use actix_web::dev::ServerHandle;
use actix_web::http::header::CONTENT_SECURITY_POLICY;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context as _, Result};
use serde_json::Value;

/// The integration's `data-name`: markup that would run a script if the consent page failed to
/// escape it (a canary the test checks for).
pub const INTEGRATION_NAME: &str = r#"Browser test <img src=x onerror="window.__xss=1">"#;
/// The button's `data-title`, its visible label.
pub const BUTTON_TITLE: &str = "Connect";

/// How the consent result travels back (`data-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The popup hands the redirect URL to the page that opened it, which navigates itself.
    Popup,
    /// The popup itself is redirected to the Redirect URI.
    PostMessage,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Popup => "popup",
            Self::PostMessage => "post_message",
        }
    }
}

/// Something that reached the site from outside.
#[derive(Debug, Clone)]
pub enum Arrival {
    /// The body POSTed to `/secrets` (the simulator's secrets webhook).
    Secrets(Value),
    /// The query of a `GET /callback` (the browser's return), in order.
    Callback(Vec<(String, String)>),
}

/// A running integrator site on `127.0.0.1:<random port>`; stopped when dropped.
pub struct ButtonSite {
    shared: web::Data<Shared>,
    server: ServerHandle,
}

struct Shared {
    base: String,
    button_js: String,
    state: String,
    arrivals: Mutex<Vec<Arrival>>,
}

impl ButtonSite {
    /// Starts the site; its page loads the button script from `button_js`.
    pub async fn spawn(button_js: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the button site")?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = web::Data::new(Shared {
            base,
            button_js: button_js.to_owned(),
            state: uuid::Uuid::new_v4().simple().to_string(),
            arrivals: Mutex::new(Vec::new()),
        });
        let data = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/connect/{mode}", web::get().to(button_page))
                .route("/secrets", web::post().to(secrets))
                .route("/callback", web::get().to(callback))
                .route("/logo.svg", web::get().to(logo))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            shared,
            server: handle,
        })
    }

    /// The page with a button of this `mode`.
    pub fn page_url(&self, mode: Mode) -> String {
        format!("{}/connect/{}", self.shared.base, mode.as_str())
    }

    /// The button's `data-redirect_uri`.
    pub fn callback_url(&self) -> String {
        format!("{}/callback", self.shared.base)
    }

    /// The button's `data-state`, fresh for each site.
    pub fn state(&self) -> &str {
        &self.shared.state
    }

    /// Everything that arrived so far, oldest first.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.lock_arrivals().clone()
    }
}

impl Drop for ButtonSite {
    fn drop(&mut self) {
        // `stop` sends the command when called; its future would only await completion.
        drop(self.server.stop(false));
    }
}

impl Shared {
    fn lock_arrivals(&self) -> std::sync::MutexGuard<'_, Vec<Arrival>> {
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, arrival: Arrival) {
        self.lock_arrivals().push(arrival);
    }
}

/// `GET /connect/{mode}`: the official tag, under a strict CSP that only lets the button script
/// run, so anything else the script does that a strict page forbids shows up as a violation.
async fn button_page(site: web::Data<Shared>, mode: web::Path<String>) -> HttpResponse {
    let mode = match mode.as_str() {
        "popup" => Mode::Popup,
        "post_message" => Mode::PostMessage,
        _ => return HttpResponse::NotFound().finish(),
    };
    let script_origin = url::Url::parse(&site.button_js)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_default();
    let base = &site.base;
    let tag = format!(
        r#"<script class="amocrm_oauth" charset="utf-8" data-name="{name}" data-description="{description}" data-redirect_uri="{base}/callback" data-secrets_uri="{base}/secrets" data-logo="{base}/logo.svg" data-scopes="crm" data-title="{title}" data-compact="false" data-mode="{mode}" data-state="{state}" src="{src}"></script>"#,
        name = escape(INTEGRATION_NAME),
        description = "Checks the site button in a real browser",
        title = BUTTON_TITLE,
        mode = mode.as_str(),
        state = site.state,
        src = escape(&site.button_js),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; script-src {script_origin}; base-uri 'none'; \
                 form-action 'none'; frame-ancestors 'none'"
            ),
        ))
        .body(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Integrator</title></head><body><h1>Connect your amoCRM</h1>{tag}</body></html>"
        ))
}

/// `POST /secrets`: amoCRM's secrets webhook; accepted with exactly 200, as amoCRM requires.
async fn secrets(site: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    site.record(Arrival::Secrets(body));
    HttpResponse::Ok()
        .content_type("application/json")
        .body("{}")
}

/// `GET /callback`: the Redirect URI.
async fn callback(site: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    site.record(Arrival::Callback(query));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Connected</title></head><body><p id=\"callback\">Connected</p></body></html>",
        )
}

/// `GET /logo.svg`: the `data-logo` the consent page shows.
async fn logo() -> HttpResponse {
    HttpResponse::Ok().content_type("image/svg+xml").body(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\">\
         <rect width=\"64\" height=\"64\" rx=\"12\" fill=\"#2f855a\"/></svg>",
    )
}

/// Escapes text for a double-quoted HTML attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
