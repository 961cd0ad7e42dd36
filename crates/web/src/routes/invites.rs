//! `/invite?token=…`: accepting an invitation. The token travels in the query string (access
//! logs record paths only) and then in the form body, never in a path.

use crate::i18n::Translate as _;
use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use domain::teams::InviteRecord;
use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use crate::{
    client_ip::client_ip,
    csrf::{self, CsrfForm},
    error::{AppError, PageError},
    pages::{Chrome, when},
    session::{self, Account},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    vec![
        PageRoute::get("/invite", Access::Public, |r| r.to(page)),
        PageRoute::post("/invite", Access::Public, |r| r.to(accept)),
    ]
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub token: String,
    pub workspace: String,
    pub role: &'static str,
    pub inviter: String,
    pub email: String,
    pub expires: String,
    /// The signed-in account's address, when someone is signed in.
    pub signed_in_as: String,
    pub errors: Vec<String>,
}

fn invite_page(
    invite: &InviteRecord,
    token: String,
    csrf_token: String,
    who: Option<&Account>,
    errors: Vec<String>,
) -> InvitePage {
    InvitePage {
        chrome: Chrome::anonymous(),
        csrf_token,
        token,
        workspace: invite.workspace_name.clone(),
        role: invite.role.as_str(),
        inviter: invite.invited_by_email.clone(),
        email: invite.email.to_string(),
        expires: when(Some(invite.expires_at)),
        signed_in_as: who.map(|a| a.email.to_string()).unwrap_or_default(),
        errors,
    }
}

/// `GET /invite?token=…`
async fn page(
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
    who: Option<Account>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let invite = state.teams.invite_for_link(&query.token).await?;
    if let Some(account) = &who
        && account.email != invite.email
    {
        return Err(AppError::from(domain::Error::from(
            domain::teams::TeamError::InviteForAnotherAccount,
        ))
        .into());
    }
    let mut response = render(
        StatusCode::OK,
        &invite_page(
            &invite,
            query.into_inner().token,
            csrf::token(&req)?,
            who.as_ref(),
            Vec::new(),
        ),
    )?;
    no_store(&mut response);
    Ok(response)
}

fn no_store(response: &mut HttpResponse) {
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
}

#[derive(Deserialize)]
struct AcceptFields {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// `POST /invite`: joins the signed-in account, or signs in / signs up with a password.
async fn accept(
    req: HttpRequest,
    CsrfForm(form): CsrfForm<AcceptFields>,
    state: web::Data<AppState>,
    who: Option<Account>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let client = client_ip(&req, &state.settings.trusted_proxies);
    let outcome = match &who {
        Some(account) => {
            state
                .teams
                .accept_as(&form.token, account.user, &account.email, client)
                .await
        }
        None => {
            state
                .teams
                .accept_with_password(&form.token, form.password, client)
                .await
        }
    };
    match outcome {
        Ok(member) => {
            if who.is_some() {
                session::switch(&session, Some(member.workspace_id))?;
            } else {
                session::begin(
                    &session,
                    member.user_id,
                    Some(member.workspace_id),
                    state.clock.now().timestamp(),
                )?;
            }
            Ok(see_other("/dashboard"))
        }
        // A wrong password or one that breaks the rules: the form again, with the reason.
        Err(
            e @ (domain::Error::Invalid(_)
            | domain::Error::InvalidCredentials
            | domain::Error::Throttled { .. }),
        ) => {
            let invite = state.teams.invite_for_link(&form.token).await?;
            let problem = AppError::from(e).problem();
            let mut response = render(
                problem.status,
                &invite_page(
                    &invite,
                    form.token,
                    csrf::token(&req)?,
                    who.as_ref(),
                    vec![problem.localized_detail()],
                ),
            )?;
            no_store(&mut response);
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
