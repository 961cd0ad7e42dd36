//! The language switch: `GET /language/{lang}?next=/path` remembers the choice in a cookie (and
//! in the session of a signed-in user, whose choice outranks the cookie) and goes back.
//!
//! A GET link rather than a form: it works on every page, signed in or not, with or without
//! JavaScript, and all it changes is the language of the visitor's own pages.

use actix_session::Session;
use actix_web::{
    HttpResponse,
    cookie::{Cookie, SameSite, time::Duration},
    http::header,
    web,
};
use serde::Deserialize;

use crate::{
    error::{AppError, PageError},
    i18n::{LANG_COOKIE, Lang, SESSION_LANG},
};

#[derive(Deserialize)]
pub(super) struct Next {
    #[serde(default)]
    next: String,
}

/// Only a path of this site: anything else (`//evil.example`, `https://…`, `/\evil`) goes home.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

/// `GET /language/{lang}`
pub(super) async fn switch(
    lang: web::Path<String>,
    next: web::Query<Next>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::parse(&lang).ok_or(AppError::NotFound)?;
    // Only a signed-in session holds a language; an anonymous one is not created for it.
    if crate::session::has_user(&session) {
        session
            .insert(SESSION_LANG, lang.code())
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session: {e}")))?;
    }
    let cookie = Cookie::build(LANG_COOKIE, lang.code())
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(Duration::days(365))
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, local_path(&next.next)))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/connections?q=a"), "/connections?q=a");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path("https://evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
