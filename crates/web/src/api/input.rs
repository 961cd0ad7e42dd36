//! Reading API input after authentication, so an unauthenticated request is always answered 401
//! (actix extractors run concurrently; a body or query error could otherwise win the race).
//! Every failure here is a 400 (or 413) problem, never a 500.

use std::collections::HashMap;

use actix_web::{HttpRequest, http::header, web};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, AppError};

/// The largest JSON body the API reads (R50: bounded request sizes).
pub const BODY_LIMIT: usize = 16 * 1024;

fn bad(detail: impl Into<String>) -> ApiError {
    AppError::BadRequest(detail.into()).into()
}

/// Reads and parses a JSON body of at most [`BODY_LIMIT`] bytes.
///
/// # Errors
/// 400 for a wrong content type or invalid JSON, 413 for an oversized body.
pub async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type != "application/json" && !content_type.ends_with("+json") {
        return Err(bad("send the body as application/json"));
    }
    let bytes = match payload.to_bytes_limited(BODY_LIMIT).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(bad("the request body could not be read")),
        Err(_) => return Err(AppError::PayloadTooLarge.into()),
    };
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("the JSON body is invalid: {e}")))
}

/// The query string as a map; a parameter given twice is refused rather than guessed.
///
/// # Errors
/// 400 for a repeated parameter.
pub fn query_map(req: &HttpRequest) -> Result<HashMap<String, String>, ApiError> {
    let mut map = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if map.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(bad(format!("the query parameter `{name}` is repeated")));
        }
    }
    Ok(map)
}
