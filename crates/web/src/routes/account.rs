//! `/settings/account`: the signed-in person's password and sessions.

use crate::i18n::Translate as _;
use actix_session::Session;
use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{
    render,
    table::{Access, PageRoute},
};
use crate::{
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::Chrome,
    session::{self, SignedIn},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    vec![
        PageRoute::get("/settings/account", Access::SignedIn, |r| r.to(page)),
        PageRoute::post("/settings/account/password", Access::SignedIn, |r| {
            r.to(change_password)
        }),
        PageRoute::post("/settings/account/sessions", Access::SignedIn, |r| {
            r.to(end_other_sessions)
        }),
        PageRoute::post("/settings/account/preferences", Access::SignedIn, |r| {
            r.to(save_preferences)
        }),
    ]
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub errors: Vec<String>,
    /// What just happened, if anything.
    pub notice: &'static str,
    /// Every time zone to choose from.
    pub zones: Vec<&'static str>,
}

fn account_page(
    who: &SignedIn,
    csrf_token: String,
    errors: Vec<String>,
    notice: &'static str,
) -> AccountPage {
    AccountPage {
        chrome: Chrome::signed_in(who, "account"),
        csrf_token,
        email: who.member.email.to_string(),
        errors,
        notice,
        zones: crate::i18n::zone_names(),
    }
}

/// `GET /settings/account`
async fn page(who: SignedIn) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &account_page(&who, who.csrf_token.clone(), Vec::new(), ""),
    )
}

#[derive(Deserialize)]
struct PasswordFields {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /settings/account/password`: every other session of the user ends; this browser stays
/// signed in under a fresh session id.
async fn change_password(
    CsrfForm(form): CsrfForm<PasswordFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    session: Session,
) -> Result<HttpResponse, PageError> {
    match state
        .passwords
        .change(
            &who.member,
            &who.principal(),
            form.current_password,
            form.new_password,
        )
        .await
    {
        Ok(()) => {
            session::keep_after_ending_others(&session);
            render(
                StatusCode::OK,
                &account_page(&who, who.csrf_token.clone(), Vec::new(), "password_changed"),
            )
        }
        Err(
            e @ (domain::Error::Invalid(_)
            | domain::Error::InvalidCredentials
            | domain::Error::Throttled { .. }),
        ) => {
            let wrong_current = matches!(e, domain::Error::InvalidCredentials);
            let problem = AppError::from(e).problem();
            let message = if wrong_current {
                crate::i18n::t("account-wrong-current-password")
            } else {
                problem.localized_detail()
            };
            let status = if wrong_current {
                StatusCode::BAD_REQUEST
            } else {
                problem.status
            };
            render(
                status,
                &account_page(&who, who.csrf_token.clone(), vec![message], ""),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /settings/account/sessions`: logs out every other browser of the user.
async fn end_other_sessions(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    session: Session,
) -> Result<HttpResponse, PageError> {
    state
        .passwords
        .end_other_sessions(&who.member, &who.principal())
        .await?;
    session::keep_after_ending_others(&session);
    render(
        StatusCode::OK,
        &account_page(&who, who.csrf_token.clone(), Vec::new(), "sessions_ended"),
    )
}

#[derive(Deserialize)]
struct PreferenceFields {
    /// `en`, `ru`, or empty for the browser's language.
    #[serde(default)]
    language: String,
    /// An IANA zone name, or empty for the browser's zone.
    #[serde(default)]
    time_zone: String,
}

/// `POST /settings/account/preferences`: saves the language and time zone, which from now on
/// outrank the browser's.
async fn save_preferences(
    CsrfForm(form): CsrfForm<PreferenceFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    session: Session,
) -> Result<HttpResponse, PageError> {
    use domain::accounts::{Language, Preferences, TimeZoneName};
    let language = match form.language.as_str() {
        "" => None,
        other => Some(Language::parse(other).map_err(domain::Error::from)?),
    };
    let time_zone = match form.time_zone.as_str() {
        "" => None,
        // Only a zone the zone database knows: the shape check alone would take any name.
        other if other.parse::<chrono_tz::Tz>().is_ok() => {
            Some(TimeZoneName::parse(other).map_err(domain::Error::from)?)
        }
        _ => {
            return Err(domain::Error::from(domain::ValidationError::new(
                "time_zone",
                "unknown-time-zone",
            ))
            .into());
        }
    };
    let preferences = Preferences {
        language,
        time_zone,
    };
    state
        .accounts
        .set_preferences(who.member.user_id, &preferences)
        .await?;
    crate::i18n::remember(&session, &preferences)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session write failed: {e}")))?;
    Ok(super::see_other("/settings/account"))
}
