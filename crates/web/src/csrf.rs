//! CSRF protection for every state-changing form: a synchronizer token kept in the (pre-)session
//! and echoed in a hidden `csrf_token` field, plus Fetch Metadata as a second line.
//!
//! Handlers that change state take [`CsrfForm<T>`], so a form without a valid token cannot reach
//! them at all (403). A state-changing request with no session at all is refused the same way by
//! `SignedIn`, so a forged cross-site form never gets a friendlier sign-in redirect. The only unsafe routes without it are server-to-server endpoints protected by
//! their own secrets (amoCRM's webhooks, the API with its key).

use actix_session::{Session, SessionExt as _};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::future::LocalBoxFuture;
use rand::RngCore as _;
use serde::{Deserialize, de::DeserializeOwned};
use subtle::ConstantTimeEq as _;

use crate::error::{AppError, PageError};

const SESSION_KEY: &str = "csrf";

/// The session's CSRF token, created on first use.
///
/// # Errors
/// When the session cannot be written.
pub fn token(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(existing)) = session.get::<String>(SESSION_KEY) {
        return Ok(existing);
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let fresh = URL_SAFE_NO_PAD.encode(bytes);
    session
        .insert(SESSION_KEY, &fresh)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))?;
    Ok(fresh)
}

/// A form body whose `csrf_token` matched the session's token.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    fields: T,
}

/// For forms whose only field is the token (log-out, revoke).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site");
        let session = req.get_session();
        let form = web::Form::<WithToken<T>>::from_request(req, payload);
        Box::pin(async move {
            if cross_site {
                return Err(AppError::Csrf.into());
            }
            let web::Form(form) = form
                .await
                .map_err(|e| AppError::BadRequest(format!("the form could not be read: {e}")))?;
            let expected = session.get::<String>(SESSION_KEY).ok().flatten();
            let valid = expected.is_some_and(|expected| {
                !form.csrf_token.is_empty()
                    && bool::from(expected.as_bytes().ct_eq(form.csrf_token.as_bytes()))
            });
            if !valid {
                tracing::warn!(
                    event = "csrf_rejected",
                    "form refused: missing or wrong CSRF token"
                );
                return Err(AppError::Csrf.into());
            }
            Ok(Self(form.fields))
        })
    }
}
