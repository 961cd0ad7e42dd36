//! The workspace's connected accounts.

use actix_web::{HttpResponse, http::StatusCode, web};
use amocrm::Platform;
use domain::{
    connections::{Actor, ConnectionFilter, ConnectionStatus},
    ids::ConnectionId,
};
use serde::Deserialize;

use super::{render, see_other};
use crate::{
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::{Chrome, ConnectionPage, ConnectionRow, ConnectionsPage, EventRow},
    session::SignedIn,
    state::AppState,
};

const PAGE_SIZE: u64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections", web::get().to(list))
        .route("/connections/{id}", web::get().to(detail))
        .route("/connections/{id}/revoke", web::post().to(revoke));
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    platform: String,
    cursor: Option<String>,
}

/// An id from the path; anything that is not a UUID is simply not found.
fn connection_id(raw: &str) -> Result<ConnectionId, PageError> {
    raw.parse().map_err(|_| PageError(AppError::NotFound))
}

/// `GET /connections`
async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let filter = ConnectionFilter {
        status: query.status.parse::<ConnectionStatus>().ok(),
        platform: query.platform.parse::<Platform>().ok(),
        search: Some(query.q.chars().take(100).collect()),
        end_user_id: None,
    };
    let page = state
        .connections
        .list(
            who.member.workspace_id,
            &filter,
            query.cursor.as_deref(),
            PAGE_SIZE,
        )
        .await?;
    let filters = serde_urlencoded::to_string([
        ("q", query.q.as_str()),
        ("status", filter.status.map_or("", ConnectionStatus::as_str)),
        (
            "platform",
            if filter.platform.is_some() {
                query.platform.as_str()
            } else {
                ""
            },
        ),
    ])
    .unwrap_or_default();
    render(
        StatusCode::OK,
        &ConnectionsPage {
            chrome: Chrome::signed_in(&who, "connections"),
            rows: page.items.iter().map(ConnectionRow::from).collect(),
            statuses: ConnectionStatus::ALL
                .iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
            filtered: filter.status.is_some()
                || filter.platform.is_some()
                || !query.q.trim().is_empty(),
            q: query.q,
            status: filter
                .status
                .map_or("", ConnectionStatus::as_str)
                .to_owned(),
            platform: filter.platform.map(|p| p.to_string()).unwrap_or_default(),
            first_page: if query.cursor.is_some() {
                format!("/connections?{filters}")
            } else {
                String::new()
            },
            next_page: page
                .next
                .map(|cursor| format!("/connections?{filters}&cursor={}", cursor.encode()))
                .unwrap_or_default(),
        },
    )
}

/// `GET /connections/{id}`
async fn detail(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = connection_id(&id)?;
    let (summary, events) = state
        .connections
        .detail(who.member.workspace_id, id)
        .await?;
    render(
        StatusCode::OK,
        &ConnectionPage {
            chrome: Chrome::signed_in(&who, "connections"),
            revoked: summary.status == ConnectionStatus::Revoked,
            c: ConnectionRow::from(&summary),
            events: events.iter().map(EventRow::from).collect(),
            csrf_token: who.csrf_token.clone(),
        },
    )
}

/// `POST /connections/{id}/revoke`
async fn revoke(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = connection_id(&id)?;
    state
        .connections
        .revoke(
            who.member.workspace_id,
            id,
            Actor::User(who.member.email.to_string()),
        )
        .await?;
    Ok(see_other(&format!("/connections/{id}")))
}
