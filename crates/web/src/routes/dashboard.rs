use actix_web::{HttpResponse, http::StatusCode, web};
use domain::{
    connect::{ButtonInput, ButtonSettings},
    connections::ConnectionFilter,
};
use serde::Deserialize;

use super::{render, see_other};
use crate::{
    csrf::CsrfForm,
    error::PageError,
    pages::{ButtonView, Chrome, ConnectionRow, DashboardPage, messages},
    session::SignedIn,
    state::AppState,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(dashboard))
        .route("/buttons", web::post().to(add_button));
}

async fn dashboard_page(
    state: &AppState,
    who: &SignedIn,
    errors: Vec<String>,
) -> Result<DashboardPage, PageError> {
    let workspace = who.member.workspace_id;
    let public = state.settings.public_base();
    let buttons = state.connect.buttons(workspace).await?;
    let recent = state
        .connections
        .list(workspace, &ConnectionFilter::default(), None, 5)
        .await?;
    Ok(DashboardPage {
        chrome: Chrome::signed_in(who, "dashboard"),
        workspace: who.member.workspace_name.clone(),
        csrf_token: who.csrf_token.clone(),
        buttons: buttons.iter().map(|b| ButtonView::new(b, public)).collect(),
        recent: recent.items.iter().map(ConnectionRow::from).collect(),
        default_logo: state.connect.urls().default_logo.to_string(),
        errors,
    })
}

/// `GET /dashboard`
async fn dashboard(state: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &dashboard_page(&state, &who, Vec::new()).await?,
    )
}

#[derive(Deserialize)]
struct ButtonFields {
    #[serde(default)]
    platform: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    color: String,
    #[serde(default)]
    mode: String,
    scope_crm: Option<String>,
    scope_notifications: Option<String>,
    compact: Option<String>,
}

/// `POST /buttons`: adds a connect button to the workspace.
async fn add_button(
    CsrfForm(form): CsrfForm<ButtonFields>,
    state: web::Data<AppState>,
    who: SignedIn,
) -> Result<HttpResponse, PageError> {
    let scopes: Vec<String> = [
        ("crm", &form.scope_crm),
        ("notifications", &form.scope_notifications),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(scope, _)| scope.to_owned())
    .collect();
    let input = ButtonInput {
        platform: &form.platform,
        name: &form.name,
        description: &form.description,
        logo_url: &form.logo_url,
        scopes: &scopes,
        title: &form.title,
        color: &form.color,
        compact: form.compact.is_some(),
        mode: &form.mode,
    };
    match ButtonSettings::parse(&input, !state.settings.is_production()) {
        Ok(settings) => {
            state
                .connect
                .create_button(who.member.workspace_id, settings)
                .await?;
            Ok(see_other("/dashboard"))
        }
        Err(errors) => render(
            StatusCode::BAD_REQUEST,
            &dashboard_page(&state, &who, messages(&errors)).await?,
        ),
    }
}
