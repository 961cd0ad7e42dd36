//! Requests the simulator makes itself: the secrets webhook and the disconnect hook.

use std::{sync::OnceLock, time::Duration};

use serde_json::json;

use crate::config::SecretsFormat;
use crate::tokens::hmac_sha256;

/// How long amoCRM is believed to wait for the secrets webhook.
const SECRETS_TIMEOUT: Duration = Duration::from_secs(5);
const HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// User-Agent observed on the disconnect hook.
const HOOK_USER_AGENT: &str = "amoService-oAuth-Code-Sender/1.0";

/// The outcome of one outgoing request.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Delivery {
    /// amoCRM accepts exactly 200 from the secrets endpoint (204 fails the install).
    pub fn is_ok(&self) -> bool {
        self.status == Some(200)
    }
}

/// A client that never follows redirects and never pools: the simulator's handlers run on several
/// runtimes (actix workers), and a pooled connection must not outlive the runtime that opened it.
/// Built once (each request sets its own timeout): building one reads the system's root
/// certificates, which cost more than the delivery when it was done per request.
fn client() -> Result<reqwest::Client, reqwest::Error> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

async fn send(request: Result<reqwest::RequestBuilder, reqwest::Error>) -> Delivery {
    match request {
        Ok(request) => match request.send().await {
            Ok(response) => Delivery {
                status: Some(response.status().as_u16()),
                error: None,
            },
            Err(error) => Delivery {
                status: None,
                error: Some(error.to_string()),
            },
        },
        Err(error) => Delivery {
            status: None,
            error: Some(error.to_string()),
        },
    }
}

/// POSTs `{client_id, client_secret, state}` to the integration's `secrets_uri`.
pub async fn post_secrets(
    url: &str,
    format: SecretsFormat,
    client_id: &str,
    client_secret: &str,
    state: Option<&str>,
) -> Delivery {
    let mut body = json!({ "client_id": client_id, "client_secret": client_secret });
    if let Some(state) = state {
        body["state"] = json!(state);
    }
    let request = client().map(|c| {
        let request = c.post(url).timeout(SECRETS_TIMEOUT);
        match format {
            SecretsFormat::Json => request.json(&body),
            SecretsFormat::Form => request.form(&body),
        }
    });
    send(request).await
}

/// The disconnect hook's signature: `hex(HMAC-SHA256(client_secret, "{client_id}|{account_id}"))`.
pub fn disconnect_signature(client_id: &str, account_id: i64, client_secret: &str) -> String {
    hex::encode(hmac_sha256(
        client_secret.as_bytes(),
        format!("{client_id}|{account_id}").as_bytes(),
    ))
}

/// Sends `GET {url}?client_uuid=&account_id=&signature=`.
pub async fn disconnect_hook(
    url: &str,
    client_id: &str,
    account_id: i64,
    client_secret: &str,
) -> Delivery {
    let signature = disconnect_signature(client_id, account_id, client_secret);
    let request = client().map(|c| {
        c.get(url)
            .timeout(HOOK_TIMEOUT)
            .header(reqwest::header::USER_AGENT, HOOK_USER_AGENT)
            .query(&[
                ("client_uuid", client_id.to_owned()),
                ("account_id", account_id.to_string()),
                ("signature", signature),
            ])
    });
    send(request).await
}
