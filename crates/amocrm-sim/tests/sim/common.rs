//! Test helpers: a simulator on a random port, a recording receiver for webhooks, and the
//! browser steps of the flow done over plain HTTP.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use amocrm_sim::{SimConfig, SimHandle};
use reqwest::header::{CONTENT_TYPE, HOST, LOCATION};
use serde_json::{Value, json};

pub const REDIRECT_URI: &str = "https://app.example/amocrm/callback";
pub const DEMO: i64 = 31_000_001;
pub const DEMO2: i64 = 31_000_002;
pub const KOMMO: i64 = 32_000_001;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: String,
    pub user_agent: String,
    pub content_type: String,
    pub request_id: String,
    pub body: String,
}

impl Received {
    /// The decoded form fields of the body, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    /// One decoded form field.
    pub fn field(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// A tiny HTTP server standing in for the integration's webhook endpoints.
pub struct Receiver {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<AtomicU16>,
    /// Milliseconds to wait before answering.
    pub delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (r, s, d) = (received.clone(), status.clone(), delay_ms.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || {
            let (r, s, d) = (r.clone(), s.clone(), d.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (r, s, d) = (r.clone(), s.clone(), d.clone());
                async move {
                    let header = |name| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    r.lock().expect("lock").push(Received {
                        path: req.path().to_owned(),
                        query: req.query_string().to_owned(),
                        user_agent: header("user-agent"),
                        content_type: header("content-type"),
                        request_id: header("x-amocrm-requestid"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let delay = d.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    }
                    let status = actix_web::http::StatusCode::from_u16(s.load(Ordering::SeqCst))
                        .expect("status");
                    HttpResponse::build(status).json(json!({ "ok": true }))
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self {
            base,
            received,
            status,
            delay_ms,
        }
    }

    /// Requests to `path`, in arrival order.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.all().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits (up to 20 s) until `path` has received at least `count` requests; returns them.
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        for _ in 0..400 {
            let seen = self.at(path);
            if seen.len() >= count {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let seen = self.at(path);
        panic!("{path}: {} of {count} requests arrived", seen.len());
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    pub fn secrets_uri(&self) -> String {
        format!("{}/secrets", self.base)
    }
}

/// Tokens from the token endpoint.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

/// An installed external integration with its first code.
#[derive(Debug, Clone)]
pub struct Install {
    pub client_id: String,
    pub client_secret: String,
    pub code: String,
    pub referer: String,
}

pub struct Env {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub receiver: Receiver,
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Extracts `name=value` of every hidden input (what a browser would submit).
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.strip_prefix("name=\"")?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

pub fn query_map(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

impl Env {
    pub async fn new(config: SimConfig) -> Self {
        let sim = amocrm_sim::spawn(config).await.expect("spawn sim");
        Self {
            sim,
            http: http_client(),
            receiver: Receiver::start().await,
        }
    }

    pub async fn default() -> Self {
        Self::new(SimConfig::default()).await
    }

    /// A browser URL of a simulated host (path-prefix routing).
    pub fn site(&self, host: &str, path: &str) -> String {
        format!("{}/_sim/site/{host}{path}", self.sim.base_url())
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/_sim/admin{path}", self.sim.base_url())
    }

    /// The consent URL exactly as the button builds it for a metadata button.
    pub fn consent_url(&self, consent_host: &str, state: &str, mode: &str) -> String {
        let mut url = url::Url::parse(&self.site(consent_host, "/oauth")).expect("url");
        url.query_pairs_mut()
            .append_pair("state", state)
            .append_pair("mode", mode)
            .append_pair("origin", "https://app.example/connect/k1")
            .append_pair("name", "Amolink & Co <test>")
            .append_pair("description", "Syncs things")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("secrets_uri", &self.receiver.secrets_uri())
            .append_pair("logo", "https://app.example/logo.png")
            .append_pair("scopes[]", "crm")
            .append_pair("scopes[]", "notifications");
        url.into()
    }

    /// Opens the consent page and submits its form for `account_id` with `decision`.
    pub async fn decide(
        &self,
        consent_url: &str,
        account_id: i64,
        decision: &str,
    ) -> reqwest::Response {
        let page = self
            .http
            .get(consent_url)
            .send()
            .await
            .expect("consent page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        let consent_host = consent_url
            .split("/_sim/site/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("host");
        let mut form = hidden_inputs(&html);
        form.push(("account_id".into(), account_id.to_string()));
        form.push(("decision".into(), decision.into()));
        self.http
            .post(self.site(consent_host, "/oauth/decision"))
            .form(&form)
            .send()
            .await
            .expect("decision")
    }

    /// Installs the metadata button into `account_id` and returns the code from the redirect.
    pub async fn install(&self, account_id: i64) -> Install {
        let consent_host = if account_id == KOMMO {
            "www.kommo.com"
        } else {
            "www.amocrm.ru"
        };
        let state = format!("state-{}", uuid::Uuid::new_v4());
        let url = self.consent_url(consent_host, &state, "post_message");
        let response = self.decide(&url, account_id, "allow").await;
        assert_eq!(response.status(), 302, "install must redirect");
        let location = response.headers()[LOCATION]
            .to_str()
            .expect("location")
            .to_owned();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        let query = query_map(&location);
        let secrets: Value = serde_json::from_str(
            &self
                .receiver
                .all()
                .iter()
                .rev()
                .find(|r| r.path == "/secrets")
                .expect("secrets delivered")
                .body,
        )
        .expect("json secrets");
        assert_eq!(secrets["client_id"], query["client_id"]);
        Install {
            client_id: query["client_id"].clone(),
            client_secret: secrets["client_secret"]
                .as_str()
                .expect("secret")
                .to_owned(),
            code: query["code"].clone(),
            referer: query["referer"].clone(),
        }
    }

    /// POSTs a JSON body to the token endpoint of `host` (Host-header routing).
    pub async fn token(&self, host: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth2/access_token", self.sim.base_url()))
            .header(HOST, host)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("token request")
    }

    pub async fn exchange(&self, install: &Install) -> reqwest::Response {
        self.token(
            &install.referer,
            json!({
                "client_id": install.client_id,
                "client_secret": install.client_secret,
                "grant_type": "authorization_code",
                "code": install.code,
                "redirect_uri": REDIRECT_URI,
            }),
        )
        .await
    }

    pub async fn refresh(&self, install: &Install, refresh_token: &str) -> reqwest::Response {
        self.token(
            &install.referer,
            json!({
                "client_id": install.client_id,
                "client_secret": install.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "redirect_uri": REDIRECT_URI,
            }),
        )
        .await
    }

    pub async fn connect(&self, account_id: i64) -> (Install, Tokens) {
        let install = self.install(account_id).await;
        let tokens = tokens_of(self.exchange(&install).await).await;
        (install, tokens)
    }

    /// An API call with a JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        host: &str,
        path: &str,
        access_token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .header(HOST, host)
            .bearer_auth(access_token)
            .json(body)
            .send()
            .await
            .expect("api request")
    }

    /// A successful API call's JSON body.
    pub async fn api_json(&self, host: &str, path: &str, access_token: &str) -> Value {
        let response = self.api(host, path, access_token).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.expect("json")
    }

    pub async fn api(&self, host: &str, path: &str, access_token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.sim.base_url()))
            .header(HOST, host)
            .bearer_auth(access_token)
            .send()
            .await
            .expect("api request")
    }
}

pub async fn tokens_of(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), 200, "token endpoint must succeed");
    let body: Value = response.json().await.expect("json");
    Tokens {
        access: body["access_token"].as_str().expect("at").to_owned(),
        refresh: body["refresh_token"].as_str().expect("rt").to_owned(),
        body,
    }
}

/// Status, content type and JSON body of a problem response.
pub async fn problem(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}
