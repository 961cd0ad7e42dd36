//! The stylesheet, script and icon, compiled into the binary so a release build runs from any
//! directory (and in a scratch container) without a `static/` folder beside it.

use actix_web::{HttpResponse, web};

use crate::error::{AppError, PageError};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/app.js"),
    },
    Asset {
        name: "button-form.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/button-form.js"),
    },
    Asset {
        name: "live-status.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/live-status.js"),
    },
    Asset {
        name: "connect.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/connect.js"),
    },
    Asset {
        name: "connect-done.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/connect-done.js"),
    },
    Asset {
        name: "logo.png",
        content_type: "image/png",
        body: include_bytes!("../../../static/logo.png"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../static/favicon.svg"),
    },
];

/// `GET /static/{name}`
///
/// # Errors
/// 404 for unknown names.
pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, PageError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .body(asset.body))
}
