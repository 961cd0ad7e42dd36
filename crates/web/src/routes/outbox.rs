//! `/dev/outbox`: in development without SMTP, the mail amolink would have sent (invitations,
//! password resets), so every story works offline. It does not exist in production.

use crate::i18n::Translate as _;
use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;

use super::{
    render,
    table::{Access, PageRoute},
};
use crate::{
    error::{AppError, PageError},
    pages::{Chrome, when},
    state::AppState,
};

/// How many messages the page shows.
const LIMIT: u64 = 50;

pub fn routes() -> Vec<PageRoute> {
    vec![PageRoute::get("/dev/outbox", Access::Public, |r| {
        r.to(page)
    })]
}

/// One message.
#[derive(Debug)]
pub struct MailRow {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "outbox.html")]
pub struct OutboxPage {
    pub chrome: Chrome,
    pub mails: Vec<MailRow>,
    pub smtp: bool,
}

/// `GET /dev/outbox`
async fn page(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    if state.settings.is_production() {
        return Err(AppError::NotFound.into());
    }
    let mails = state.outbox.outbox(LIMIT).await?;
    let mut response = render(
        StatusCode::OK,
        &OutboxPage {
            chrome: Chrome::anonymous(),
            mails: mails
                .into_iter()
                .map(|m| MailRow {
                    id: m.id.to_string(),
                    to: m.to,
                    subject: m.subject,
                    body: m.body,
                    at: when(Some(m.created_at)),
                })
                .collect(),
            smtp: state.settings.smtp_url.is_some(),
        },
    )?;
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
