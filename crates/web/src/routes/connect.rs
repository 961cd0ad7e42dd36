//! The public side of a connect button: the hosted page, the embed loader, the result page.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::StatusCode,
    web,
};
use domain::amo::Platform;
use domain::{connect::StartedFlow, ids::FlowId};

use super::{
    connect_return::{ReturnQuery, ReturnTo},
    render,
};
use crate::{
    error::{AppError, PageError},
    pages::{Back, ConnectDonePage, ConnectPage, platform_name},
    state::{AppState, ButtonScripts},
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connect/done/{flow}", web::get().to(done))
        .route("/connect/s/{token}", web::get().to(session_page))
        .route("/connect/{key}", web::get().to(connect_page))
        .route("/embed/{file}", web::get().to(embed));
}

/// The cookie that ties a connect flow to the browser that started it (docs/security-requirements.md R14/R15).
pub(crate) fn binding_cookie_name(production: bool) -> &'static str {
    if production {
        "__Host-amolink_connect"
    } else {
        "amolink_connect"
    }
}

pub(crate) fn binding_from(req: &HttpRequest, production: bool) -> Option<String> {
    req.cookie(binding_cookie_name(production))
        .map(|c| c.value().to_owned())
}

/// `GET /connect/{key}`: a fresh single-use state per view, rendered into amoCRM's button tag.
async fn connect_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, PageError> {
    let production = state.settings.is_production();
    let started = state
        .connect
        .start(&key, binding_from(&req, production).as_deref(), None)
        .await?;
    flow_page(&state, started, &ReturnTo::from_query(&query))
}

/// `GET /connect/s/{token}`: a connect session's hosted page. The first browser to open the
/// link redeems it; the flow it starts carries the session's end user and metadata.
async fn session_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, PageError> {
    let production = state.settings.is_production();
    let started = state
        .api
        .sessions
        .open(&token, binding_from(&req, production).as_deref())
        .await?;
    flow_page(&state, started, &ReturnTo::from_query(&query))
}

/// The hosted page for a started flow, with the browser-binding cookie and the cookie carrying
/// where the end user came from to the result page.
fn flow_page(
    state: &AppState,
    started: StartedFlow,
    return_to: &ReturnTo,
) -> Result<HttpResponse, PageError> {
    let production = state.settings.is_production();
    let settings = &started.button.settings;
    let platform = settings.platform;
    let script_src = match &state.button_scripts {
        ButtonScripts::Official => platform.button_script_url().to_owned(),
        ButtonScripts::Simulator(prefix) => {
            format!("{prefix}/{}/auth/button.min.js", platform.consent_host())
        }
    };
    let urls = state.connect.urls();
    let page = ConnectPage {
        platform_name: platform_name(platform),
        kommo: platform == Platform::Kommo,
        script_class: platform.button_script_class(),
        script_src,
        name: settings.name.clone(),
        description: settings.description.clone(),
        redirect_uri: urls.redirect_uri.clone(),
        secrets_uri: urls.secrets_uri.clone(),
        logo_url: settings.logo_url.to_string(),
        scopes: settings.scopes_attribute(),
        title: settings.title.clone(),
        compact: settings.compact,
        color: settings.color.as_str(),
        mode: settings.mode.as_str(),
        state: started.state.expose().to_owned(),
        demo: matches!(state.button_scripts, ButtonScripts::Simulator(_)),
        embed_origin: return_to.embed_origin.clone().unwrap_or_default(),
    };
    let mut response = render(StatusCode::OK, &page)?;
    let cookie = Cookie::build(binding_cookie_name(production), started.binding)
        .path("/")
        .http_only(true)
        .secure(production)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::minutes(30))
        .finish();
    response
        .add_cookie(&cookie)
        .and_then(|()| response.add_cookie(&return_to.cookie(production)))
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("cannot set the binding cookie: {e}")))?;
    Ok(response)
}

/// `GET /embed/{key}.js`: a loader for the tenant's own site. It renders a button that opens
/// the hosted page in a popup, so no third-party cookie is ever needed, and fires
/// `amolink:connected` / `amolink:declined` / `amolink:error` and, once the popup has really
/// closed, `amolink:closed` on its script tag (contract.md).
async fn embed(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let key = file.strip_suffix(".js").ok_or(AppError::NotFound)?;
    let button = state
        .connect
        .buttons_by_key(key)
        .await?
        .ok_or(AppError::NotFound)?;
    let public = state.settings.public_base();
    let url = format!("{public}/connect/{}", button.key);
    let js = EMBED_TEMPLATE
        .replace("__URL__", &serde_json::to_string(&url).unwrap_or_default())
        .replace(
            "__TITLE__",
            &serde_json::to_string(&button.settings.title).unwrap_or_default(),
        );
    Ok(HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(js))
}

/// The embed loader. The placeholders receive JSON string literals, which cannot break out of
/// the script whatever the button's title contains.
const EMBED_TEMPLATE: &str = include_str!("../../../../static/embed.js");

/// `GET /connect/done/{flow}`: the clean page after a flow, with no code or state in its URL.
async fn done(
    req: HttpRequest,
    state: web::Data<AppState>,
    flow: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: FlowId = flow.parse().map_err(|_| AppError::NotFound)?;
    let production = state.settings.is_production();
    let result = state
        .connect
        .result_for_browser(id, binding_from(&req, production).as_deref())
        .await?;
    let return_to = ReturnTo::from_request(&req, production);
    render(
        StatusCode::OK,
        &ConnectDonePage {
            connected: result.connected,
            account_name: result.account_name.unwrap_or_default(),
            message: "connect-failed-text",
            mode: result.mode.as_str(),
            connection_id: result.connection.map(|c| c.to_string()).unwrap_or_default(),
            end_user_id: result.end_user_id.unwrap_or_default(),
            back: Back::new(&return_to),
        },
    )
}
