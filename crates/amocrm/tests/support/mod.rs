//! A scriptable fake amoCRM: an actix-web server on 127.0.0.1:0 that records every request and answers
//! with whatever the test's closure returns. Clients reach it through `base_url_override`.

#![expect(dead_code, reason = "each test binary uses a different subset")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use amocrm::{AccountHost, AmoClient, ClientSettings, DomainAllowList, OAuthApp};
use secrecy::SecretString;
use url::Url;

/// One request as the fake saw it on the wire.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Hit {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    pub chunked: bool,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::raw(status, "application/json", body.to_string().into_bytes())
    }

    pub fn problem(status: u16, body: &serde_json::Value) -> Self {
        Self::raw(
            status,
            "application/problem+json",
            body.to_string().into_bytes(),
        )
    }

    pub fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Send the body with chunked transfer encoding (no Content-Length).
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

type Responder = dyn Fn(&Hit) -> Reply + Send + Sync;

pub struct FakeAmo {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl FakeAmo {
    /// Starts a fake answering every request with `respond(hit)`.
    pub fn start(respond: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let state = (Arc::clone(&hits), respond);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind 127.0.0.1:0");
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        Self { addr, hits }
    }

    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("valid URL")
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A client sending everything to this fake.
    pub fn client(&self) -> AmoClient {
        self.client_with(|_| {})
    }

    pub fn client_with(&self, adjust: impl FnOnce(&mut ClientSettings)) -> AmoClient {
        install_crypto_provider();
        let mut settings = ClientSettings {
            base_url_override: Some(self.base_url()),
            ..ClientSettings::default()
        };
        adjust(&mut settings);
        AmoClient::new(settings).expect("client builds")
    }
}

type State = (Arc<Mutex<Vec<Hit>>>, Arc<Responder>);

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let (hits, respond) = state.get_ref();
    let hit = Hit {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let reply = respond(&hit);
    hits.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(hit);
    if !reply.delay.is_zero() {
        actix_web::rt::time::sleep(reply.delay).await;
    }
    let mut response =
        HttpResponse::build(StatusCode::from_u16(reply.status).expect("valid status"));
    for (name, value) in &reply.headers {
        response.append_header((name.as_str(), value.as_str()));
    }
    if reply.chunked {
        let chunks = reply
            .body
            .chunks(16 * 1024)
            .map(|chunk| Ok::<_, actix_web::Error>(web::Bytes::copy_from_slice(chunk)))
            .collect::<Vec<_>>();
        response.streaming(futures_util::stream::iter(chunks))
    } else {
        response.body(reply.body)
    }
}

pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn host(raw: &str) -> AccountHost {
    AccountHost::parse(raw, &DomainAllowList::default()).expect("valid host")
}

/// Canary credentials: unique strings tests grep for in error output.
pub struct Creds {
    pub client_secret: SecretString,
    pub code: SecretString,
    pub refresh_token: SecretString,
    pub access_token: SecretString,
}

pub const CLIENT_ID: &str = "5b1f0b5e-0c6e-4a4b-9b7e-1b6f0d7a3c21";
pub const REDIRECT_URI: &str = "https://amolink.example/amocrm/callback";

impl Creds {
    pub fn new() -> Self {
        Self {
            client_secret: SecretString::from("canary-client-secret"),
            code: SecretString::from("canary-code"),
            refresh_token: SecretString::from("canary-refresh-token"),
            access_token: SecretString::from("canary-access-token"),
        }
    }

    pub fn app(&self) -> OAuthApp<'_> {
        OAuthApp {
            client_id: CLIENT_ID,
            client_secret: &self.client_secret,
            redirect_uri: REDIRECT_URI,
        }
    }
}

/// Asserts no canary credential appears in `text`.
pub fn assert_no_canary(text: &str) {
    assert!(!text.contains("canary"), "secret leaked into: {text}");
}
