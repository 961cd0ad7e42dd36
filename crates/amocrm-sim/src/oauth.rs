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
use crate::site::Site;
use crate::tokens;
use crate::witness::CallId;

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

/// `POST /oauth2/access_token`. Every call of a known integration is reported to the witness on
/// arrival (before any fault fires) and its outcome when answered.
pub async fn access_token(site: Site, body: Bytes) -> HttpResponse {
    let call = register_call(&site, &body);
    let (response, issued, answered) = match handle(&site, &body, call.as_ref()).await {
        Ok(answer) => (answer.response, true, answer.answered),
        Err(response) => (response, false, true),
    };
    if let Some(call) = call {
        let status = answered.then(|| response.status().as_u16());
        site.sim
            .with_state(|s| s.witness.token_call_finished(&call, status, issued));
    }
    response
}

/// Reports the arrival of a token call to the witness, attributed by the body's `client_id`
/// (read leniently: a malformed body still counts if it names a known integration). A call to a
/// host that is no account (a renamed subdomain's old name) never reaches the account's
/// integration, so it is not counted against it.
fn register_call(site: &Site, body: &[u8]) -> Option<CallId> {
    site.account_id().ok()?;
    let request = TokenRequest::parse(&content_type(site), body).ok()?;
    let client_id = request.client_id.as_deref()?;
    let grant_type = request.grant_type.as_deref().unwrap_or_default();
    let fingerprint = request.refresh_token.as_deref().map(tokens::fingerprint);
    site.sim.with_state(|s| {
        s.integrations.contains_key(client_id).then(|| {
            let now = s.clock.now();
            s.witness
                .token_call(client_id, now, grant_type, fingerprint)
        })
    })
}

fn content_type(site: &Site) -> String {
    site.req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Tokens were issued; `answered` is false when the client gets a broken connection instead.
struct Issued {
    response: HttpResponse,
    answered: bool,
}

async fn handle(site: &Site, body: &[u8], call: Option<&CallId>) -> Result<Issued, HttpResponse> {
    let proceed = site.enter(Route::Token).await?;
    let account_id = site.account_id()?;
    let request = TokenRequest::parse(&content_type(site), body)?;
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
                s.refresh(client_id, account_id, refresh_token, call)
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
    Ok(match proceed {
        Proceed::ThenDrop(after) => Issued {
            response: faults::broken_connection(after).await,
            answered: false,
        },
        Proceed::ThenStatus(status) => Issued {
            response: problem::http(status, "Simulated fault after rotation"),
            answered: true,
        },
        Proceed::Normally => Issued {
            response: HttpResponse::Ok().json(issued.to_json()),
            answered: true,
        },
    })
}
