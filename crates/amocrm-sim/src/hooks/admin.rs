//! Admin routes for account webhooks: subscriptions by hand, the plan switch, deliveries with
//! their attempts, forced disabling, and the delivery knobs.

use actix_web::web;
use serde::Deserialize;
use serde_json::json;

use super::HookKnob;
use crate::admin::{Reply, ok};
use crate::sim::Sim;

/// Registers the routes (inside the admin scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/webhooks", web::get().to(webhooks))
        .route("/accounts/{id}/webhooks", web::post().to(subscribe))
        .route("/accounts/{id}/webhooks", web::delete().to(unsubscribe))
        .route("/accounts/{id}/webhooks/disable", web::post().to(disable))
        .route("/accounts/{id}/deliveries", web::get().to(deliveries))
        .route("/accounts/{id}/plan", web::post().to(plan))
        .route("/webhooks/knobs", web::get().to(knobs))
        .route("/webhooks/knobs", web::post().to(set_knob))
        .route("/webhooks/knobs", web::delete().to(clear_knobs));
}

async fn webhooks(sim: web::Data<Sim>, id: web::Path<i64>) -> Reply {
    ok(sim.webhooks(*id))
}

#[derive(Deserialize)]
struct NewWebhook {
    destination: String,
    settings: Vec<String>,
}

async fn subscribe(sim: web::Data<Sim>, id: web::Path<i64>, body: web::Json<NewWebhook>) -> Reply {
    let settings: Vec<&str> = body.settings.iter().map(String::as_str).collect();
    ok(sim.subscribe_webhook(*id, &body.destination, &settings)?)
}

#[derive(Deserialize)]
struct Destination {
    destination: String,
}

async fn unsubscribe(
    sim: web::Data<Sim>,
    id: web::Path<i64>,
    body: web::Json<Destination>,
) -> Reply {
    sim.unsubscribe_webhook(*id, &body.destination)?;
    ok(json!({ "destination": body.destination, "deleted": true }))
}

async fn disable(sim: web::Data<Sim>, id: web::Path<i64>, body: web::Json<Destination>) -> Reply {
    sim.disable_webhook(*id, &body.destination)?;
    ok(json!({ "destination": body.destination, "disabled": true }))
}

async fn deliveries(sim: web::Data<Sim>, id: web::Path<i64>) -> Reply {
    ok(sim.deliveries(*id))
}

#[derive(Deserialize)]
struct Plan {
    api_webhooks: bool,
}

async fn plan(sim: web::Data<Sim>, id: web::Path<i64>, body: web::Json<Plan>) -> Reply {
    sim.set_account_webhooks_plan(*id, body.api_webhooks)?;
    ok(json!({ "id": *id, "api_webhooks": body.api_webhooks }))
}

async fn knobs(sim: web::Data<Sim>) -> Reply {
    ok(sim.hook_knobs())
}

async fn set_knob(sim: web::Data<Sim>, body: web::Json<HookKnob>) -> Reply {
    sim.set_hook_knob(body.into_inner());
    ok(sim.hook_knobs())
}

async fn clear_knobs(sim: web::Data<Sim>) -> Reply {
    sim.clear_hook_knobs();
    ok(sim.hook_knobs())
}
