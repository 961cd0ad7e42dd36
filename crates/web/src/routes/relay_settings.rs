//! `/settings/events`: which amoCRM events the workspace relays.

use crate::i18n::Translate as _;
use std::collections::BTreeMap;

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use domain::{
    relay::{AmoEvent, RelaySelection},
    teams::Permission,
};

use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use crate::{
    csrf::CsrfForm,
    error::{AppError, PageError},
    pages::Chrome,
    session::{ManageWebhooks, Require, SignedIn},
    state::AppState,
};

/// Choosing what is relayed is part of managing the workspace's webhooks.
pub fn routes() -> Vec<PageRoute> {
    let manage = Access::Member(Permission::ManageWebhooks);
    vec![
        PageRoute::get("/settings/events", manage, |r| r.to(show)),
        PageRoute::post("/settings/events", manage, |r| r.to(save)),
    ]
}

/// One event checkbox.
#[derive(Debug)]
pub struct EventChoice {
    pub name: &'static str,
    /// The action's code: the page prints its catalogue label `action-…`.
    pub action: &'static str,
    pub checked: bool,
}

/// The checkboxes of one entity.
#[derive(Debug)]
pub struct EventGroup {
    /// The entity's code: the page prints its catalogue heading `group-…`.
    pub key: &'static str,
    pub choices: Vec<EventChoice>,
}

#[derive(Template)]
#[template(path = "relay_settings.html")]
pub struct RelaySettingsPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub groups: Vec<EventGroup>,
    pub errors: Vec<String>,
    pub saved: bool,
}

fn groups(selection: &RelaySelection) -> Vec<EventGroup> {
    let mut groups: Vec<EventGroup> = Vec::new();
    for event in AmoEvent::all() {
        let key = event.entity.as_str();
        if groups.last().is_none_or(|group| group.key != key) {
            groups.push(EventGroup {
                key,
                choices: Vec::new(),
            });
        }
        if let Some(group) = groups.last_mut() {
            group.choices.push(EventChoice {
                name: event.as_str(),
                action: event.action.as_str(),
                checked: selection.contains(event),
            });
        }
    }
    groups
}

async fn page(
    state: &AppState,
    who: &SignedIn,
    saved: bool,
) -> Result<RelaySettingsPage, PageError> {
    let selection = state.relay.relay.selection(who.member.workspace_id).await?;
    Ok(RelaySettingsPage {
        chrome: Chrome::signed_in(who, "events"),
        csrf_token: who.csrf_token.clone(),
        groups: groups(&selection),
        errors: Vec::new(),
        saved,
    })
}

#[derive(Deserialize)]
struct ShowQuery {
    saved: Option<String>,
}

/// `GET /settings/events` (`?saved=1` right after saving)
async fn show(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, PageError> {
    let saved = query.saved.is_some();
    render(StatusCode::OK, &page(&state, &who, saved).await?)
}

/// The form: one checkbox per event type, named after it.
type Boxes = BTreeMap<String, String>;

/// `POST /settings/events`
async fn save(
    state: web::Data<AppState>,
    who: Require<ManageWebhooks>,
    CsrfForm(boxes): CsrfForm<Boxes>,
) -> Result<HttpResponse, PageError> {
    let chosen = boxes
        .keys()
        .filter(|name| name.starts_with("amocrm."))
        .map(String::as_str);
    match state
        .relay
        .relay
        .choose(who.member.workspace_id, chosen)
        .await
    {
        Ok(_) => Ok(see_other("/settings/events?saved=1")),
        Err(domain::Error::Invalid(invalid)) => {
            let mut page = page(&state, &who, false).await?;
            page.errors = vec![crate::pages::validation_message(&invalid)];
            render(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(AppError::from(e).into()),
    }
}
