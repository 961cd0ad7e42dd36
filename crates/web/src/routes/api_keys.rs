//! `/settings/api-keys`: create, list and revoke the workspace's API keys.

use crate::i18n::Translate as _;
use actix_session::Session;
use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use domain::{
    api_keys::{ApiKey, ApiKeyInput, ApiScope, CreatedApiKey, MAX_NAME_CHARS},
    ids::ApiKeyId,
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
    flash::{self, Notice},
    pages::{Chrome, messages},
    session::{ManageApiKeys, Require, SignedIn},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    let manage = Access::Member(Permission::ManageApiKeys);
    vec![
        PageRoute::get("/settings/api-keys", manage, |r| r.to(page)),
        PageRoute::post("/settings/api-keys", manage, |r| r.to(create)),
        PageRoute::post("/settings/api-keys/{id}/revoke", manage, |r| r.to(revoke)),
    ]
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
            at.map_or_else(|| "—".to_owned(), crate::i18n::datetime)
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
    created: Option<NewKeyView>,
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
        created,
        errors,
        name,
        max_name: MAX_NAME_CHARS,
    })
}

/// `GET /settings/api-keys`; right after creating a key, shows it this once.
async fn page(
    state: web::Data<AppState>,
    who: Require<ManageApiKeys>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let created = flash::take_secret(&session, &state.keyring, who.member.workspace_id).map(
        |(name, secret)| NewKeyView {
            name,
            secret: secret.expose_secret().to_owned(),
        },
    );
    render(
        StatusCode::OK,
        &keys_page(&state, &who, created, Vec::new(), String::new()).await?,
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

/// `POST /settings/api-keys`: creates a key and redirects to the list, which shows it this once
/// (it crosses the redirect sealed in the session, never in a URL or log), so reloading the
/// page creates nothing.
async fn create(
    CsrfForm(form): CsrfForm<KeyFields>,
    state: web::Data<AppState>,
    who: Require<ManageApiKeys>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    match ApiKeyInput::parse(&form.name, &form.scopes()) {
        Ok(input) => {
            let created: CreatedApiKey = state
                .api
                .keys
                .create(who.member.workspace_id, input, &who.principal())
                .await?;
            flash::secret(
                &session,
                &state.keyring,
                who.member.workspace_id,
                &created.key.name,
                created.secret.expose(),
            )?;
            flash::notice(&session, Notice::ApiKeyCreated)?;
            Ok(see_other("/settings/api-keys"))
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
    who: Require<ManageApiKeys>,
    id: web::Path<String>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let id: ApiKeyId = id.parse().map_err(|_| AppError::NotFound)?;
    state
        .api
        .keys
        .revoke(who.member.workspace_id, id, &who.principal())
        .await?;
    flash::notice(&session, Notice::ApiKeyRevoked)?;
    Ok(see_other("/settings/api-keys"))
}
