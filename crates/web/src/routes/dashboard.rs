use actix_web::{HttpResponse, http::StatusCode, web};

use super::render;
use crate::{
    error::PageError,
    pages::{Chrome, ConnectionsPage, DashboardPage},
    session::SignedIn,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(dashboard))
        .route("/connections", web::get().to(connections));
}

/// `GET /dashboard`
async fn dashboard(who: SignedIn) -> Result<HttpResponse, PageError> {
    render(StatusCode::OK, &DashboardPage {
        workspace: who.member.workspace_name.clone(),
        chrome: Chrome::signed_in(&who, "dashboard"),
    })
}

/// `GET /connections`
async fn connections(who: SignedIn) -> Result<HttpResponse, PageError> {
    render(StatusCode::OK, &ConnectionsPage {
        chrome: Chrome::signed_in(&who, "connections"),
    })
}
