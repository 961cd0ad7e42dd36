//! Injected failures, so clients can be tested against a misbehaving amoCRM.
//!
//! One fault per route; it fires on every request, on the next `count` requests, or with a
//! `probability`, and removes itself once its count is spent.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::problem;

/// The places a fault can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `GET /auth/button(.min).js`
    Button,
    /// `GET /oauth`
    Consent,
    /// `POST /oauth/decision`
    Decision,
    /// `POST /oauth2/access_token`
    Token,
    /// `GET /oauth2/account/current/subdomain`
    Subdomain,
    /// `GET /api/v4/account`
    Account,
    /// `/api/v4/leads`
    Leads,
    /// `/api/v4/contacts`
    Contacts,
    /// `GET /api/v4/users`
    Users,
    /// `/api/v4/webhooks`
    Webhooks,
    /// The simulator's outgoing secrets webhook.
    SecretsDelivery,
}

impl Route {
    /// The name used in the journal and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Button => "button",
            Self::Consent => "consent",
            Self::Decision => "decision",
            Self::Token => "token",
            Self::Subdomain => "subdomain",
            Self::Account => "account",
            Self::Leads => "leads",
            Self::Contacts => "contacts",
            Self::Users => "users",
            Self::Webhooks => "webhooks",
            Self::SecretsDelivery => "secrets_delivery",
        }
    }
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Delay the request by `ms`, then handle it normally.
    Latency { ms: u64 },
    /// Answer `status` without handling the request.
    Status { status: u16 },
    /// Hold the request for `ms` (default 30 s), then answer 504 without handling it.
    Timeout {
        #[serde(default = "default_timeout_ms")]
        ms: u64,
    },
    /// Token endpoint only: perform the refresh (rotate and persist), wait `ms`, then break the
    /// connection instead of answering — the "lost refresh response" case.
    DropAfterRotation {
        #[serde(default)]
        ms: u64,
    },
    /// Token endpoint only: perform the refresh (rotate and persist), then answer `status`
    /// instead of the tokens — the "rotated, but the answer said it failed" case.
    StatusAfterRotation {
        #[serde(default = "default_failure_status")]
        status: u16,
    },
    /// Answer `status` (default 200) with a body that is not what the route promises (truncated
    /// JSON under a JSON content type), without handling the request.
    Garbage {
        #[serde(default = "default_garbage_status")]
        status: u16,
    },
    /// Secrets delivery only: send the webhook twice (a replay).
    Duplicate,
}

fn default_failure_status() -> u16 {
    502
}

fn default_garbage_status() -> u16 {
    200
}

/// A fault and when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Fire on the next `count` matching requests only.
    #[serde(default)]
    pub count: Option<u32>,
    /// Fire with this probability (0..=1).
    #[serde(default)]
    pub probability: Option<f64>,
}

impl Fault {
    /// A fault that fires on every request.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            count: None,
            probability: None,
        }
    }

    /// A fault that fires on the next `count` requests.
    pub fn times(kind: FaultKind, count: u32) -> Self {
        Self {
            kind,
            count: Some(count),
            probability: None,
        }
    }

    /// Rejects combinations that cannot mean anything.
    pub fn validate(&self, route: Route) -> Result<(), String> {
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err("probability must be within 0..=1".into());
        }
        match (&self.kind, route) {
            (
                FaultKind::Status { status }
                | FaultKind::StatusAfterRotation { status }
                | FaultKind::Garbage { status },
                _,
            ) if StatusCode::from_u16(*status).is_err() => {
                Err(format!("{status} is not an HTTP status"))
            }
            (
                FaultKind::DropAfterRotation { .. } | FaultKind::StatusAfterRotation { .. },
                Route::Token,
            ) => Ok(()),
            (FaultKind::DropAfterRotation { .. } | FaultKind::StatusAfterRotation { .. }, _) => {
                Err(
                    "drop_after_rotation and status_after_rotation apply to the token route only"
                        .into(),
                )
            }
            (FaultKind::Duplicate | FaultKind::Latency { .. }, Route::SecretsDelivery) => Ok(()),
            (_, Route::SecretsDelivery) => {
                Err("secrets_delivery supports latency and duplicate only".into())
            }
            (FaultKind::Duplicate, _) => {
                Err("duplicate applies to the secrets_delivery route only".into())
            }
            _ => Ok(()),
        }
    }
}

/// The active faults.
#[derive(Debug, Default)]
pub struct Faults {
    active: HashMap<Route, Fault>,
}

impl Faults {
    /// Installs (or replaces) the fault of `route`.
    pub fn set(&mut self, route: Route, fault: Fault) {
        self.active.insert(route, fault);
    }

    /// Removes the fault of `route`, or every fault.
    pub fn clear(&mut self, route: Option<Route>) {
        match route {
            Some(route) => {
                self.active.remove(&route);
            }
            None => self.active.clear(),
        }
    }

    /// The active faults, for display.
    pub fn list(&self) -> Vec<(Route, Fault)> {
        self.active.iter().map(|(r, f)| (*r, f.clone())).collect()
    }

    /// Decides whether the fault of `route` fires for this request, spending one of its count.
    pub fn trigger(&mut self, route: Route) -> Option<FaultKind> {
        let fault = self.active.get_mut(&route)?;
        if let Some(p) = fault.probability
            && !rand::thread_rng().gen_bool(p)
        {
            return None;
        }
        let kind = fault.kind.clone();
        if let Some(count) = fault.count.as_mut() {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.active.remove(&route);
            }
        }
        Some(kind)
    }
}

/// How a request continues after its fault (if any) was applied.
pub enum Proceed {
    /// Handle normally.
    Normally,
    /// Handle, then break the connection after waiting this long.
    ThenDrop(Duration),
    /// Handle, then answer this status instead.
    ThenStatus(StatusCode),
}

/// Applies a fault that fires before handling: sleeps for latency, or produces the faulty answer.
pub async fn apply(kind: Option<FaultKind>) -> Result<Proceed, HttpResponse> {
    match kind {
        None | Some(FaultKind::Duplicate) => Ok(Proceed::Normally),
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Proceed::Normally)
        }
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Err(problem::http(status, "Simulated fault"))
        }
        Some(FaultKind::Timeout { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Err(problem::http(
                StatusCode::GATEWAY_TIMEOUT,
                "Simulated timeout",
            ))
        }
        Some(FaultKind::DropAfterRotation { ms }) => {
            Ok(Proceed::ThenDrop(Duration::from_millis(ms)))
        }
        Some(FaultKind::StatusAfterRotation { status }) => Ok(Proceed::ThenStatus(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        )),
        Some(FaultKind::Garbage { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Err(HttpResponse::build(status)
                .content_type("application/json")
                .body("{\"token_type\":\"Bearer\",\"access_tok<html>502 Bad Gateway</html>"))
        }
    }
}

/// A response whose body fails at once, so the client sees the connection break.
pub async fn broken_connection(after: Duration) -> HttpResponse {
    tokio::time::sleep(after).await;
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("simulated connection drop"))
        }))
}
