//! `GET /auth/button.min.js` and `/auth/button.js` on `www.` hosts: the site-button script.
//! The script is our own (see `assets/button.js`), written to the documented attribute contract.

use actix_web::HttpResponse;

use crate::faults::Route;
use crate::html::javascript;
use crate::site::{Site, respond};

/// Source of the button script.
pub const BUTTON_JS: &str = include_str!("assets/button.js");

/// Serves the button script.
pub async fn script(site: Site) -> HttpResponse {
    respond(
        async {
            site.enter(Route::Button).await?;
            site.require_consent_host()?;
            Ok(javascript(BUTTON_JS))
        }
        .await,
    )
}
