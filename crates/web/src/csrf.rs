//! CSRF protection for every state-changing form, plus Fetch Metadata as a second line.
//!
//! - **Signed-in forms**: a synchronizer token kept in the server-side session and echoed in a
//!   hidden `csrf_token` field.
//! - **Anonymous forms** (sign-in, sign-up, forgotten password, password reset, invitations): a
//!   *signed double-submit cookie*, so viewing an anonymous page stores nothing on the server.
//!   The browser holds a random nonce in an `HttpOnly`, `SameSite=Strict` cookie (`__Host-`
//!   prefixed and `Secure` over https); the form carries `HMAC(key, nonce)`, the key derived from
//!   the session key for this use only. A POST passes when the form's token equals the MAC of
//!   the cookie's nonce (compared in constant time): a cross-site page can neither read the
//!   cookie nor compute the MAC, and a nonce planted in the cookie is useless without its MAC.
//!
//! Which of the two applies is decided the same way when a page is rendered and when its form
//! comes back: a session that names a user uses its own token, anything else the cookie.
//!
//! Handlers that change state take [`CsrfForm<T>`], so a form without a valid token cannot reach
//! them at all (403). A state-changing request with no session at all is refused the same way by
//! `SignedIn`, so a forged cross-site form never gets a friendlier sign-in redirect. The only
//! unsafe routes without it are server-to-server endpoints protected by their own secrets
//! (amoCRM's webhooks, the API with its key).

use actix_session::{Session, SessionExt as _};
use actix_web::{
    Error, FromRequest, HttpMessage as _, HttpRequest,
    body::MessageBody,
    cookie::{Cookie, SameSite},
    dev::{Payload, ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use serde::{Deserialize, de::DeserializeOwned};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::error::{AppError, PageError};

type HmacSha256 = Hmac<Sha256>;

const SESSION_KEY: &str = "csrf";

/// The longest nonce accepted from a cookie (ours are 43 characters).
const MAX_NONCE_LEN: usize = 64;

/// The session's CSRF token, created on first use (signed-in pages).
///
/// # Errors
/// When the session cannot be written.
pub fn session_token(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(existing)) = session.get::<String>(SESSION_KEY) {
        return Ok(existing);
    }
    let fresh = random_value();
    session
        .insert(SESSION_KEY, &fresh)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))?;
    Ok(fresh)
}

fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token for the forms of the page being rendered: the session's when someone is signed in,
/// otherwise the MAC of the browser's anonymous nonce (minted, and set as a cookie with the
/// response, when the browser has none). Never writes a session for an anonymous visitor.
///
/// # Errors
/// When the session cannot be written, or the application was built without [`AnonymousCsrf`].
pub fn token(req: &HttpRequest) -> Result<String, AppError> {
    let session = req.get_session();
    if crate::session::has_user(&session) {
        return session_token(&session);
    }
    let csrf = req
        .app_data::<web::Data<AnonymousCsrf>>()
        .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("anonymous CSRF key missing")))?;
    let nonce = match csrf.nonce_of(req) {
        Some(nonce) => nonce,
        None => {
            let mut extensions = req.extensions_mut();
            match extensions.get::<FreshNonce>() {
                Some(FreshNonce(minted)) => minted.clone(),
                None => {
                    let minted = random_value();
                    extensions.insert(FreshNonce(minted.clone()));
                    minted
                }
            }
        }
    };
    Ok(csrf.mac_of(&nonce))
}

/// A nonce minted while rendering this response; [`set_cookie`] hands it to the browser.
#[derive(Clone)]
struct FreshNonce(String);

/// The key and cookie of anonymous forms' double-submit tokens.
#[derive(Clone)]
pub struct AnonymousCsrf {
    key: [u8; 32],
    secure: bool,
}

impl AnonymousCsrf {
    /// `secret` is the session key; the CSRF key is derived from it for this use only. `secure`
    /// when the site is served over https (the cookie is then `Secure` and `__Host-` prefixed).
    #[must_use]
    pub fn new(secret: &[u8], secure: bool) -> Self {
        let mut mac =
            <HmacSha256 as hmac::Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_key());
        mac.update(b"amolink anonymous csrf v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            secure,
        }
    }

    /// The cookie's name.
    #[must_use]
    pub const fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-amolink_csrf"
        } else {
            "amolink_csrf"
        }
    }

    fn mac_of(&self, nonce: &str) -> String {
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable_key());
        mac.update(nonce.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The request cookie's nonce, if it is one we could have minted.
    fn nonce_of(&self, req: &HttpRequest) -> Option<String> {
        let cookie = req.cookie(self.cookie_name())?;
        let value = cookie.value();
        let plausible = !value.is_empty()
            && value.len() <= MAX_NONCE_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| value.to_owned())
    }

    /// Whether `token` is the MAC of the request cookie's nonce.
    fn accepts(&self, req: &HttpRequest, token: &str) -> bool {
        self.nonce_of(req).is_some_and(|nonce| {
            !token.is_empty() && bool::from(self.mac_of(&nonce).as_bytes().ct_eq(token.as_bytes()))
        })
    }

    fn cookie(&self, nonce: String) -> Cookie<'static> {
        Cookie::build(self.cookie_name(), nonce)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .finish()
    }
}

/// HMAC accepts keys of any length, so `new_from_slice` never fails.
fn unreachable_key() -> ! {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

/// Middleware: when a page minted an anonymous nonce, the response sets it as the cookie.
///
/// # Errors
/// Propagates the inner service's error.
pub async fn set_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let csrf = req.app_data::<web::Data<AnonymousCsrf>>().cloned();
    let mut res = next.call(req).await?;
    let fresh = res.request().extensions_mut().remove::<FreshNonce>();
    if let (Some(csrf), Some(FreshNonce(nonce))) = (csrf, fresh) {
        // Adding a well-formed cookie cannot fail.
        let _ = res.response_mut().add_cookie(&csrf.cookie(nonce));
    }
    Ok(res)
}

/// A form body whose `csrf_token` matched the session's token (signed in) or the anonymous
/// cookie's MAC (anyone else).
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
        let req = req.clone();
        let form = web::Form::<WithToken<T>>::from_request(&req, payload);
        Box::pin(async move {
            if cross_site {
                return Err(AppError::Csrf.into());
            }
            let web::Form(form) = form
                .await
                .map_err(|e| AppError::BadRequest(format!("the form could not be read: {e}")))?;
            let valid = if crate::session::has_user(&session) {
                let expected = session.get::<String>(SESSION_KEY).ok().flatten();
                expected.is_some_and(|expected| {
                    !form.csrf_token.is_empty()
                        && bool::from(expected.as_bytes().ct_eq(form.csrf_token.as_bytes()))
                })
            } else {
                req.app_data::<web::Data<AnonymousCsrf>>()
                    .is_some_and(|csrf| csrf.accepts(&req, &form.csrf_token))
            };
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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_token_is_the_mac_of_the_cookie_nonce_and_nothing_else_passes() {
        let csrf = AnonymousCsrf::new(b"session key bytes", false);
        let nonce = random_value();
        let token = csrf.mac_of(&nonce);
        let req = TestRequest::default()
            .cookie(Cookie::new("amolink_csrf", nonce.clone()))
            .to_http_request();
        assert!(csrf.accepts(&req, &token));
        assert!(!csrf.accepts(&req, ""));
        assert!(!csrf.accepts(&req, "forged"));
        // Another key's MAC of the same nonce, or our MAC of another nonce, does not pass.
        let other = AnonymousCsrf::new(b"another key", false);
        assert!(!csrf.accepts(&req, &other.mac_of(&nonce)));
        assert!(!csrf.accepts(&req, &csrf.mac_of(&random_value())));
        // No cookie, or a cookie we could not have minted: nothing passes.
        let bare = TestRequest::default().to_http_request();
        assert!(!csrf.accepts(&bare, &token));
        let odd = TestRequest::default()
            .cookie(Cookie::new("amolink_csrf", "a".repeat(MAX_NONCE_LEN + 1)))
            .to_http_request();
        assert!(!csrf.accepts(&odd, &csrf.mac_of(&"a".repeat(MAX_NONCE_LEN + 1))));
    }

    #[test]
    fn the_cookie_is_host_only_strict_and_secure_over_https() {
        let csrf = AnonymousCsrf::new(b"k", true);
        let cookie = csrf.cookie(random_value());
        assert_eq!(cookie.name(), "__Host-amolink_csrf");
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.domain(), None);
    }
}
