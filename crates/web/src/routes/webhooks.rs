//! `/settings/webhooks`: the workspace's outgoing webhook endpoints and their delivery logs.
//!
//! A secret is revealed only in the answer to the POST that created or rotated it (marked
//! `no-store`); it is never put in the session, a redirect or a later page.

use actix_web::{
    HttpResponse,
    http::{StatusCode, header},
    web,
};
use askama::Template;
use chrono::{DateTime, Utc};
use domain::webhooks::{
    CreatedEndpoint, DeliveryId, DeliveryStatus, DeliveryView, DestinationPolicy, Endpoint,
    EndpointId, EventType,
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{render, see_other};
use crate::{
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::Chrome,
    session::SignedIn,
    state::AppState,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/webhooks", web::get().to(list))
        .route("/settings/webhooks", web::post().to(create))
        .route("/settings/webhooks/{id}", web::get().to(detail))
        .route("/settings/webhooks/{id}/rotate", web::post().to(rotate))
        .route("/settings/webhooks/{id}/enable", web::post().to(enable))
        .route("/settings/webhooks/{id}/disable", web::post().to(disable))
        .route("/settings/webhooks/{id}/delete", web::post().to(delete))
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery}/replay",
            web::post().to(replay),
        );
}

/// A timestamp for people, or an em dash.
fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// An endpoint for display: no secret.
#[derive(Debug)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    pub enabled: bool,
    pub disabled_reason: String,
    pub created: String,
    pub last_success: String,
    /// When the previous secret stops signing, if a rotation is in its overlap.
    pub rotation_ends: String,
}

impl From<&Endpoint> for EndpointRow {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.clone(),
            events: e.events.names().collect(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone().unwrap_or_default(),
            created: when(Some(e.created_at)),
            last_success: when(e.last_success_at),
            rotation_ends: e
                .rotation_ends_at
                .map(|t| when(Some(t)))
                .unwrap_or_default(),
        }
    }
}

/// One row of the delivery log.
#[derive(Debug)]
pub struct DeliveryRow {
    pub id: String,
    pub message_id: String,
    pub event_type: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub attempts: u32,
    pub last_response: String,
    pub last_error: String,
    pub last_attempt: String,
    pub next_attempt: String,
    pub created: String,
}

impl From<&DeliveryView> for DeliveryRow {
    fn from(d: &DeliveryView) -> Self {
        Self {
            id: d.id.to_string(),
            message_id: d.message_id.to_string(),
            event_type: d.event_type.as_str(),
            status: d.status.as_str(),
            status_label: d.status.label(),
            status_class: match d.status {
                DeliveryStatus::Delivered => "ok",
                DeliveryStatus::Pending => "warn",
                DeliveryStatus::Failed => "bad",
            },
            attempts: d.attempts,
            last_response: d
                .last_response_status
                .map_or_else(|| "—".to_owned(), |s| s.to_string()),
            last_error: d.last_error.clone().unwrap_or_default(),
            last_attempt: when(d.last_attempt_at),
            next_attempt: when(d.next_attempt_at),
            created: when(Some(d.created_at)),
        }
    }
}

/// An event type checkbox.
#[derive(Debug)]
pub struct EventChoice {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

/// A secret shown once, right after it was made. Deliberately not `Debug`, so it cannot end up
/// in a log line by accident.
pub struct Revealed {
    pub endpoint_id: String,
    pub secret: String,
    pub rotated: bool,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
pub struct WebhooksPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub endpoints: Vec<EndpointRow>,
    pub choices: Vec<EventChoice>,
    pub url: String,
    pub errors: Vec<String>,
    pub revealed: Option<Revealed>,
    /// Whether `http` and loopback URLs are accepted (development).
    pub local_allowed: bool,
}

#[derive(Template)]
#[template(path = "webhooks_endpoint.html")]
pub struct EndpointPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub e: EndpointRow,
    pub deliveries: Vec<DeliveryRow>,
    pub revealed: Option<Revealed>,
}

/// The add form's fields: the URL and one checkbox per event type.
#[derive(Deserialize)]
struct EndpointFields {
    #[serde(default)]
    url: String,
    #[serde(rename = "connection.created")]
    created: Option<String>,
    #[serde(rename = "connection.reconnected")]
    reconnected: Option<String>,
    #[serde(rename = "connection.needs_reauth")]
    needs_reauth: Option<String>,
    #[serde(rename = "connection.disconnected")]
    disconnected: Option<String>,
    #[serde(rename = "connection.revoked")]
    revoked: Option<String>,
}

impl EndpointFields {
    fn chosen(&self) -> Vec<&'static str> {
        [
            (EventType::Created, &self.created),
            (EventType::Reconnected, &self.reconnected),
            (EventType::NeedsReauth, &self.needs_reauth),
            (EventType::Disconnected, &self.disconnected),
            (EventType::Revoked, &self.revoked),
        ]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(t, _)| t.as_str())
        .collect()
    }
}

/// An id from the path; anything that is not a UUID is simply not found.
fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, PageError> {
    raw.parse().map_err(|_| PageError(AppError::NotFound))
}

/// A page that shows a secret must not be kept by any cache.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

async fn list_page(
    state: &AppState,
    who: &SignedIn,
    url: String,
    chosen: &[&str],
    errors: Vec<String>,
    revealed: Option<Revealed>,
) -> Result<WebhooksPage, PageError> {
    let endpoints = state.webhooks.list(who.member.workspace_id).await?;
    Ok(WebhooksPage {
        chrome: Chrome::signed_in(who, "webhooks"),
        csrf_token: who.csrf_token.clone(),
        endpoints: endpoints.iter().map(EndpointRow::from).collect(),
        choices: EventType::ALL
            .into_iter()
            .map(|t| EventChoice {
                name: t.as_str(),
                description: t.description(),
                checked: chosen.is_empty() || chosen.contains(&t.as_str()),
            })
            .collect(),
        url,
        errors,
        revealed,
        local_allowed: state.webhooks.settings().policy == DestinationPolicy::AllowLoopback,
    })
}

/// `GET /settings/webhooks`
async fn list(state: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let page = list_page(&state, &who, String::new(), &[], Vec::new(), None).await?;
    render(StatusCode::OK, &page)
}

/// `POST /settings/webhooks`: adds an endpoint and shows its secret once.
async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    CsrfForm(form): CsrfForm<EndpointFields>,
) -> Result<HttpResponse, PageError> {
    let chosen = form.chosen();
    match state
        .webhooks
        .create(who.member.workspace_id, &form.url, &chosen)
        .await
    {
        Ok(CreatedEndpoint { endpoint, secret }) => {
            let revealed = Revealed {
                endpoint_id: endpoint.id.to_string(),
                secret: secret.expose_secret().to_owned(),
                rotated: false,
            };
            let page =
                list_page(&state, &who, String::new(), &[], Vec::new(), Some(revealed)).await?;
            Ok(no_store(render(StatusCode::OK, &page)?))
        }
        // A refused URL or choice is answered on the form, with what was typed kept.
        Err(e @ (domain::Error::Invalid(_) | domain::Error::Conflict(_))) => {
            // The field is obvious on this form; show the rule's message alone.
            let message = match &e {
                domain::Error::Invalid(invalid) => Some(invalid.message.clone()),
                _ => None,
            };
            let problem = AppError::from(e).problem();
            let page = list_page(
                &state,
                &who,
                form.url.chars().take(2000).collect(),
                &chosen,
                vec![message.unwrap_or(problem.detail)],
                None,
            )
            .await?;
            render(problem.status, &page)
        }
        Err(e) => Err(e.into()),
    }
}

async fn endpoint_page(
    state: &AppState,
    who: &SignedIn,
    id: EndpointId,
    revealed: Option<Revealed>,
) -> Result<EndpointPage, PageError> {
    let (endpoint, deliveries) = state.webhooks.detail(who.member.workspace_id, id).await?;
    Ok(EndpointPage {
        chrome: Chrome::signed_in(who, "webhooks"),
        csrf_token: who.csrf_token.clone(),
        e: EndpointRow::from(&endpoint),
        deliveries: deliveries.iter().map(DeliveryRow::from).collect(),
        revealed,
    })
}

/// `GET /settings/webhooks/{id}`: the endpoint and its delivery log.
async fn detail(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    render(
        StatusCode::OK,
        &endpoint_page(&state, &who, id, None).await?,
    )
}

/// `POST /settings/webhooks/{id}/rotate`: a new secret, shown once; the old one keeps signing
/// during the overlap.
async fn rotate(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let rotated = state.webhooks.rotate(who.member.workspace_id, id).await?;
    let revealed = Revealed {
        endpoint_id: id.to_string(),
        secret: rotated.secret.expose_secret().to_owned(),
        rotated: true,
    };
    let page = endpoint_page(&state, &who, id, Some(revealed)).await?;
    Ok(no_store(render(StatusCode::OK, &page)?))
}

async fn set_enabled(
    state: &AppState,
    who: &SignedIn,
    raw_id: &str,
    enabled: bool,
) -> Result<HttpResponse, PageError> {
    let id: EndpointId = parse_id(raw_id)?;
    state
        .webhooks
        .set_enabled(who.member.workspace_id, id, enabled)
        .await?;
    Ok(see_other(&format!("/settings/webhooks/{id}")))
}

/// `POST /settings/webhooks/{id}/enable`
async fn enable(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&state, &who, &id, true).await
}

/// `POST /settings/webhooks/{id}/disable`
async fn disable(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&state, &who, &id, false).await
}

/// `POST /settings/webhooks/{id}/delete`
async fn delete(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    state.webhooks.delete(who.member.workspace_id, id).await?;
    Ok(see_other("/settings/webhooks"))
}

/// `POST /settings/webhooks/{id}/deliveries/{delivery}/replay`: queues the message again.
async fn replay(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let (id, delivery) = path.into_inner();
    let id: EndpointId = parse_id(&id)?;
    let delivery: DeliveryId = parse_id(&delivery)?;
    state
        .webhooks
        .replay(who.member.workspace_id, id, delivery)
        .await?;
    Ok(see_other(&format!("/settings/webhooks/{id}")))
}
