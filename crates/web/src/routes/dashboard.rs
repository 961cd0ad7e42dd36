use actix_session::Session;
use actix_web::{HttpResponse, http::StatusCode, web};
use domain::{
    connect::{ButtonInput, ButtonSettings},
    connections::ConnectionFilter,
    ids::ButtonId,
};
use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use domain::teams::Permission;

use crate::{
    charts::DashboardCharts,
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    flash::{self, Notice},
    pages::{
        ButtonEditPage, ButtonForm, ButtonView, Chrome, ConnectionRow, DashboardPage, messages,
    },
    session::{ManageButtons, Require, SignedIn, ViewConnections},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    vec![
        PageRoute::get(
            "/dashboard",
            Access::Member(Permission::ViewConnections),
            |r| r.to(dashboard),
        ),
        PageRoute::post("/buttons", Access::Member(Permission::ManageButtons), |r| {
            r.to(add_button)
        }),
        PageRoute::get(
            "/buttons/{id}",
            Access::Member(Permission::ManageButtons),
            |r| r.to(edit_button),
        ),
        PageRoute::post(
            "/buttons/{id}",
            Access::Member(Permission::ManageButtons),
            |r| r.to(save_button),
        ),
        PageRoute::post(
            "/buttons/{id}/delete",
            Access::Member(Permission::ManageButtons),
            |r| r.to(delete_button),
        ),
    ]
}

/// A button id from the path; anything that is not a UUID is simply not found.
fn button_id(raw: &str) -> Result<ButtonId, PageError> {
    raw.parse().map_err(|_| PageError(AppError::NotFound))
}

async fn dashboard_page(
    state: &AppState,
    who: &SignedIn,
    form: Option<ButtonForm>,
    errors: Vec<String>,
) -> Result<DashboardPage, PageError> {
    let workspace = who.member.workspace_id;
    let public = state.settings.public_base();
    let buttons = state.connect.buttons(workspace).await?;
    let recent = state
        .connections
        .list(workspace, &ConnectionFilter::default(), None, 5)
        .await?;
    let charts = DashboardCharts::new(
        &state.activity.status_counts(workspace).await?,
        &state.activity.daily(workspace, 14).await?,
    );
    Ok(DashboardPage {
        chrome: Chrome::signed_in(who, "dashboard"),
        workspace: who.member.workspace_name.clone(),
        csrf_token: who.csrf_token.clone(),
        buttons: buttons.iter().map(|b| ButtonView::new(b, public)).collect(),
        recent: recent.items.iter().map(ConnectionRow::from).collect(),
        form: form
            .unwrap_or_else(|| ButtonForm::new_button(state.connect.urls().default_logo.as_str())),
        errors,
        charts,
    })
}

/// `GET /dashboard`
async fn dashboard(
    state: web::Data<AppState>,
    who: Require<ViewConnections>,
) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &dashboard_page(&state, &who, None, Vec::new()).await?,
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

impl ButtonFields {
    fn scopes(&self) -> Vec<String> {
        [
            ("crm", &self.scope_crm),
            ("notifications", &self.scope_notifications),
        ]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(scope, _)| scope.to_owned())
        .collect()
    }

    fn settings(&self, state: &AppState) -> Result<ButtonSettings, Vec<String>> {
        let scopes = self.scopes();
        let input = ButtonInput {
            platform: &self.platform,
            name: &self.name,
            description: &self.description,
            logo_url: &self.logo_url,
            scopes: &scopes,
            title: &self.title,
            color: &self.color,
            compact: self.compact.is_some(),
            mode: &self.mode,
        };
        ButtonSettings::parse(&input, !state.settings.is_production()).map_err(|e| messages(&e))
    }

    /// What was typed, to show again on a refused form (clipped to what the fields allow).
    fn typed(&self, action: String, submit: &'static str) -> ButtonForm {
        let clip = |text: &str, max: usize| text.chars().take(max).collect::<String>();
        ButtonForm {
            action,
            submit,
            platform: clip(&self.platform, 16),
            name: clip(&self.name, 255),
            description: clip(&self.description, 2000),
            logo_url: clip(&self.logo_url, 2000),
            title: clip(&self.title, 120),
            color: clip(&self.color, 16),
            mode: clip(&self.mode, 16),
            scope_crm: self.scope_crm.is_some(),
            scope_notifications: self.scope_notifications.is_some(),
            compact: self.compact.is_some(),
        }
    }
}

/// `POST /buttons`: adds a connect button to the workspace. A refused form is shown again with
/// everything typed.
async fn add_button(
    CsrfForm(form): CsrfForm<ButtonFields>,
    state: web::Data<AppState>,
    who: Require<ManageButtons>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    match form.settings(&state) {
        Ok(settings) => {
            state
                .buttons
                .create(who.member.workspace_id, settings, &who.principal())
                .await?;
            flash::notice(&session, Notice::ButtonSaved)?;
            Ok(see_other("/dashboard"))
        }
        Err(errors) => {
            let typed = form.typed("/buttons".to_owned(), "dash-add-submit");
            render(
                StatusCode::BAD_REQUEST,
                &dashboard_page(&state, &who, Some(typed), errors).await?,
            )
        }
    }
}

async fn edit_page(
    state: &AppState,
    who: &SignedIn,
    id: ButtonId,
    form: Option<ButtonForm>,
    errors: Vec<String>,
) -> Result<ButtonEditPage, PageError> {
    let button = state.buttons.get(who.member.workspace_id, id).await?;
    Ok(ButtonEditPage {
        chrome: Chrome::signed_in(who, "dashboard"),
        csrf_token: who.csrf_token.clone(),
        button: ButtonView::new(&button, state.settings.public_base()),
        form: form.unwrap_or_else(|| ButtonForm::of(&button)),
        errors,
    })
}

/// `GET /buttons/{id}`: the button's form, filled in with its settings.
async fn edit_button(
    state: web::Data<AppState>,
    who: Require<ManageButtons>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = button_id(&id)?;
    render(
        StatusCode::OK,
        &edit_page(&state, &who, id, None, Vec::new()).await?,
    )
}

/// `POST /buttons/{id}`: saves the button's settings (its connect link and embed stay).
async fn save_button(
    CsrfForm(form): CsrfForm<ButtonFields>,
    state: web::Data<AppState>,
    who: Require<ManageButtons>,
    id: web::Path<String>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let id = button_id(&id)?;
    let workspace = who.member.workspace_id;
    // Another workspace's button is not found, whatever the form holds.
    state.buttons.get(workspace, id).await?;
    match form.settings(&state) {
        Ok(settings) => {
            state
                .buttons
                .update(workspace, id, settings, &who.principal())
                .await?;
            flash::notice(&session, Notice::ButtonSaved)?;
            Ok(see_other("/dashboard"))
        }
        Err(errors) => {
            let typed = form.typed(format!("/buttons/{id}"), "button-save");
            render(
                StatusCode::BAD_REQUEST,
                &edit_page(&state, &who, id, Some(typed), errors).await?,
            )
        }
    }
}

/// `POST /buttons/{id}/delete`: the button's link and embed stop working; connections made
/// through it stay.
async fn delete_button(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: Require<ManageButtons>,
    id: web::Path<String>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let id = button_id(&id)?;
    state
        .buttons
        .delete(who.member.workspace_id, id, &who.principal())
        .await?;
    flash::notice(&session, Notice::ButtonDeleted)?;
    Ok(see_other("/dashboard"))
}
