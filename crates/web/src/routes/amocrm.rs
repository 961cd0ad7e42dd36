//! What amoCRM calls: the secrets webhook, the redirect back, and the disconnect hook.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use domain::connect::{Callback, SecretsDelivery, SecretsReceipt};
use secrecy::SecretString;
use serde::Deserialize;

use super::{connect::binding_from, render, see_other};
use crate::{
    error::{ApiError, AppError, PageError},
    pages::ConnectDeclinedPage,
    state::AppState,
};

/// amoCRM's secrets delivery is tiny; anything larger is not amoCRM.
const SECRETS_BODY_LIMIT: usize = 8 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/amocrm/secrets")
            .app_data(web::PayloadConfig::new(SECRETS_BODY_LIMIT))
            .route(web::post().to(secrets)),
    )
    .route("/amocrm/callback", web::get().to(callback))
    .route("/amocrm/disconnect", web::get().to(disconnect));
}

#[derive(Deserialize)]
struct SecretsBody {
    client_id: String,
    client_secret: String,
    state: String,
}

/// Reads the body as JSON or as a form, whichever the content type says (both are seen).
fn parse_secrets(req: &HttpRequest, body: &[u8]) -> Result<SecretsBody, AppError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|_| ())
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|_| ())
    } else {
        serde_json::from_slice(body)
            .or_else(|_| serde_urlencoded::from_bytes(body))
            .map_err(|_| ())
    };
    parsed.map_err(|()| {
        AppError::BadRequest("expected client_id, client_secret and state as JSON or a form".into())
    })
}

/// `POST /amocrm/secrets`: stores the new integration's credentials for a live state.
async fn secrets(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_secrets(&req, &body)?;
    let receipt = state
        .connect
        .receive_secrets(SecretsDelivery {
            client_id: body.client_id,
            client_secret: SecretString::from(body.client_secret),
            state: body.state,
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "duplicate": receipt == SecretsReceipt::Duplicate,
    })))
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    referer: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    error: Option<String>,
}

/// `GET /amocrm/callback`: validates, exchanges the code once, then 303s to a clean URL.
async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let binding = binding_from(&req, state.settings.is_production());
    let outcome = state
        .connect
        .complete(
            Callback {
                code: query.code.map(SecretString::from),
                referer: query.referer,
                state: query.state,
                client_id: query.client_id,
                error: query.error,
            },
            binding.as_deref(),
        )
        .await?;
    match outcome {
        Some(connected) => Ok(see_other(&format!("/connect/done/{}", connected.flow))),
        None => render(StatusCode::OK, &ConnectDeclinedPage),
    }
}

#[derive(Deserialize)]
struct DisconnectQuery {
    #[serde(default)]
    client_uuid: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    signature: String,
}

/// `GET /amocrm/disconnect`: amoCRM says the integration was disabled; verified by HMAC.
async fn disconnect(
    state: web::Data<AppState>,
    query: web::Query<DisconnectQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .connections
        .disconnected_by_amocrm(&query.client_uuid, &query.account_id, &query.signature)
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })))
}
