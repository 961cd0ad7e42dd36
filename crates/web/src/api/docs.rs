//! `GET /api/docs`: the API reference for people, rendered from the same route table and
//! schemas as `/api/v1/openapi.json`.

use crate::i18n::Translate as _;
use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;

use super::{
    examples::{self, EventExample},
    openapi::BASE,
    routes,
    schema::Components,
};
use crate::{error::PageError, pages::Chrome, routes::render, session::SignedIn, state::AppState};

#[derive(Debug)]
pub struct DocParam {
    pub name: &'static str,
    pub location: &'static str,
    pub required: bool,
    pub description: &'static str,
    pub schema: String,
}

#[derive(Debug)]
pub struct DocResponse {
    pub status: u16,
    pub description: &'static str,
    pub content_type: &'static str,
    pub schema: String,
}

#[derive(Debug)]
pub struct DocRoute {
    pub anchor: String,
    pub method: &'static str,
    pub path: String,
    pub summary: &'static str,
    pub description: &'static str,
    /// Empty for public routes.
    pub scope: &'static str,
    pub params: Vec<DocParam>,
    pub body: String,
    pub responses: Vec<DocResponse>,
    /// A curl command that calls the route.
    pub curl: String,
    /// The success status and an example of its body (empty when it has none).
    pub example_status: u16,
    pub example_response: String,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
pub struct DocsPage {
    pub chrome: Chrome,
    pub base: &'static str,
    pub routes: Vec<DocRoute>,
    pub schemas: Vec<(String, String)>,
    /// Every webhook event type with an example payload.
    pub events: Vec<EventExample>,
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `GET /api/docs`: public; a signed-in member sees their own navigation.
pub async fn page(
    state: web::Data<AppState>,
    who: Option<SignedIn>,
) -> Result<HttpResponse, PageError> {
    let mut components = Components::default();
    let table = routes();
    let described: Vec<_> = table
        .iter()
        .map(|route| {
            let op = (route.describe)(&mut components);
            let responses = route.responses(&op, &mut components);
            (route, op, responses)
        })
        .collect();
    let schemas = match components.into_value() {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let base_url = state.settings.public_base();
    let routes = described
        .into_iter()
        .map(|(route, op, responses)| {
            let path = format!("{BASE}{}", route.openapi_path());
            let body_example = op.body.as_ref().map(|s| examples::instance(&s.0, &schemas));
            let success = responses.iter().find(|r| (200..300).contains(&r.status));
            DocRoute {
                anchor: op.id.to_owned(),
                method: route.method.as_str(),
                curl: examples::curl(
                    base_url,
                    route.method,
                    &path,
                    &op.params,
                    route.scope.is_some(),
                    body_example.as_ref(),
                ),
                example_status: success.map_or(200, |r| r.status),
                example_response: success
                    .and_then(|r| r.body.as_ref())
                    .map(|s| pretty(&examples::instance(&s.0, &schemas)))
                    .unwrap_or_default(),
                path,
                summary: op.summary,
                description: op.description,
                scope: route.scope.map_or("", |s| s.as_str()),
                params: op
                    .params
                    .iter()
                    .map(|p| DocParam {
                        name: p.name,
                        location: p.location.as_str(),
                        required: p.required,
                        description: p.description,
                        schema: p.schema.0.to_string(),
                    })
                    .collect(),
                body: op.body.as_ref().map(|s| pretty(&s.0)).unwrap_or_default(),
                responses: responses
                    .into_iter()
                    .map(|r| DocResponse {
                        status: r.status,
                        description: r.description,
                        content_type: r.content_type.unwrap_or(""),
                        schema: r.body.map(|s| pretty(&s.0)).unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();
    render(
        StatusCode::OK,
        &DocsPage {
            chrome: who.map_or_else(Chrome::anonymous, |who| Chrome::signed_in(&who, "docs")),
            base: BASE,
            routes,
            schemas: schemas
                .into_iter()
                .map(|(name, schema)| (name, pretty(&schema)))
                .collect(),
            events: examples::events(),
        },
    )
}
