//! Sign-up, log-in and log-out.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use domain::{
    Error as DomainError,
    accounts::{Password, SignUpForm},
};
use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use crate::{
    client_ip::client_ip,
    csrf::{self, CsrfForm, NoFields},
    device::DeviceCookies,
    error::{AppError, PageError},
    pages::{Chrome, FieldErrors, LoginPage, SignupPage},
    session::{self, SignedIn},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    vec![
        PageRoute::get("/signup", Access::Public, |r| r.to(signup_form)),
        PageRoute::post("/signup", Access::Public, |r| r.to(signup)),
        PageRoute::get("/login", Access::Public, |r| r.to(login_form)),
        PageRoute::post("/login", Access::Public, |r| r.to(login)),
        // Any session may end itself; the CSRF token is the only requirement.
        PageRoute::post("/logout", Access::Public, |r| r.to(logout)),
    ]
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
async fn signup_form(who: Option<SignedIn>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    if who.is_some() {
        return Ok(see_other("/dashboard"));
    }
    render(
        StatusCode::OK,
        &SignupPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&req)?,
            email: String::new(),
            workspace: String::new(),
            fields: FieldErrors::default(),
            maybe_registered: false,
        },
    )
}

/// `POST /signup`: creates the workspace and signs its owner in.
async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    devices: web::Data<DeviceCookies>,
    session: Session,
    CsrfForm(form): CsrfForm<SignupFields>,
) -> Result<HttpResponse, PageError> {
    // The form again, keeping what was typed (but the password), each error by its field.
    let again = |status, fields: FieldErrors, maybe_registered: bool, req: &HttpRequest| {
        render(
            status,
            &SignupPage {
                chrome: Chrome::anonymous(),
                csrf_token: csrf::token(req)?,
                email: form.email.clone(),
                workspace: form.workspace.clone(),
                fields,
                maybe_registered,
            },
        )
    };
    let parsed = match SignUpForm::parse(&form.email, form.password.clone(), &form.workspace) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return again(
                StatusCode::BAD_REQUEST,
                FieldErrors::of(&errors),
                false,
                &req,
            );
        }
    };
    let client = client_ip(&req, &state.settings.trusted_proxies);
    match state.accounts.sign_up(parsed, client).await {
        Ok(member) => {
            session::begin(
                &session,
                member.user_id,
                Some(member.workspace_id),
                state.clock.now().timestamp(),
            )?;
            let mut response = see_other("/dashboard");
            devices.remember(&mut response, member.user_id);
            Ok(response)
        }
        Err(e @ DomainError::SignupRefused) => {
            let problem = AppError::from(e).problem();
            again(problem.status, FieldErrors::default(), true, &req)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /login`
async fn login_form(who: Option<SignedIn>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    if who.is_some() {
        return Ok(see_other("/dashboard"));
    }
    render(
        StatusCode::OK,
        &LoginPage {
            chrome: Chrome::anonymous(),
            csrf_token: csrf::token(&req)?,
            email: String::new(),
            errors: Vec::new(),
            notice: "",
        },
    )
}

/// `POST /login`: a fresh session on success; the same generic answer for every failure.
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    devices: web::Data<DeviceCookies>,
    session: Session,
    CsrfForm(form): CsrfForm<LoginFields>,
) -> Result<HttpResponse, PageError> {
    let client = client_ip(&req, &state.settings.trusted_proxies);
    let outcome = match Password::for_login(form.password) {
        Ok(password) => {
            let device = devices.read(&req);
            state
                .accounts
                .log_in_from(&form.email, &password, client, device.as_ref())
                .await
        }
        Err(_) => Err(DomainError::InvalidCredentials),
    };
    match outcome {
        Ok(signed_in) => {
            let workspace = signed_in.member.map(|m| m.workspace_id);
            session::begin(
                &session,
                signed_in.user,
                workspace,
                state.clock.now().timestamp(),
            )?;
            // The user's saved language and time zone now outrank the browser's.
            let preferences = state.accounts.preferences(signed_in.user).await?;
            crate::i18n::remember(&session, &preferences)
                .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))?;
            let mut response = see_other(if workspace.is_some() {
                "/dashboard"
            } else {
                "/workspaces/new"
            });
            devices.remember(&mut response, signed_in.user);
            Ok(response)
        }
        Err(e @ (DomainError::InvalidCredentials | DomainError::Throttled { .. })) => {
            let problem = AppError::from(e).problem();
            let mut response = render(
                problem.status,
                &LoginPage {
                    chrome: Chrome::anonymous(),
                    csrf_token: csrf::token(&req)?,
                    email: form.email,
                    errors: vec![problem.localized_detail()],
                    notice: "",
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
