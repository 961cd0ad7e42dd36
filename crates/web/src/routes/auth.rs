//! Sign-up, log-in and log-out.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use domain::{
    Error as DomainError,
    accounts::{Password, SignUpForm},
};
use serde::Deserialize;

use super::{render, see_other};
use crate::{
    client_ip::client_ip,
    csrf::{self, CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::{Chrome, LoginPage, SignupPage, messages},
    session::{self, SignedIn},
    state::AppState,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/signup")
            .route(web::get().to(signup_form))
            .route(web::post().to(signup)),
    )
    .service(
        web::resource("/login")
            .route(web::get().to(login_form))
            .route(web::post().to(login)),
    )
    .route("/logout", web::post().to(logout));
}

#[derive(Deserialize)]
struct SignupFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    workspace: String,
}

#[derive(Deserialize)]
struct LoginFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `GET /signup`
async fn signup_form(who: Option<SignedIn>, session: Session) -> Result<HttpResponse, PageError> {
    if who.is_some() {
        return Ok(see_other("/dashboard"));
    }
    render(
        StatusCode::OK,
        &SignupPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&session)?,
            email: String::new(),
            workspace: String::new(),
            errors: Vec::new(),
        },
    )
}

/// `POST /signup`: creates the workspace and signs its owner in.
async fn signup(
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<SignupFields>,
) -> Result<HttpResponse, PageError> {
    let again =
        |status, errors: Vec<String>, session: &Session| -> Result<HttpResponse, PageError> {
            render(
                status,
                &SignupPage {
                    chrome: Chrome::anonymous(),
                    csrf_token: csrf::token(session)?,
                    email: form.email.clone(),
                    workspace: form.workspace.clone(),
                    errors,
                },
            )
        };
    let parsed = match SignUpForm::parse(&form.email, form.password.clone(), &form.workspace) {
        Ok(parsed) => parsed,
        Err(errors) => return again(StatusCode::BAD_REQUEST, messages(&errors), &session),
    };
    match state.accounts.sign_up(parsed).await {
        Ok(member) => {
            session::begin(&session, &member, state.clock.now().timestamp())?;
            Ok(see_other("/dashboard"))
        }
        Err(e @ DomainError::SignupRefused) => {
            let problem = AppError::from(e).problem();
            again(problem.status, vec![problem.detail], &session)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /login`
async fn login_form(who: Option<SignedIn>, session: Session) -> Result<HttpResponse, PageError> {
    if who.is_some() {
        return Ok(see_other("/dashboard"));
    }
    render(
        StatusCode::OK,
        &LoginPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&session)?,
            email: String::new(),
            errors: Vec::new(),
        },
    )
}

/// `POST /login`: a fresh session on success; the same generic answer for every failure.
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<LoginFields>,
) -> Result<HttpResponse, PageError> {
    let client = client_ip(&req, &state.settings.trusted_proxies);
    let outcome = match Password::for_login(form.password) {
        Ok(password) => state.accounts.log_in(&form.email, &password, client).await,
        Err(_) => Err(DomainError::InvalidCredentials),
    };
    match outcome {
        Ok(member) => {
            session::begin(&session, &member, state.clock.now().timestamp())?;
            Ok(see_other("/dashboard"))
        }
        Err(e @ (DomainError::InvalidCredentials | DomainError::Throttled { .. })) => {
            let problem = AppError::from(e).problem();
            let mut response = render(
                problem.status,
                &LoginPage {
                    chrome: Chrome::anonymous(),
                    csrf_token: csrf::token(&session)?,
                    email: form.email,
                    errors: vec![problem.detail.clone()],
                },
            )?;
            if let Some(wait) = problem.retry_after {
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: ends the session server-side and tells the browser to drop its cookies.
async fn logout(session: Session, CsrfForm(_): CsrfForm<NoFields>) -> HttpResponse {
    session::end(&session);
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/login"))
        .insert_header(("Clear-Site-Data", "\"cookies\""))
        .finish()
}
