//! `GET /api/docs`: the API reference for people, rendered from the same route table and
//! schemas as `/api/v1/openapi.json`.

use actix_web::{HttpResponse, http::StatusCode};
use askama::Template;

use super::{
    openapi::{BASE, In},
    routes,
    schema::Components,
};
use crate::{error::PageError, pages::Chrome, routes::render};

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
}

#[derive(Template)]
#[template(path = "api_docs.html")]
pub struct DocsPage {
    pub chrome: Chrome,
    pub base: &'static str,
    pub routes: Vec<DocRoute>,
    pub schemas: Vec<(String, String)>,
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `GET /api/docs`
pub async fn page() -> Result<HttpResponse, PageError> {
    let mut components = Components::default();
    let routes = routes()
        .iter()
        .map(|route| {
            let op = (route.describe)(&mut components);
            let responses = route
                .responses(&op, &mut components)
                .into_iter()
                .map(|r| DocResponse {
                    status: r.status,
                    description: r.description,
                    content_type: r.content_type.unwrap_or(""),
                    schema: r.body.map(|s| pretty(&s.0)).unwrap_or_default(),
                })
                .collect();
            DocRoute {
                anchor: op.id.to_owned(),
                method: route.method.as_str(),
                path: format!("{BASE}{}", route.openapi_path()),
                summary: op.summary,
                description: op.description,
                scope: route.scope.map_or("", |s| s.as_str()),
                params: op
                    .params
                    .iter()
                    .map(|p| DocParam {
                        name: p.name,
                        location: match p.location {
                            In::Path => "path",
                            In::Query => "query",
                        },
                        required: p.required,
                        description: p.description,
                        schema: p.schema.0.to_string(),
                    })
                    .collect(),
                body: op.body.as_ref().map(|s| pretty(&s.0)).unwrap_or_default(),
                responses,
            }
        })
        .collect();
    let schemas = match components.into_value() {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(name, schema)| (name, pretty(&schema)))
            .collect(),
        _ => Vec::new(),
    };
    render(
        StatusCode::OK,
        &DocsPage {
            chrome: Chrome::anonymous(),
            base: BASE,
            routes,
            schemas,
        },
    )
}
