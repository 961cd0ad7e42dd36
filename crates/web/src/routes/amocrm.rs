//! What amoCRM calls: the secrets webhook, the redirect back, the disconnect hook, and the
//! account event deliveries.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use domain::{
    connect::{Callback, SecretsDelivery, SecretsReceipt},
    relay::DeliveryMeta,
};
use secrecy::SecretString;
use serde::Deserialize;

use super::{connect::binding_from, connect_return::ReturnTo, render, see_other};
use crate::{
    error::{ApiError, AppError, PageError},
    pages::{Back, ConnectDeclinedPage},
    state::AppState,
};

/// amoCRM's secrets delivery is tiny; anything larger is not amoCRM.
const SECRETS_BODY_LIMIT: usize = 8 * 1024;
/// An event delivery is a few KiB per item; a bulk change can batch many items in one POST.
pub const EVENTS_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/amocrm/secrets")
            .app_data(web::PayloadConfig::new(SECRETS_BODY_LIMIT))
            .route(web::post().to(secrets)),
    )
    .route("/amocrm/callback", web::get().to(callback))
    .route("/amocrm/disconnect", web::get().to(disconnect))
    .route("/amocrm/events/{token}", web::post().to(events));
}

/// A request header as short printable text, if present.
fn header_text(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `POST /amocrm/events/{token}`: one of amoCRM's event deliveries for one connection.
///
/// Stored raw before the answer, processed after it. An unknown token and a body naming another
/// account both answer 404 (storing nothing): amoCRM counts a 4xx as a failed delivery, which is
/// right for a hook that is no longer ours — amoCRM will switch it off — and a forger learns
/// nothing from the answer. 503 means only "could not store", so amoCRM retries.
async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = match payload.to_bytes_limited(EVENTS_BODY_LIMIT).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(AppError::BadRequest("the request body could not be read".into()).into());
        }
        Err(_) => return Err(AppError::PayloadTooLarge.into()),
    };
    let relay = &state.relay;
    let owner = relay.relay.authenticate(&token, &body).await?;
    relay
        .limiter
        .check(owner.connection)
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    let meta = DeliveryMeta {
        request_id: header_text(&req, "x-amocrm-requestid"),
        user_agent: header_text(&req, "user-agent"),
    };
    relay.relay.accept(owner, &body, &meta).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })))
}

#[derive(Deserialize)]
struct SecretsBody {
    client_id: String,
    client_secret: String,
    state: String,
}

/// Reads amoCRM's secrets delivery as JSON or as a form, whichever `content_type` says (both
/// are seen); without a recognised type, JSON then form. Public for the property tests and the
/// fuzz target; only the shape is read here, the domain checks the values.
///
/// # Errors
/// [`AppError::BadRequest`] when the body is neither, or lacks a field.
pub fn parse_secrets_body(content_type: &str, body: &[u8]) -> Result<SecretsDelivery, AppError> {
    let content_type = content_type.to_ascii_lowercase();
    let parsed: Result<SecretsBody, ()> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(body).map_err(|_| ())
        } else if content_type.starts_with("application/json") {
            serde_json::from_slice(body).map_err(|_| ())
        } else {
            serde_json::from_slice(body)
                .or_else(|_| serde_urlencoded::from_bytes(body))
                .map_err(|_| ())
        };
    let body = parsed.map_err(|()| {
        AppError::BadRequest("expected client_id, client_secret and state as JSON or a form".into())
    })?;
    Ok(SecretsDelivery {
        client_id: body.client_id,
        client_secret: SecretString::from(body.client_secret),
        state: body.state,
    })
}

/// `POST /amocrm/secrets`: stores the new integration's credentials for a live state.
async fn secrets(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let delivery = parse_secrets_body(content_type, &body)?;
    let receipt = state.connect.receive_secrets(delivery).await?;
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
        None => render(
            StatusCode::OK,
            &ConnectDeclinedPage {
                back: Back::new(&ReturnTo::from_request(
                    &req,
                    state.settings.is_production(),
                )),
            },
        ),
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

#[cfg(test)]
mod props;
