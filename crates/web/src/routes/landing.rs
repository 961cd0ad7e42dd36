use actix_web::{HttpResponse, http::StatusCode};

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use crate::{
    error::PageError,
    pages::{Chrome, LandingPage},
    session::SignedIn,
};

pub fn routes() -> Vec<PageRoute> {
    vec![PageRoute::get("/", Access::Public, |r| r.to(landing))]
}

/// `GET /`: the landing page; signed-in users go straight to their dashboard.
async fn landing(who: Option<SignedIn>) -> Result<HttpResponse, PageError> {
    if who.is_some() {
        return Ok(see_other("/dashboard"));
    }
    render(
        StatusCode::OK,
        &LandingPage {
            chrome: Chrome::anonymous(),
        },
    )
}
