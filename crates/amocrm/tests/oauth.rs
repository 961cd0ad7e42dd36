//! Token exchange and refresh against a fake amoCRM token endpoint (docs/amocrm-protocol.md §3).

mod support;

use std::time::Duration;

use amocrm::{AccessClaims, AmoError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{CLIENT_ID, Creds, FakeAmo, REDIRECT_URI, Reply, assert_no_canary, host};

/// A JWT shaped like amoCRM's (RS256 header, fake signature: the client never verifies it).
fn fake_jwt() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"RS256","jti":"0a1b"}"#);
    let claims = json!({
        "aud": CLIENT_ID, "jti": "0a1b", "iat": 1_760_000_000, "nbf": 1_760_000_000,
        "exp": 1_760_086_400, "sub": "11223344", "grant_type": "", "account_id": 31_000_123,
        "base_domain": "amocrm.ru", "version": 2, "scopes": ["crm", "notifications"],
        "api_domain": "api-b.amocrm.ru"
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.bm90LWEtcmVhbC1zaWduYXR1cmU")
}

fn token_response(jwt: &str) -> Value {
    json!({
        "token_type": "Bearer", "expires_in": 86400, "access_token": jwt,
        "refresh_token": "def50200-new-refresh", "server_time": 1_760_000_000
    })
}

#[actix_web::test]
async fn exchange_posts_the_documented_json_to_the_account_host() {
    let jwt = fake_jwt();
    let reply = Reply::json(200, &token_response(&jwt));
    let fake = FakeAmo::start(move |_| reply.clone());
    let creds = Creds::new();

    let grant = fake
        .client()
        .exchange_code(&host("acme.amocrm.ru"), &creds.app(), &creds.code)
        .await
        .expect("exchange succeeds");

    let hits = fake.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/oauth2/access_token");
    assert_eq!(hit.query, "", "nothing may travel in the URL");
    assert_eq!(hit.header("host"), Some("acme.amocrm.ru"));
    assert!(
        hit.header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json"))
    );
    assert_eq!(
        hit.json(),
        json!({
            "client_id": CLIENT_ID, "client_secret": "canary-client-secret",
            "grant_type": "authorization_code", "code": "canary-code", "redirect_uri": REDIRECT_URI
        })
    );

    assert_eq!(grant.access_token.expose_secret(), jwt);
    assert_eq!(
        grant
            .refresh_token
            .as_ref()
            .map(ExposeSecret::expose_secret),
        Some("def50200-new-refresh")
    );
    assert_eq!(grant.expires_in, Duration::from_secs(86_400));
    assert_eq!(grant.server_time, Some(1_760_000_000));
    assert_eq!(
        grant.claims,
        Some(AccessClaims {
            account_id: 31_000_123,
            base_domain: "amocrm.ru".into(),
            api_domain: Some("api-b.amocrm.ru".into()),
            aud: CLIENT_ID.into(),
            exp: 1_760_086_400,
            iat: Some(1_760_000_000),
            sub: "11223344".into(),
        })
    );
}

#[actix_web::test]
async fn refresh_posts_the_refresh_grant_and_tolerates_a_missing_refresh_token() {
    let fake = FakeAmo::start(|_| {
        Reply::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": 86400, "access_token": "opaque"}),
        )
    });
    let creds = Creds::new();

    let grant = fake
        .client()
        .refresh(&host("shop.kommo.com"), &creds.app(), &creds.refresh_token)
        .await
        .expect("refresh succeeds");

    let hit = &fake.hits()[0];
    assert_eq!(hit.path, "/oauth2/access_token");
    assert_eq!(hit.header("host"), Some("shop.kommo.com"));
    assert_eq!(
        hit.json(),
        json!({
            "client_id": CLIENT_ID, "client_secret": "canary-client-secret",
            "grant_type": "refresh_token", "refresh_token": "canary-refresh-token",
            "redirect_uri": REDIRECT_URI
        })
    );
    assert!(
        grant.refresh_token.is_none(),
        "caller keeps its old refresh token"
    );
    assert!(grant.claims.is_none(), "an opaque token has no claims");
}

#[actix_web::test]
async fn expires_in_edge_cases_over_the_wire() {
    // An opaque token carries no claims to fall back on: what is not credible grants nothing.
    let cases = [
        (json!(-5), Duration::ZERO),
        (json!(0), Duration::ZERO),
        (json!(1e12), Duration::ZERO),
        (json!(20), Duration::from_secs(20)),
        (json!("86400"), Duration::from_secs(86_400)),
        (json!(86400.5), Duration::from_secs(86_400)),
    ];
    let creds = Creds::new();
    for (expires_in, expected) in cases {
        let body = json!({"access_token": "at", "refresh_token": "rt", "expires_in": expires_in});
        let fake = FakeAmo::start(move |_| Reply::json(200, &body));
        let grant = fake
            .client()
            .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
            .await
            .expect("lenient parse");
        assert_eq!(grant.expires_in, expected, "{expires_in}");
    }
}

const BAD_REQUEST_TITLE: &str = "Некорректный запрос";
const BAD_REQUEST_DETAIL: &str = "В запросе отсутствует ряд параметров или параметры невалидны";
const PROBLEM_TYPE: &str = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson";

async fn refresh_error(reply: Reply) -> AmoError {
    let fake = FakeAmo::start(move |_| reply.clone());
    let creds = Creds::new();
    let err = fake
        .client()
        .refresh(&host("acme.amocrm.ru"), &creds.app(), &creds.refresh_token)
        .await
        .expect_err("must fail");
    assert_eq!(fake.hits().len(), 1, "exactly one request, no retries");
    assert_no_canary(&format!("{err} {err:?}"));
    err
}

#[actix_web::test]
async fn the_spec_error_table_maps_to_variants() {
    let revoked = json!({"hint": "Token has been revoked", "title": BAD_REQUEST_TITLE,
                         "type": PROBLEM_TYPE, "status": 401, "detail": BAD_REQUEST_DETAIL});
    let err = refresh_error(Reply::problem(401, &revoked)).await;
    assert!(matches!(err, AmoError::RefreshTokenRevoked), "{err:?}");
    assert_eq!(err.kind(), "refresh_token_revoked");
    assert!(!err.is_transient());

    let foreign = json!({"hint": "Token is not linked to client", "title": BAD_REQUEST_TITLE,
                         "type": PROBLEM_TYPE, "status": 401, "detail": BAD_REQUEST_DETAIL});
    let err = refresh_error(Reply::problem(401, &foreign)).await;
    assert!(matches!(err, AmoError::NotLinkedToClient), "{err:?}");

    let client = json!({"title": "Некорректный клиент", "type": PROBLEM_TYPE, "status": 401,
                        "detail": "Авторизация клиента не прошла"});
    let err = refresh_error(Reply::problem(401, &client)).await;
    assert!(matches!(err, AmoError::InvalidClient), "{err:?}");

    let expired = json!({"hint": "Authorization code has expired", "title": BAD_REQUEST_TITLE,
                         "type": PROBLEM_TYPE, "status": 400, "detail": BAD_REQUEST_DETAIL});
    let err = refresh_error(Reply::problem(400, &expired)).await;
    assert!(
        matches!(&err, AmoError::CodeRejected { hint } if hint == "Authorization code has expired"),
        "{err:?}"
    );

    let err = refresh_error(Reply::raw(404, "text/html", b"<h1>Not Found</h1>".to_vec())).await;
    assert!(matches!(err, AmoError::NotFound), "{err:?}");

    let err = refresh_error(Reply::raw(
        403,
        "text/html",
        b"<html>403 Forbidden nginx</html>".to_vec(),
    ))
    .await;
    assert!(matches!(err, AmoError::Forbidden { html: true }), "{err:?}");

    let err = refresh_error(Reply::raw(
        502,
        "text/html",
        b"<html>Bad Gateway</html>".to_vec(),
    ))
    .await;
    assert!(
        matches!(err, AmoError::Server { status: 502 }) && err.is_transient(),
        "{err:?}"
    );
}

#[actix_web::test]
async fn rate_limits_carry_retry_after_from_body_or_header() {
    let kommo_429 = json!({"title": "Too Many Requests", "type": "https://httpstatus.es/429",
                           "status": 429, "detail": "You have sent too many requests", "retry_after": 300});
    let err = refresh_error(Reply::problem(429, &kommo_429)).await;
    assert!(
        matches!(err, AmoError::RateLimited { .. }) && err.is_transient(),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(300)));

    let html_429 = Reply::raw(429, "text/html", b"<html>Too Many Requests</html>".to_vec())
        .header("retry-after", "12");
    let err = refresh_error(html_429).await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));

    let bare_429 = Reply::raw(429, "text/plain", b"slow down".to_vec());
    let err = refresh_error(bare_429).await;
    assert!(
        matches!(err, AmoError::RateLimited { retry_after: None }),
        "{err:?}"
    );
}

#[actix_web::test]
async fn unusable_success_bodies_are_invalid_responses() {
    for body in [
        b"<html>maintenance</html>".to_vec(),
        br#"{"token_type":"Bearer"}"#.to_vec(),
    ] {
        let err = refresh_error(Reply::raw(200, "text/html", body)).await;
        assert!(matches!(err, AmoError::InvalidResponse), "{err:?}");
    }
}

#[actix_web::test]
async fn error_messages_never_echo_secrets_the_server_reflects() {
    // A hostile upstream reflecting our request into its error body must not reach our error text.
    let reflected = json!({"title": "canary-client-secret", "detail": "canary-code",
                           "status": 401, "type": PROBLEM_TYPE});
    let err = refresh_error(Reply::problem(401, &reflected)).await;
    assert!(
        matches!(err, AmoError::InvalidGrant { hint: None }),
        "{err:?}"
    );
}
