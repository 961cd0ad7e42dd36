//! Property tests of the session cookie and the CSRF token (security.md §3.6 item 8): whatever a
//! client puts in the cookie or the form, the answer is a session of its own or none, never
//! another's state, never a 5xx; a signed-in session's CSRF token validates only for its own
//! session, and an anonymous form's token only with its own double-submit cookie.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ::web::{
    csrf::{self, CsrfForm, NoFields},
    session::DatabaseSessionStore,
};
use actix_session::{Session, SessionMiddleware};
use actix_web::{
    App, HttpRequest, HttpResponse,
    cookie::Key,
    dev::ServiceResponse,
    http::{StatusCode, header},
    middleware::from_fn,
    test as atest, web,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    StoreError,
    clock::SystemClock,
    ids::{UserId, WorkspaceId},
    ports::SessionRepository,
};
use proptest::prelude::*;

const COOKIE: &str = "amolink_sid";

/// Sessions in memory, keyed by the key hash, like the database store.
#[derive(Default)]
struct MemorySessions(Mutex<HashMap<String, String>>);

#[async_trait]
impl SessionRepository for MemorySessions {
    async fn load(&self, key: &str, _: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn insert(
        &self,
        key: &str,
        state: &str,
        _: Option<UserId>,
        _: Option<WorkspaceId>,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), state.to_owned());
        Ok(())
    }
    async fn update(
        &self,
        key: &str,
        state: &str,
        _: Option<UserId>,
        _: Option<WorkspaceId>,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut map = self.0.lock().unwrap();
        Ok(map.get_mut(key).map(|s| *s = state.to_owned()).is_some())
    }
    async fn set_expiry(&self, _: &str, _: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn delete_for_user(&self, _: UserId) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}

async fn probe(session: Session) -> HttpResponse {
    let seen = session
        .get::<String>("probe")
        .ok()
        .flatten()
        .unwrap_or_default();
    HttpResponse::Ok().body(seen)
}

async fn set(session: Session, value: web::Path<String>) -> HttpResponse {
    session.insert("probe", value.into_inner()).unwrap();
    HttpResponse::Ok().finish()
}

/// A signed-in session's token (the session names a user, as after signing in).
async fn token(session: Session) -> HttpResponse {
    session.insert("uid", UserId::random().to_string()).unwrap();
    match csrf::session_token(&session) {
        Ok(token) => HttpResponse::Ok().body(token),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// An anonymous page's token (no session is written).
async fn anonymous_token(req: HttpRequest) -> HttpResponse {
    match csrf::token(&req) {
        Ok(token) => HttpResponse::Ok().body(token),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn submit(_: CsrfForm<NoFields>) -> HttpResponse {
    HttpResponse::Ok().body("accepted")
}

/// The same session and CSRF wiring as the server (`startup.rs`), over memory. (Macros, not
/// functions: the test service's request type lives in `actix-http`, not a dependency here.)
macro_rules! app {
    () => {{
        let store =
            DatabaseSessionStore::new(Arc::new(MemorySessions::default()), Arc::new(SystemClock));
        let key = Key::from(&[7u8; 64]);
        atest::init_service(
            App::new()
                .app_data(web::Data::new(csrf::AnonymousCsrf::new(&[7u8; 64], false)))
                .wrap(from_fn(csrf::set_cookie))
                .wrap(
                    SessionMiddleware::builder(store, key)
                        .cookie_name(COOKIE.to_owned())
                        .cookie_secure(false)
                        .build(),
                )
                .route("/probe", web::get().to(probe))
                .route("/set/{value}", web::get().to(set))
                .route("/token", web::get().to(token))
                .route("/anonymous-token", web::get().to(anonymous_token))
                .route("/submit", web::post().to(submit)),
        )
        .await
    }};
}

fn session_cookie<B>(response: &ServiceResponse<B>) -> Option<String> {
    response
        .response()
        .cookies()
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

const CSRF_COOKIE: &str = "amolink_csrf";

fn csrf_cookie<B>(response: &ServiceResponse<B>) -> Option<String> {
    response
        .response()
        .cookies()
        .find(|c| c.name() == CSRF_COOKIE)
        .map(|c| c.value().to_owned())
}

fn anonymous_post(nonce: Option<&str>, token: &str, cross_site: bool) -> atest::TestRequest {
    let body = serde_urlencoded::to_string([("csrf_token", token)]).unwrap();
    let mut req = atest::TestRequest::post()
        .uri("/submit")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body);
    if let Some(nonce) = nonce {
        req = req.insert_header((header::COOKIE, format!("{CSRF_COOKIE}={nonce}")));
    }
    if cross_site {
        req = req.insert_header(("sec-fetch-site", "cross-site"));
    }
    req
}

macro_rules! post_anonymous {
    ($app:expr, $nonce:expr, $token:expr, $cross:expr) => {
        atest::call_service(&$app, anonymous_post($nonce, $token, $cross).to_request())
            .await
            .status()
    };
}

fn get_request(path: &str, cookie: Option<&str>) -> atest::TestRequest {
    let mut req = atest::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        req = req.insert_header((header::COOKIE, format!("{COOKIE}={cookie}")));
    }
    req
}

macro_rules! get {
    ($app:expr, $path:expr, $cookie:expr) => {
        atest::call_service(&$app, get_request($path, $cookie).to_request()).await
    };
}

fn post_request(cookie: Option<&str>, token: &str, cross_site: bool) -> atest::TestRequest {
    let body = serde_urlencoded::to_string([("csrf_token", token)]).unwrap();
    let mut req = atest::TestRequest::post()
        .uri("/submit")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body);
    if let Some(cookie) = cookie {
        req = req.insert_header((header::COOKIE, format!("{COOKIE}={cookie}")));
    }
    if cross_site {
        req = req.insert_header(("sec-fetch-site", "cross-site"));
    }
    req
}

macro_rules! post_token {
    ($app:expr, $cookie:expr, $token:expr, $cross:expr) => {
        atest::call_service(&$app, post_request($cookie, $token, $cross).to_request())
            .await
            .status()
    };
}

fn run<F: std::future::Future<Output = Result<(), TestCaseError>>>(
    f: F,
) -> Result<(), TestCaseError> {
    actix_web::rt::System::new().block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any cookie value: 200 with no state (and never someone's state), never a 5xx.
    #[test]
    fn arbitrary_session_cookies_are_anonymous(cookie in "[!#-+--:<-\\[\\]-~]{0,300}") {
        run(async {
            let app = app!();
            let owner = get!(app, "/set/secret-state", None);
            let real = session_cookie(&owner).unwrap();
            prop_assume!(cookie != real);
            let response = get!(app, "/probe", Some(&cookie));
            prop_assert_eq!(response.status(), StatusCode::OK);
            let body = atest::read_body(response).await;
            prop_assert!(body.is_empty(), "a forged cookie loaded state");
            Ok(())
        })?;
    }

    /// A real session cookie with any one character changed loads nothing; unchanged, it does.
    #[test]
    fn tampered_session_cookies_load_nothing(at in any::<prop::sample::Index>(), c in "[!#-+--:<-\\[\\]-~]") {
        run(async {
            let app = app!();
            let owner = get!(app, "/set/secret-state", None);
            let real = session_cookie(&owner).unwrap();
            let mut chars: Vec<char> = real.chars().collect();
            let i = at.index(chars.len());
            let c = c.chars().next().unwrap();
            prop_assume!(chars[i] != c);
            chars[i] = c;
            let tampered: String = chars.into_iter().collect();
            let response = get!(app, "/probe", Some(&tampered));
            prop_assert_eq!(response.status(), StatusCode::OK);
            prop_assert!(atest::read_body(response).await.is_empty());
            let control = get!(app, "/probe", Some(&real));
            prop_assert_eq!(atest::read_body(control).await, "secret-state");
            Ok(())
        })?;
    }

    /// A CSRF token validates only for its own session: random, near-miss, another session's
    /// token, no session, or a cross-site post are all 403; the right one is accepted.
    #[test]
    fn csrf_tokens_validate_only_for_their_session(guess in "[ -~]{0,64}", at in any::<prop::sample::Index>()) {
        run(async {
            let app = app!();
            let first = get!(app, "/token", None);
            let cookie = session_cookie(&first).unwrap();
            let right = String::from_utf8(atest::read_body(first).await.to_vec()).unwrap();
            let other = get!(app, "/token", None);
            let other_cookie = session_cookie(&other).unwrap();
            let other_token = String::from_utf8(atest::read_body(other).await.to_vec()).unwrap();

            prop_assume!(guess != right);
            prop_assert_eq!(post_token!(app, Some(&cookie), &guess, false), StatusCode::FORBIDDEN);
            let mut near: Vec<char> = right.chars().collect();
            let i = at.index(near.len());
            near[i] = if near[i] == 'A' { 'B' } else { 'A' };
            let near: String = near.into_iter().collect();
            prop_assert_eq!(post_token!(app, Some(&cookie), &near, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_token!(app, Some(&cookie), &right[..i], false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_token!(app, Some(&cookie), &other_token, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_token!(app, Some(&other_cookie), &right, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_token!(app, None, &right, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_token!(app, Some(&cookie), &right, true), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_token!(app, Some(&cookie), &right, false), StatusCode::OK);
            Ok(())
        })?;
    }

    /// An anonymous form's token validates only with its own double-submit cookie: random,
    /// near-miss, another browser's token or cookie, a planted nonce, no cookie, or a cross-site
    /// post are all 403; the right pair is accepted. The page writes no session.
    #[test]
    fn anonymous_csrf_tokens_validate_only_with_their_cookie(guess in "[ -~]{0,64}", nonce in "[A-Za-z0-9_-]{1,64}", at in any::<prop::sample::Index>()) {
        run(async {
            let app = app!();
            let first = get!(app, "/anonymous-token", None);
            prop_assert!(session_cookie(&first).is_none(), "no session for an anonymous page");
            let cookie = csrf_cookie(&first).unwrap();
            let right = String::from_utf8(atest::read_body(first).await.to_vec()).unwrap();
            let other = get!(app, "/anonymous-token", None);
            let other_cookie = csrf_cookie(&other).unwrap();
            let other_token = String::from_utf8(atest::read_body(other).await.to_vec()).unwrap();
            prop_assert_ne!(&cookie, &other_cookie);

            prop_assume!(guess != right);
            prop_assert_eq!(post_anonymous!(app, Some(&cookie), &guess, false), StatusCode::FORBIDDEN);
            let mut near: Vec<char> = right.chars().collect();
            let i = at.index(near.len());
            near[i] = if near[i] == 'A' { 'B' } else { 'A' };
            let near: String = near.into_iter().collect();
            prop_assert_eq!(post_anonymous!(app, Some(&cookie), &near, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_anonymous!(app, Some(&cookie), &right[..i], false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_anonymous!(app, Some(&cookie), &other_token, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_anonymous!(app, Some(&other_cookie), &right, false), StatusCode::FORBIDDEN);
            // A nonce planted in the cookie (by a sibling host, say) with the token as its value.
            prop_assert_eq!(post_anonymous!(app, Some(&nonce), &nonce, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_anonymous!(app, None, &right, false), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_anonymous!(app, Some(&cookie), &right, true), StatusCode::FORBIDDEN);
            prop_assert_eq!(post_anonymous!(app, Some(&cookie), &right, false), StatusCode::OK);
            // The same browser on another page gets the same token (its cookie is kept).
            let again = atest::TestRequest::get()
                .uri("/anonymous-token")
                .insert_header((header::COOKIE, format!("{CSRF_COOKIE}={cookie}")))
                .to_request();
            let again = atest::call_service(&app, again).await;
            prop_assert!(csrf_cookie(&again).is_none(), "the cookie is not replaced");
            prop_assert_eq!(atest::read_body(again).await, right.as_bytes());
            Ok(())
        })?;
    }
}
