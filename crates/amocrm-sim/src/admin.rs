//! The JSON admin/test API under `/_sim/admin/`: the HTTP twin of [`Sim`]'s methods, for tests
//! written in other languages, for demo mode and for poking a standalone simulator with curl.

use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, Scope, web};
use serde::Deserialize;
use serde_json::json;

use crate::config::{AccountSeed, ConfigPatch, IntegrationTokens};
use crate::faults::{Fault, Route};
use crate::hosts::Platform;
use crate::sim::{NewIntegration, Sim, SimError};
use crate::witness::InvariantLimits;

/// Where the admin API is mounted.
pub const ADMIN_PREFIX: &str = "/_sim/admin";

impl ResponseError for SimError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownIntegration(_) | Self::UnknownAccount(_) | Self::UnknownEntity(_) => {
                StatusCode::NOT_FOUND
            }
            Self::AccountExists(_) | Self::SubdomainTaken(_) => StatusCode::CONFLICT,
            Self::InvalidSubdomain(_)
            | Self::InvalidFault(_)
            | Self::InvalidIntegration(_)
            | Self::InvalidSetting(_)
            | Self::Rejected(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({ "error": self.to_string() }))
    }
}

pub(crate) type Reply = Result<HttpResponse, SimError>;

pub(crate) fn ok(body: impl serde::Serialize) -> Reply {
    Ok(HttpResponse::Ok().json(body))
}

/// The admin scope.
pub fn scope() -> Scope {
    let json_errors = web::JsonConfig::default().error_handler(|error, _| {
        let body = json!({ "error": error.to_string() });
        InternalError::from_response(error, HttpResponse::BadRequest().json(body)).into()
    });
    let query_errors = web::QueryConfig::default().error_handler(|error, _| {
        let body = json!({ "error": error.to_string() });
        InternalError::from_response(error, HttpResponse::BadRequest().json(body)).into()
    });
    web::scope(ADMIN_PREFIX)
        .app_data(json_errors)
        .app_data(query_errors)
        .route("/journal", web::get().to(journal))
        .route("/stats", web::get().to(stats))
        .route("/reset", web::post().to(reset))
        .route("/config", web::get().to(get_config))
        .route("/config", web::post().to(patch_config))
        .route("/clock", web::get().to(clock))
        .route("/clock/advance", web::post().to(advance_clock))
        .route("/accounts", web::get().to(accounts))
        .route("/accounts", web::post().to(add_account))
        .route("/accounts/{id}/subdomain", web::post().to(rename_subdomain))
        .route("/accounts/{id}/paid", web::post().to(set_paid))
        .route("/integrations", web::get().to(integrations))
        .route("/integrations", web::post().to(register_integration))
        .route(
            "/integrations/{client_id}/uninstall",
            web::post().to(uninstall),
        )
        .route(
            "/integrations/{client_id}/regenerate-secret",
            web::post().to(regenerate_secret),
        )
        .route(
            "/integrations/{client_id}/tokens",
            web::post().to(set_integration_tokens),
        )
        .route(
            "/integrations/{client_id}/refuse",
            web::post().to(set_api_refusal),
        )
        .route(
            "/integrations/{client_id}/token-calls",
            web::get().to(token_calls),
        )
        .route("/invariants", web::get().to(invariants))
        .configure(crate::admin_crm::routes)
        .configure(crate::hooks::admin::routes)
        .route("/faults", web::get().to(faults))
        .route("/faults", web::post().to(set_fault))
        .route("/faults", web::delete().to(clear_faults))
        .route("/faults/{route}", web::delete().to(clear_fault))
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

async fn journal(sim: web::Data<Sim>, query: web::Query<Since>) -> Reply {
    ok(sim.journal_since(query.since))
}

async fn stats(sim: web::Data<Sim>) -> Reply {
    ok(sim.stats())
}

async fn reset(sim: web::Data<Sim>) -> Reply {
    sim.reset();
    ok(json!({ "reset": true }))
}

async fn get_config(sim: web::Data<Sim>) -> Reply {
    ok(sim.config())
}

async fn patch_config(sim: web::Data<Sim>, patch: web::Json<ConfigPatch>) -> Reply {
    ok(sim.update_config(patch.into_inner()))
}

async fn clock(sim: web::Data<Sim>) -> Reply {
    ok(json!({ "now": sim.now(), "offset_secs": sim.clock_offset_secs() }))
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(sim: web::Data<Sim>, body: web::Json<Advance>) -> Reply {
    sim.advance_clock(std::time::Duration::from_secs(body.seconds));
    clock(sim).await
}

async fn accounts(sim: web::Data<Sim>) -> Reply {
    ok(sim.accounts())
}

#[derive(Deserialize)]
struct NewAccount {
    id: Option<i64>,
    platform: Platform,
    subdomain: String,
    name: String,
    #[serde(default = "yes")]
    admin: bool,
    /// Seed the demo leads and contacts.
    #[serde(default)]
    demo_data: bool,
}

fn yes() -> bool {
    true
}

async fn add_account(sim: web::Data<Sim>, body: web::Json<NewAccount>) -> Reply {
    let body = body.into_inner();
    let id = body.id.unwrap_or_else(|| {
        sim.accounts()
            .iter()
            .map(|a| a.id)
            .max()
            .unwrap_or(31_000_000)
            + 1
    });
    let view = sim.add_account(AccountSeed {
        id,
        platform: body.platform,
        subdomain: body.subdomain,
        name: body.name,
        admin: body.admin,
    })?;
    if body.demo_data {
        sim.seed_demo_data(id)?;
    }
    ok(view)
}

#[derive(Deserialize)]
struct Subdomain {
    subdomain: String,
}

async fn rename_subdomain(
    sim: web::Data<Sim>,
    id: web::Path<i64>,
    body: web::Json<Subdomain>,
) -> Reply {
    sim.rename_subdomain(*id, &body.subdomain)?;
    ok(json!({ "id": *id, "subdomain": body.subdomain }))
}

#[derive(Deserialize)]
struct Paid {
    paid: bool,
}

async fn set_paid(sim: web::Data<Sim>, id: web::Path<i64>, body: web::Json<Paid>) -> Reply {
    sim.set_account_paid(*id, body.paid)?;
    ok(json!({ "id": *id, "paid": body.paid }))
}

async fn integrations(sim: web::Data<Sim>) -> Reply {
    ok(sim.integrations())
}

async fn register_integration(sim: web::Data<Sim>, body: web::Json<NewIntegration>) -> Reply {
    ok(sim.register_integration(body.into_inner())?)
}

async fn uninstall(sim: web::Data<Sim>, client_id: web::Path<String>) -> Reply {
    sim.uninstall(&client_id).await?;
    ok(json!({ "client_id": *client_id, "uninstalled": true }))
}

async fn regenerate_secret(sim: web::Data<Sim>, client_id: web::Path<String>) -> Reply {
    let secret = sim.regenerate_secret(&client_id)?;
    ok(json!({ "client_id": *client_id, "client_secret": secret }))
}

async fn set_integration_tokens(
    sim: web::Data<Sim>,
    client_id: web::Path<String>,
    body: web::Json<IntegrationTokens>,
) -> Reply {
    let tokens = body.into_inner();
    sim.set_integration_tokens(&client_id, tokens.clone())?;
    ok(json!({ "client_id": *client_id, "tokens": tokens }))
}

#[derive(Deserialize)]
struct Refusal {
    probability: f64,
}

async fn set_api_refusal(
    sim: web::Data<Sim>,
    client_id: web::Path<String>,
    body: web::Json<Refusal>,
) -> Reply {
    sim.set_api_refusal(&client_id, body.probability)?;
    ok(json!({ "client_id": *client_id, "probability": body.probability }))
}

async fn token_calls(sim: web::Data<Sim>, client_id: web::Path<String>) -> Reply {
    ok(sim.token_calls(&client_id))
}

#[derive(Deserialize)]
struct LimitsQuery {
    api_calls_per_second: Option<usize>,
    min_token_call_gap_ms: Option<u64>,
}

async fn invariants(sim: web::Data<Sim>, query: web::Query<LimitsQuery>) -> Reply {
    let defaults = InvariantLimits::default();
    let limits = InvariantLimits {
        api_calls_per_second: query
            .api_calls_per_second
            .unwrap_or(defaults.api_calls_per_second),
        min_token_call_gap: query.min_token_call_gap_ms.map_or(
            defaults.min_token_call_gap,
            std::time::Duration::from_millis,
        ),
    };
    ok(json!({
        "limits": {
            "api_calls_per_second": limits.api_calls_per_second,
            "min_token_call_gap_ms": limits.min_token_call_gap.as_millis(),
        },
        "violations": sim.violations(&limits),
        "max_api_arrivals_per_second": sim.max_api_arrivals_per_second(),
        "totals": sim.witness_totals(),
    }))
}

async fn faults(sim: web::Data<Sim>) -> Reply {
    let list: Vec<_> = sim
        .faults()
        .into_iter()
        .map(|(route, fault)| json!({ "route": route, "fault": fault }))
        .collect();
    ok(list)
}

#[derive(Deserialize)]
struct SetFault {
    route: Route,
    #[serde(flatten)]
    fault: Fault,
}

async fn set_fault(sim: web::Data<Sim>, body: web::Json<SetFault>) -> Reply {
    let SetFault { route, fault } = body.into_inner();
    sim.set_fault(route, fault)?;
    faults(sim).await
}

async fn clear_faults(sim: web::Data<Sim>) -> Reply {
    sim.clear_faults(None);
    faults(sim).await
}

async fn clear_fault(sim: web::Data<Sim>, route: web::Path<Route>) -> Reply {
    sim.clear_faults(Some(*route));
    faults(sim).await
}
