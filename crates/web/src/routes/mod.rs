//! The route table. Each module lists its own routes; this is the only place they meet.
//!
//! Pages and forms for people are [`table::PageRoute`]s, each declaring the access it needs
//! ([`page_routes`]); the tenant API has its own table (`crate::api::routes`); the public
//! endpoints of the connect flow, amoCRM's webhooks, operations and static files are mounted
//! here directly.

mod account;
mod amocrm;
mod api_keys;
mod audit;
mod auth;
mod connect;
mod connect_return;
mod connections;
mod dashboard;
mod health;
mod invites;
mod landing;
mod language;
mod outbox;
mod passwords;
mod relay_settings;
pub mod table;
mod team;
mod webhooks;
mod workspaces;

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;

use crate::{error::PageError, static_files};

pub use amocrm::parse_secrets_body;
pub use connect_return::ReturnTo;

/// Every page and form of the interface, with the access each requires.
#[must_use]
pub fn page_routes() -> Vec<table::PageRoute> {
    [
        landing::routes(),
        auth::routes(),
        passwords::routes(),
        invites::routes(),
        dashboard::routes(),
        connections::routes(),
        api_keys::routes(),
        webhooks::routes(),
        relay_settings::routes(),
        team::routes(),
        workspaces::routes(),
        audit::routes(),
        account::routes(),
        outbox::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for route in page_routes() {
        route.mount(cfg);
    }
    cfg.configure(crate::api::configure)
        .configure(connect::routes)
        .configure(amocrm::routes)
        .configure(health::routes)
        .route("/language/{lang}", web::get().to(language::switch))
        .route("/static/{name}", web::get().to(static_files::serve));
}

/// Renders a page with a status.
///
/// # Errors
/// When the template fails to render.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// A `303 See Other` to `location`: the answer to a successful form post.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}
