//! `/settings/api-keys`: create, list and revoke the workspace's API keys.

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use domain::{
    api_keys::{ApiKey, ApiKeyInput, ApiScope, CreatedApiKey, MAX_NAME_CHARS},
    ids::ApiKeyId,
};
use serde::Deserialize;

use super::{render, see_other};
use crate::{
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::{Chrome, messages},
    session::SignedIn,
    state::AppState,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/api-keys", web::get().to(page))
        .route("/settings/api-keys", web::post().to(create))
        .route("/settings/api-keys/{id}/revoke", web::post().to(revoke));
}

/// A key as a table row: display strings only, never the secret.
#[derive(Debug)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: String,
}

impl From<&ApiKey> for KeyRow {
    fn from(k: &ApiKey) -> Self {
        let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map_or_else(
                || "—".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
        };
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            scopes: k
                .scopes
                .iter()
                .map(ApiScope::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            prefix: format!("{}…", k.prefix),
            created: when(Some(k.created_at)),
            last_used: when(k.last_used_at),
            revoked: k.revoked_at.map(|t| when(Some(t))).unwrap_or_default(),
        }
    }
}

/// The key just created, shown once.
#[derive(Debug)]
pub struct NewKeyView {
    pub name: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub keys: Vec<KeyRow>,
    pub scopes: Vec<(&'static str, &'static str)>,
    pub created: Option<NewKeyView>,
    pub errors: Vec<String>,
    pub name: String,
    pub max_name: usize,
}

async fn keys_page(
    state: &AppState,
    who: &SignedIn,
    created: Option<CreatedApiKey>,
    errors: Vec<String>,
    name: String,
) -> Result<ApiKeysPage, PageError> {
    let keys = state.api.keys.list(who.member.workspace_id).await?;
    Ok(ApiKeysPage {
        chrome: Chrome::signed_in(who, "api-keys"),
        csrf_token: who.csrf_token.clone(),
        keys: keys.iter().map(KeyRow::from).collect(),
        scopes: ApiScope::ALL
            .iter()
            .map(|s| (s.as_str(), s.description()))
            .collect(),
        created: created.map(|c| NewKeyView {
            name: c.key.name,
            secret: c.secret.expose().to_owned(),
        }),
        errors,
        name,
        max_name: MAX_NAME_CHARS,
    })
}

/// `GET /settings/api-keys`
async fn page(state: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &keys_page(&state, &who, None, Vec::new(), String::new()).await?,
    )
}

#[derive(Deserialize)]
struct KeyFields {
    #[serde(default)]
    name: String,
    /// Present when the form's checkboxes were shown; a scripted post without any scope field
    /// (the contract names only `name`) gets every scope.
    scopes_shown: Option<String>,
    scope_read: Option<String>,
    scope_write: Option<String>,
    scope_tokens: Option<String>,
    scope_proxy: Option<String>,
}

impl KeyFields {
    fn scopes(&self) -> Vec<&'static str> {
        let chosen: Vec<&'static str> = [
            (ApiScope::Read, &self.scope_read),
            (ApiScope::Write, &self.scope_write),
            (ApiScope::Tokens, &self.scope_tokens),
            (ApiScope::Proxy, &self.scope_proxy),
        ]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(scope, _)| scope.as_str())
        .collect();
        if chosen.is_empty() && self.scopes_shown.is_none() {
            return ApiScope::ALL.iter().map(|s| s.as_str()).collect();
        }
        chosen
    }
}

/// `POST /settings/api-keys`: creates a key and shows it this once (never stored, never
/// redirected to, so it is in no URL, session or log).
async fn create(
    CsrfForm(form): CsrfForm<KeyFields>,
    state: web::Data<AppState>,
    who: SignedIn,
) -> Result<HttpResponse, PageError> {
    match ApiKeyInput::parse(&form.name, &form.scopes()) {
        Ok(input) => {
            let created = state
                .api
                .keys
                .create(who.member.workspace_id, input)
                .await?;
            render(
                StatusCode::OK,
                &keys_page(&state, &who, Some(created), Vec::new(), String::new()).await?,
            )
        }
        Err(errors) => render(
            StatusCode::BAD_REQUEST,
            &keys_page(&state, &who, None, messages(&errors), form.name).await?,
        ),
    }
}

/// `POST /settings/api-keys/{id}/revoke`; another workspace's id answers 404.
async fn revoke(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: ApiKeyId = id.parse().map_err(|_| AppError::NotFound)?;
    state.api.keys.revoke(who.member.workspace_id, id).await?;
    Ok(see_other("/settings/api-keys"))
}
