//! Error pages for signed-in people carry their own navigation, not "Log in / Sign up".
//!
//! [`crate::error::PageError`] renders its page without the request at hand (actix's
//! `ResponseError` gets none) and leaves the [`Problem`] it showed in the response's
//! extensions; this middleware, inside the session middleware, renders that page again with
//! the member's chrome when the request comes from a live session.

use actix_web::{
    Error, FromRequest as _,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
};
use askama::Template as _;

use crate::{
    error::Problem,
    pages::{Chrome, ErrorPage},
    session::SignedIn,
};

/// The problem an HTML error page showed (set by `PageError::error_response`).
#[derive(Debug, Clone)]
pub struct ShownProblem(pub Problem);

/// # Errors
/// Propagates the inner service's error.
pub async fn with_member_chrome(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(ShownProblem(problem)) = res.response().extensions().get::<ShownProblem>().cloned()
    else {
        return Ok(res);
    };
    let request = res.request().clone();
    let Ok(who) = SignedIn::from_request(&request, &mut Payload::None).await else {
        return Ok(res);
    };
    let page = ErrorPage {
        chrome: Chrome::signed_in(&who, ""),
        ..ErrorPage::from_problem(&problem)
    };
    let Ok(body) = page.render() else {
        return Ok(res);
    };
    Ok(res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        head.headers_mut().remove(header::CONTENT_LENGTH);
        BoxBody::new(body)
    }))
}
