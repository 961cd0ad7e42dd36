//! Reading API input after authentication, so an unauthenticated request is always answered 401
//! (actix extractors run concurrently; a body or query error could otherwise win the race).
//! Every failure here is a 400 (or 413) problem, never a 500.

use std::{collections::HashMap, str::FromStr};

use actix_web::{HttpRequest, http::header, web};
use chrono::{DateTime, Utc};
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

/// A listing's query string, read once; each parameter is taken out as it is parsed, so what
/// remains is what the route does not know.
#[derive(Debug)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// A parameter given twice is refused rather than guessed.
    ///
    /// # Errors
    /// 400 for a repeated parameter.
    pub fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(bad(format!("the query parameter `{name}` is repeated")));
            }
        }
        Ok(Self(map))
    }

    /// The raw value of `name`.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// `name` parsed as `T`; `expected` says what a valid value is.
    ///
    /// # Errors
    /// 400 `{name}: {expected}` when the value does not parse.
    pub fn parsed<T: FromStr>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        self.take(name)
            .map(|raw| raw.parse::<T>())
            .transpose()
            .map_err(|_| bad(format!("{name}: {expected}")))
    }

    /// `name` as an RFC 3339 date-time.
    ///
    /// # Errors
    /// 400 when it is not one.
    pub fn instant(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.take(name)
            .map(|raw| DateTime::parse_from_rfc3339(&raw).map(|at| at.with_timezone(&Utc)))
            .transpose()
            .map_err(|_| bad(format!("{name}: must be an RFC 3339 date-time")))
    }

    /// The page size: `default` when absent, else an integer from 1 to `max`.
    ///
    /// # Errors
    /// 400 outside that range.
    pub fn limit(&mut self, default: u64, max: u64) -> Result<u64, ApiError> {
        let Some(raw) = self.take("limit") else {
            return Ok(default);
        };
        raw.parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad(format!("limit: must be an integer from 1 to {max}")))
    }

    /// The first parameter not in `known`, if any.
    #[must_use]
    pub fn unknown(&self, known: &[&str]) -> Option<&str> {
        self.0
            .keys()
            .map(String::as_str)
            .find(|name| !known.contains(name))
    }
}
