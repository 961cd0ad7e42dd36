//! The route table. Each module registers its own routes; this is the only place they meet.

mod amocrm;
mod api_keys;
mod auth;
mod connect;
mod connections;
mod dashboard;
mod health;
mod landing;
mod webhooks;

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;

use crate::{error::PageError, static_files};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(landing::routes)
        .configure(auth::routes)
        .configure(dashboard::routes)
        .configure(connections::routes)
        .configure(api_keys::routes)
        .configure(webhooks::routes)
        .configure(crate::api::configure)
        .configure(connect::routes)
        .configure(amocrm::routes)
        .configure(health::routes)
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
