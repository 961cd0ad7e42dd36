//! `POST /oauth2/access_token` on account hosts: the code exchange and the refresh.
//!
//! Bodies are accepted as JSON (what the docs show) and as form data (what the official PHP
//! library sends). Errors follow amoCRM's table: problem+json, Russian titles, league hints.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use serde::Deserialize;

use crate::faults::{self, Proceed, Route};
use crate::grants::TokenError;
use crate::journal::note_client;
use crate::problem;
use crate::site::{Site, respond};

/// The fields of both grants; which are required depends on `grant_type`.
#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
}

impl TokenRequest {
    fn parse(content_type: &str, body: &[u8]) -> Result<Self, HttpResponse> {
        let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(body).ok()
        } else if content_type.starts_with("application/json") {
            serde_json::from_slice(body).ok()
        } else {
            serde_json::from_slice(body)
                .ok()
                .or_else(|| serde_urlencoded::from_bytes(body).ok())
        };
        parsed.ok_or_else(|| {
            problem::invalid_request(StatusCode::BAD_REQUEST, "The request body is malformed")
        })
    }
}

/// league/oauth2-server's wording for a missing parameter.
fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, HttpResponse> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        problem::invalid_request(
            StatusCode::BAD_REQUEST,
            &format!("Check the `{name}` parameter"),
        )
    })
}

fn token_error(error: TokenError) -> HttpResponse {
    match error {
        TokenError::InvalidClient => problem::invalid_client(),
        TokenError::CodeUnknown
        | TokenError::CodeExpired
        | TokenError::CodeRevoked
        | TokenError::CodeForeign => {
            problem::invalid_request(StatusCode::BAD_REQUEST, error.hint())
        }
        TokenError::RefreshUnknown
        | TokenError::RefreshExpired
        | TokenError::RefreshRevoked
        | TokenError::RefreshForeign => {
            problem::invalid_request(StatusCode::UNAUTHORIZED, error.hint())
        }
    }
}

/// `POST /oauth2/access_token`
pub async fn access_token(site: Site, body: Bytes) -> HttpResponse {
    respond(handle(site, body).await)
}

async fn handle(site: Site, body: Bytes) -> Result<HttpResponse, HttpResponse> {
    let proceed = site.enter(Route::Token).await?;
    let account_id = site.account_id()?;
    let content_type = site
        .req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let request = TokenRequest::parse(&content_type, &body)?;
    let grant_type = required(&request.grant_type, "grant_type")?;
    let client_id = required(&request.client_id, "client_id")?;
    let client_secret = required(&request.client_secret, "client_secret")?;
    let redirect_uri = required(&request.redirect_uri, "redirect_uri")?;
    note_client(&site.req, client_id, Some(account_id));
    // A blocked integration is refused everywhere; the token endpoint itself is not rate limited.
    if site.sim.with_state(|s| s.limiter.is_blocked(client_id)) {
        return Err(problem::blocked());
    }
    let result = match grant_type {
        "authorization_code" => {
            let code = required(&request.code, "code")?;
            site.sim.with_state(|s| {
                s.authenticate_client(client_id, client_secret, redirect_uri)?;
                s.exchange_code(client_id, account_id, code)
            })
        }
        "refresh_token" => {
            let refresh_token = required(&request.refresh_token, "refresh_token")?;
            site.sim.with_state(|s| {
                s.authenticate_client(client_id, client_secret, redirect_uri)?;
                s.refresh(client_id, account_id, refresh_token)
            })
        }
        _ => {
            return Err(problem::invalid_request(
                StatusCode::BAD_REQUEST,
                "The authorization grant type is not supported by the authorization server.",
            ));
        }
    };
    let issued = result.map_err(token_error)?;
    match proceed {
        Proceed::ThenDrop(after) => Ok(faults::broken_connection(after).await),
        Proceed::Normally => Ok(HttpResponse::Ok().json(issued)),
    }
}
