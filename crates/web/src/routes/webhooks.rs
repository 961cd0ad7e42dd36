//! `/settings/webhooks`: the workspace's outgoing webhook endpoints and their delivery logs.
//!
//! A secret is revealed only in the answer to the POST that created or rotated it (marked
//! `no-store`); it is never put in the session, a redirect or a later page.

use crate::i18n::Translate as _;
use std::collections::BTreeMap;

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

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use domain::teams::Permission;

use crate::{
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::Chrome,
    session::{ManageWebhooks, Require, SignedIn},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    let manage = Access::Member(Permission::ManageWebhooks);
    vec![
        PageRoute::get("/settings/webhooks", manage, |r| r.to(list)),
        PageRoute::post("/settings/webhooks", manage, |r| r.to(create)),
        PageRoute::get("/settings/webhooks/{id}", manage, |r| r.to(detail)),
        PageRoute::post("/settings/webhooks/{id}/rotate", manage, |r| r.to(rotate)),
        PageRoute::post("/settings/webhooks/{id}/enable", manage, |r| r.to(enable)),
        PageRoute::post("/settings/webhooks/{id}/disable", manage, |r| r.to(disable)),
        PageRoute::post("/settings/webhooks/{id}/delete", manage, |r| r.to(delete)),
        PageRoute::post("/settings/webhooks/{id}/test", manage, |r| r.to(send_test)),
        PageRoute::post(
            "/settings/webhooks/{id}/deliveries/{delivery}/replay",
            manage,
            |r| r.to(replay),
        ),
    ]
}

/// A timestamp for people, or an em dash.
fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), crate::i18n::datetime)
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
    pub checked: bool,
}

/// Checkboxes under one heading.
#[derive(Debug)]
pub struct ChoiceGroup {
    /// `connections`, or the amoCRM entity: the page prints its catalogue heading `group-…`.
    pub key: &'static str,
    pub choices: Vec<EventChoice>,
}

/// Every event type as checkboxes: connection events, then amoCRM's by entity.
fn choice_groups(checked: impl Fn(EventType) -> bool) -> Vec<ChoiceGroup> {
    let mut groups = vec![ChoiceGroup {
        key: "connections",
        choices: Vec::new(),
    }];
    for event_type in EventType::all() {
        let key = match event_type {
            EventType::AmoCrm(event) => event.entity.as_str(),
            _ => "connections",
        };
        if groups.last().is_none_or(|group| group.key != key) {
            groups.push(ChoiceGroup {
                key,
                choices: Vec::new(),
            });
        }
        if let Some(group) = groups.last_mut() {
            group.choices.push(EventChoice {
                name: event_type.as_str(),
                checked: checked(event_type),
            });
        }
    }
    groups
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
    pub groups: Vec<ChoiceGroup>,
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

/// The add form's fields: the URL and one checkbox per event type (named after it).
#[derive(Deserialize)]
struct EndpointFields {
    #[serde(default)]
    url: String,
    #[serde(flatten)]
    boxes: BTreeMap<String, String>,
}

impl EndpointFields {
    fn chosen(&self) -> Vec<&'static str> {
        EventType::all()
            .map(EventType::as_str)
            .filter(|name| self.boxes.contains_key(*name))
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
        groups: choice_groups(|t| chosen.is_empty() || chosen.contains(&t.as_str())),
        url,
        errors,
        revealed,
        local_allowed: state.webhooks.settings().policy == DestinationPolicy::AllowLoopback,
    })
}

/// `GET /settings/webhooks`
async fn list(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
) -> Result<HttpResponse, PageError> {
    let page = list_page(&state, &who, String::new(), &[], Vec::new(), None).await?;
    render(StatusCode::OK, &page)
}

/// `POST /settings/webhooks`: adds an endpoint and shows its secret once.
async fn create(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    CsrfForm(form): CsrfForm<EndpointFields>,
) -> Result<HttpResponse, PageError> {
    let chosen = form.chosen();
    match state
        .webhooks
        .create(
            who.member.workspace_id,
            &form.url,
            &chosen,
            &who.principal(),
        )
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
                domain::Error::Invalid(invalid) => Some(crate::pages::validation_message(invalid)),
                _ => None,
            };
            let problem = AppError::from(e).problem();
            let page = list_page(
                &state,
                &who,
                form.url.chars().take(2000).collect(),
                &chosen,
                vec![message.unwrap_or_else(|| problem.localized_detail())],
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
    who: Require<ManageWebhooks>,
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
    who: Require<ManageWebhooks>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let rotated = state
        .webhooks
        .rotate(who.member.workspace_id, id, &who.principal())
        .await?;
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
        .set_enabled(who.member.workspace_id, id, enabled, &who.principal())
        .await?;
    Ok(see_other(&format!("/settings/webhooks/{id}")))
}

/// `POST /settings/webhooks/{id}/enable`
async fn enable(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&state, &who, &id, true).await
}

/// `POST /settings/webhooks/{id}/disable`
async fn disable(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&state, &who, &id, false).await
}

/// `POST /settings/webhooks/{id}/delete`
async fn delete(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
    session: actix_session::Session,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    state
        .webhooks
        .delete(who.member.workspace_id, id, &who.principal())
        .await?;
    crate::flash::notice(&session, crate::flash::Notice::EndpointDeleted)?;
    Ok(see_other("/settings/webhooks"))
}

/// `POST /settings/webhooks/{id}/test`: queues a signed `webhook.test` event to the endpoint;
/// its delivery shows in the endpoint's log.
async fn send_test(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    id: web::Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
    session: actix_session::Session,
) -> Result<HttpResponse, PageError> {
    let id: EndpointId = parse_id(&id)?;
    state
        .webhooks
        .send_test(who.member.workspace_id, id)
        .await?;
    crate::flash::notice(&session, crate::flash::Notice::TestEventSent)?;
    Ok(see_other(&format!("/settings/webhooks/{id}")))
}

/// `POST /settings/webhooks/{id}/deliveries/{delivery}/replay`: queues the message again.
async fn replay(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
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
