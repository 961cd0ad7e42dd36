//! The sender: one background thread per simulator (started with its first subscription) with
//! its own small runtime. It wakes when a delivery is queued or answered and at least every
//! 50 ms, sends what is due on the simulator clock (so advancing the clock makes retries due at
//! once) — one attempt at a time per destination, in order — and records every answer. It holds
//! the simulator weakly and ends when the simulator is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};
use tokio::sync::Notify;

use super::deliveries::{Dispatch, TIMEOUT};
use crate::sim::{Inner, Sim};

/// How often due retries are looked for when nothing wakes the sender.
const TICK: Duration = Duration::from_millis(50);
/// The User-Agent of amoCRM's webhook sender.
const HOOK_USER_AGENT: &str = "amoCRM-Webhooks/3.0";

/// Starts the sender thread of `sim`.
pub fn start(inner: Weak<Inner>, wake: Arc<Notify>) {
    let spawned = std::thread::Builder::new()
        .name("amocrm-sim-hooks".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(run(inner, wake)),
                Err(error) => tracing::error!(%error, "amocrm-sim: webhook sender has no runtime"),
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "amocrm-sim: cannot start the webhook sender");
    }
}

fn client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
}

async fn run(inner: Weak<Inner>, wake: Arc<Notify>) {
    let client = match client() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "amocrm-sim: webhook sender has no HTTP client");
            return;
        }
    };
    loop {
        let _ = tokio::time::timeout(TICK, wake.notified()).await;
        let Some(sim) = Sim::upgrade(&inner) else {
            return;
        };
        let due = sim.with_state(|s| {
            let now = s.clock.now();
            s.hooks.deliveries.take_due(now)
        });
        for dispatch in due {
            tokio::spawn(send(sim.clone(), client.clone(), dispatch));
        }
    }
}

/// Sends one attempt and records its answer (a timeout or a refused connection has none).
async fn send(sim: Sim, client: reqwest::Client, dispatch: Dispatch) {
    let answer = client
        .post(&dispatch.destination)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(USER_AGENT, HOOK_USER_AGENT)
        .header("X-Amocrm-Requestid", &dispatch.request_id)
        .header(ACCEPT_ENCODING, "gzip")
        .body(dispatch.body.clone())
        .send()
        .await;
    let (status, error) = match answer {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) if error.is_timeout() => (None, Some("timed out after 2 s".to_owned())),
        Err(error) => (None, Some(error.to_string())),
    };
    sim.with_state(|s| s.hook_answered(&dispatch, status, error));
    // A held delivery may be waiting for this one.
    sim.wake_hooks();
}
