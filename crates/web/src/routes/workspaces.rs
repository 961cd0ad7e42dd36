//! Workspaces of one's own: switching between them, creating another, and deleting one.

use crate::i18n::Translate as _;
use actix_session::Session;
use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use domain::{accounts::WorkspaceName, ids::WorkspaceId, teams::Permission};
use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use crate::{
    csrf::CsrfForm,
    error::{AppError, PageError},
    pages::Chrome,
    session::{self, Account, DeleteWorkspace, Require, SignedIn},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    let delete = Access::Member(Permission::DeleteWorkspace);
    vec![
        PageRoute::post("/workspaces/switch", Access::SignedIn, |r| r.to(switch)),
        PageRoute::get("/workspaces/new", Access::SignedIn, |r| r.to(new_form)),
        PageRoute::post("/workspaces", Access::SignedIn, |r| r.to(create)),
        PageRoute::get("/settings/workspace", delete, |r| r.to(settings)),
        PageRoute::post("/settings/workspace/delete", delete, |r| {
            r.to(delete_workspace)
        }),
    ]
}

#[derive(Deserialize)]
struct SwitchFields {
    #[serde(default)]
    workspace: String,
}

/// `POST /workspaces/switch`: only to a workspace the user belongs to (anything else: 404).
async fn switch(
    CsrfForm(form): CsrfForm<SwitchFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let target: WorkspaceId = form
        .workspace
        .parse()
        .map_err(|_| PageError(AppError::NotFound))?;
    let member = state
        .accounts
        .member(who.member.user_id, target)
        .await?
        .ok_or(AppError::NotFound)?;
    session::switch(&session, Some(member.workspace_id))?;
    Ok(see_other("/dashboard"))
}

#[derive(Template)]
#[template(path = "workspace_new.html")]
pub struct NewWorkspacePage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub name: String,
    pub errors: Vec<String>,
}

/// `GET /workspaces/new`
async fn new_form(who: Account) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &NewWorkspacePage {
            chrome: Chrome::anonymous(),
            csrf_token: who.csrf_token,
            email: who.email.to_string(),
            name: String::new(),
            errors: Vec::new(),
        },
    )
}

#[derive(Deserialize)]
struct NameFields {
    #[serde(default)]
    name: String,
}

/// `POST /workspaces`: a new workspace owned by the signed-in user, who moves into it.
async fn create(
    CsrfForm(form): CsrfForm<NameFields>,
    state: web::Data<AppState>,
    who: Account,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let name = match WorkspaceName::parse(&form.name) {
        Ok(name) => name,
        Err(e) => {
            return render(
                StatusCode::BAD_REQUEST,
                &NewWorkspacePage {
                    chrome: Chrome::anonymous(),
                    csrf_token: who.csrf_token,
                    email: who.email.to_string(),
                    name: form.name.chars().take(80).collect(),
                    errors: vec![crate::pages::validation_message(&e)],
                },
            );
        }
    };
    let member = state
        .accounts
        .create_workspace(who.user, &who.email, name, who.client)
        .await?;
    session::switch(&session, Some(member.workspace_id))?;
    Ok(see_other("/dashboard"))
}

#[derive(Template)]
#[template(path = "workspace_settings.html")]
pub struct WorkspaceSettingsPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub workspace: String,
    pub errors: Vec<String>,
}

fn settings_page(who: &SignedIn, errors: Vec<String>) -> WorkspaceSettingsPage {
    WorkspaceSettingsPage {
        chrome: Chrome::signed_in(who, "team"),
        csrf_token: who.csrf_token.clone(),
        workspace: who.member.workspace_name.clone(),
        errors,
    }
}

/// `GET /settings/workspace`
async fn settings(who: Require<DeleteWorkspace>) -> Result<HttpResponse, PageError> {
    render(StatusCode::OK, &settings_page(&who, Vec::new()))
}

/// `POST /settings/workspace/delete`: after the owner typed the workspace's name.
async fn delete_workspace(
    CsrfForm(form): CsrfForm<NameFields>,
    state: web::Data<AppState>,
    who: Require<DeleteWorkspace>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    match state
        .teams
        .delete_workspace(&who.member, &who.principal(), &form.name)
        .await
    {
        Ok(()) => {}
        Err(e @ domain::Error::Team(domain::teams::TeamError::NameMismatch)) => {
            let problem = AppError::from(e).problem();
            return render(
                problem.status,
                &settings_page(&who, vec![problem.localized_detail()]),
            );
        }
        Err(e) => return Err(e.into()),
    }
    let next = state.accounts.first_member(who.member.user_id).await?;
    session::switch(&session, next.as_ref().map(|m| m.workspace_id))?;
    Ok(see_other(if next.is_some() {
        "/dashboard"
    } else {
        "/workspaces/new"
    }))
}
