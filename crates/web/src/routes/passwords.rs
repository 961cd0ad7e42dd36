//! Forgotten passwords: ask for a link by e-mail, then choose a new password through it. The
//! link's token travels in the query string and then the form body, never in a path.

use crate::i18n::Translate as _;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use askama::Template;
use serde::Deserialize;

use super::{
    render,
    table::{Access, PageRoute},
};
use crate::{
    client_ip::client_ip,
    csrf::{self, CsrfForm},
    error::{AppError, PageError},
    pages::{Chrome, LoginPage},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    vec![
        PageRoute::get("/password/forgot", Access::Public, |r| r.to(forgot_form)),
        PageRoute::post("/password/forgot", Access::Public, |r| r.to(forgot)),
        PageRoute::get("/password/reset", Access::Public, |r| r.to(reset_form)),
        PageRoute::post("/password/reset", Access::Public, |r| r.to(reset)),
    ]
}

#[derive(Template)]
#[template(path = "password_forgot.html")]
pub struct ForgotPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub available: bool,
    pub sent: bool,
    pub email: String,
    pub errors: Vec<String>,
}

/// `GET /password/forgot`
async fn forgot_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &ForgotPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&req)?,
            available: state.passwords.reset_available(),
            sent: false,
            email: String::new(),
            errors: Vec::new(),
        },
    )
}

#[derive(Deserialize)]
struct ForgotFields {
    #[serde(default)]
    email: String,
}

/// `POST /password/forgot`: the same answer whether or not the address has an account.
async fn forgot(
    req: HttpRequest,
    CsrfForm(form): CsrfForm<ForgotFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let client = client_ip(&req, &state.settings.trusted_proxies);
    let email: String = form.email.chars().take(254).collect();
    let page = |sent, errors| -> Result<ForgotPage, PageError> {
        Ok(ForgotPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&req)?,
            available: state.passwords.reset_available(),
            sent,
            email: email.clone(),
            errors,
        })
    };
    match state.passwords.request_reset(&form.email, client) {
        Ok(()) => render(StatusCode::OK, &page(true, Vec::new())?),
        Err(e @ (domain::Error::Throttled { .. } | domain::Error::Team(_))) => {
            let problem = AppError::from(e).problem();
            let mut response = render(
                problem.status,
                &page(false, vec![problem.localized_detail()])?,
            )?;
            if let Some(wait) = problem.retry_after {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
pub struct ResetPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub token: String,
    pub errors: Vec<String>,
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `GET /password/reset?token=…`
async fn reset_form(
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    state.passwords.check_reset_link(&query.token).await?;
    Ok(no_store(render(
        StatusCode::OK,
        &ResetPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&req)?,
            token: query.into_inner().token,
            errors: Vec::new(),
        },
    )?))
}

#[derive(Deserialize)]
struct ResetFields {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// `POST /password/reset`: the new password; every session of the account ends, and the person
/// signs in with it.
async fn reset(
    req: HttpRequest,
    CsrfForm(form): CsrfForm<ResetFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let client = client_ip(&req, &state.settings.trusted_proxies);
    match state
        .passwords
        .reset(&form.token, form.password, client)
        .await
    {
        Ok(()) => render(
            StatusCode::OK,
            &LoginPage {
                chrome: Chrome::anonymous(),
                csrf_token: csrf::token(&req)?,
                email: String::new(),
                errors: Vec::new(),
                notice: "password_reset",
            },
        ),
        Err(domain::Error::Invalid(e)) => Ok(no_store(render(
            StatusCode::BAD_REQUEST,
            &ResetPage {
                chrome: Chrome::anonymous(),
                csrf_token: csrf::token(&req)?,
                token: form.token,
                errors: vec![crate::pages::validation_message(&e)],
            },
        )?)),
        Err(e) => Err(e.into()),
    }
}
