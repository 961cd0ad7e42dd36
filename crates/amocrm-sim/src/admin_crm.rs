//! Admin routes for account data (`/_sim/admin/accounts/{id}/leads|contacts/...`): the HTTP twin
//! of `sim_crm.rs`, for changing an account "by hand" as its users would.

use actix_web::web;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{Reply, ok};
use crate::crm::EntityKind;
use crate::sim::Sim;

/// Registers the routes (inside the admin scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/demo-data", web::post().to(seed_demo_data))
        .route("/accounts/{id}/leads", web::get().to(leads))
        .route("/accounts/{id}/leads", web::post().to(create_lead))
        .route("/accounts/{id}/leads/{lead}", web::patch().to(update_lead))
        .route("/accounts/{id}/leads/{lead}", web::post().to(update_lead))
        .route("/accounts/{id}/leads/{lead}", web::delete().to(delete_lead))
        .route(
            "/accounts/{id}/leads/{lead}/status",
            web::post().to(move_lead),
        )
        .route(
            "/accounts/{id}/leads/{lead}/responsible",
            web::post().to(lead_responsible),
        )
        .route(
            "/accounts/{id}/leads/{lead}/notes",
            web::post().to(|sim, path, body| add_note(sim, path, body, EntityKind::Lead)),
        )
        .route("/accounts/{id}/contacts", web::get().to(contacts))
        .route("/accounts/{id}/contacts", web::post().to(create_contact))
        .route(
            "/accounts/{id}/contacts/{contact}",
            web::patch().to(update_contact),
        )
        .route(
            "/accounts/{id}/contacts/{contact}",
            web::post().to(update_contact),
        )
        .route(
            "/accounts/{id}/contacts/{contact}",
            web::delete().to(delete_contact),
        )
        .route(
            "/accounts/{id}/contacts/{contact}/notes",
            web::post().to(|sim, path, body| add_note(sim, path, body, EntityKind::Contact)),
        );
}

async fn seed_demo_data(sim: web::Data<Sim>, id: web::Path<i64>) -> Reply {
    sim.seed_demo_data(*id)?;
    ok(json!({ "id": *id, "demo_data": true }))
}

async fn leads(sim: web::Data<Sim>, id: web::Path<i64>) -> Reply {
    ok(sim.leads(*id)?)
}

async fn create_lead(sim: web::Data<Sim>, id: web::Path<i64>, body: web::Json<Value>) -> Reply {
    ok(sim.create_lead(*id, &body)?)
}

async fn update_lead(
    sim: web::Data<Sim>,
    path: web::Path<(i64, i64)>,
    body: web::Json<Value>,
) -> Reply {
    let (account, lead) = *path;
    ok(sim.update_lead(account, lead, &body)?)
}

async fn delete_lead(sim: web::Data<Sim>, path: web::Path<(i64, i64)>) -> Reply {
    let (account, lead) = *path;
    sim.delete_lead(account, lead)?;
    ok(json!({ "id": lead, "deleted": true }))
}

#[derive(Deserialize)]
struct Stage {
    status_id: i64,
    #[serde(default)]
    pipeline_id: Option<i64>,
}

async fn move_lead(
    sim: web::Data<Sim>,
    path: web::Path<(i64, i64)>,
    body: web::Json<Stage>,
) -> Reply {
    let (account, lead) = *path;
    ok(sim.move_lead(account, lead, body.status_id, body.pipeline_id)?)
}

#[derive(Deserialize)]
struct Responsible {
    responsible_user_id: i64,
}

async fn lead_responsible(
    sim: web::Data<Sim>,
    path: web::Path<(i64, i64)>,
    body: web::Json<Responsible>,
) -> Reply {
    let (account, lead) = *path;
    ok(sim.set_lead_responsible(account, lead, body.responsible_user_id)?)
}

async fn contacts(sim: web::Data<Sim>, id: web::Path<i64>) -> Reply {
    ok(sim.contacts(*id)?)
}

async fn create_contact(sim: web::Data<Sim>, id: web::Path<i64>, body: web::Json<Value>) -> Reply {
    ok(sim.create_contact(*id, &body)?)
}

async fn update_contact(
    sim: web::Data<Sim>,
    path: web::Path<(i64, i64)>,
    body: web::Json<Value>,
) -> Reply {
    let (account, contact) = *path;
    ok(sim.update_contact(account, contact, &body)?)
}

async fn delete_contact(sim: web::Data<Sim>, path: web::Path<(i64, i64)>) -> Reply {
    let (account, contact) = *path;
    sim.delete_contact(account, contact)?;
    ok(json!({ "id": contact, "deleted": true }))
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
    /// Attach a file of this name: a second (file) note follows the text note.
    #[serde(default)]
    file_name: Option<String>,
}

async fn add_note(
    sim: web::Data<Sim>,
    path: web::Path<(i64, i64)>,
    body: web::Json<NewNote>,
    entity: EntityKind,
) -> Reply {
    let (account, entity_id) = *path;
    let ids = sim.add_note(
        account,
        entity,
        entity_id,
        &body.text,
        body.file_name.as_deref(),
    )?;
    ok(json!({ "note_ids": ids }))
}
