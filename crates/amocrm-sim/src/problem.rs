//! Error bodies in amoCRM's shapes.
//!
//! The token endpoint wraps league/oauth2-server errors in `application/problem+json` with the
//! `OAuthProblemJson` type and Russian titles; the API uses httpstatus.es problem documents; a
//! blocked client gets nginx's HTML page. Clients must cope with all three, so the simulator
//! produces all three.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

const PROBLEM_JSON: &str = "application/problem+json";
const OAUTH_PROBLEM_TYPE: &str = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson";
const INVALID_REQUEST_TITLE: &str = "Некорректный запрос";
const INVALID_REQUEST_DETAIL: &str = "В запросе отсутствует ряд параметров или параметры невалидны";

fn problem(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(PROBLEM_JSON)
        .body(body.to_string())
}

/// Token-endpoint error "Некорректный запрос" with a league hint.
pub fn invalid_request(status: StatusCode, hint: &str) -> HttpResponse {
    problem(
        status,
        json!({
            "hint": hint,
            "title": INVALID_REQUEST_TITLE,
            "type": OAUTH_PROBLEM_TYPE,
            "status": status.as_u16(),
            "detail": INVALID_REQUEST_DETAIL,
        }),
    )
}

/// Token-endpoint error for a wrong `client_id`, `client_secret` or `redirect_uri`.
pub fn invalid_client() -> HttpResponse {
    problem(
        StatusCode::UNAUTHORIZED,
        json!({
            "title": "Некорректный клиент",
            "type": OAUTH_PROBLEM_TYPE,
            "status": 401,
            "detail": "Авторизация клиента не прошла",
        }),
    )
}

fn http_problem(status: StatusCode, detail: &str) -> Value {
    json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "type": format!("https://httpstatus.es/{}", status.as_u16()),
        "status": status.as_u16(),
        "detail": detail,
    })
}

/// API error in the httpstatus.es shape.
pub fn http(status: StatusCode, detail: &str) -> HttpResponse {
    problem(status, http_problem(status, detail))
}

/// 404 for hosts and paths the simulator does not serve.
pub fn not_found(detail: &str) -> HttpResponse {
    http(StatusCode::NOT_FOUND, detail)
}

/// 401 for API calls without a live token.
pub fn unauthorized(detail: &str) -> HttpResponse {
    http(StatusCode::UNAUTHORIZED, detail)
}

/// 429 with the `retry_after` field Kommo documents.
pub fn too_many_requests(retry_after: u64) -> HttpResponse {
    let mut body = http_problem(
        StatusCode::TOO_MANY_REQUESTS,
        "You have sent too many requests in a given amount of time",
    );
    body["retry_after"] = json!(retry_after);
    problem(StatusCode::TOO_MANY_REQUESTS, body)
}

/// nginx's 403 page, which is what a blocked integration really receives.
pub fn blocked() -> HttpResponse {
    HttpResponse::Forbidden().content_type("text/html").body(
        "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n\
             <center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n",
    )
}
