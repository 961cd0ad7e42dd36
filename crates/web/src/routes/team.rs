//! `/settings/team`: the workspace's members and invitations.
//!
//! Everyone sees who is on the team; forms are rendered only for what the member's role allows
//! (and each POST checks the permission again through its extractor and the domain service).

use crate::i18n::Translate as _;
use actix_session::Session;
use actix_web::{
    HttpResponse,
    http::{StatusCode, header},
    web,
};
use askama::Template;
use domain::{
    ids::{InviteId, UserId},
    teams::{CreatedInvite, InviteMail, InviteRecord, InviteState, Permission, Role, Teammate},
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use crate::{
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::{Chrome, when},
    session::{self, ManageMembers, Require, SignedIn, TransferOwnership, ViewMembers},
    state::AppState,
};

pub fn routes() -> Vec<PageRoute> {
    let manage = Access::Member(Permission::ManageMembers);
    vec![
        PageRoute::get(
            "/settings/team",
            Access::Member(Permission::ViewMembers),
            |r| r.to(page),
        ),
        PageRoute::post("/settings/team/invites", manage, |r| r.to(invite)),
        PageRoute::post("/settings/team/invites/{id}/revoke", manage, |r| {
            r.to(revoke_invite)
        }),
        PageRoute::post("/settings/team/members/{user}/role", manage, |r| {
            r.to(change_role)
        }),
        PageRoute::post("/settings/team/members/{user}/remove", manage, |r| {
            r.to(remove)
        }),
        PageRoute::post(
            "/settings/team/members/{user}/transfer",
            Access::Member(Permission::TransferOwnership),
            |r| r.to(transfer),
        ),
        PageRoute::post("/settings/team/leave", Access::SignedIn, |r| r.to(leave)),
    ]
}

/// A member as a table row.
#[derive(Debug)]
pub struct MemberRow {
    pub user: String,
    pub email: String,
    pub role: &'static str,
    pub joined: String,
    pub is_me: bool,
    /// The roles the viewer may move this member to (empty: no role form).
    pub role_choices: Vec<&'static str>,
    pub removable: bool,
    pub can_take_ownership: bool,
}

/// An invitation as a table row: never its link.
#[derive(Debug)]
pub struct InviteRow {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub invited_by: String,
    pub state: &'static str,
    pub expires: String,
}

impl InviteRow {
    fn new(invite: &InviteRecord, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            id: invite.id.to_string(),
            email: invite.email.to_string(),
            role: invite.role.as_str(),
            invited_by: invite.invited_by_email.clone(),
            state: invite.state(now).as_str(),
            expires: when(Some(invite.expires_at)),
        }
    }
}

/// A new invitation's link, shown once. Deliberately not `Debug`.
pub struct NewInvite {
    pub email: String,
    pub link: String,
    pub mail: &'static str,
}

#[derive(Template)]
#[template(path = "team.html")]
pub struct TeamPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub members: Vec<MemberRow>,
    pub invites: Vec<InviteRow>,
    pub invite_roles: Vec<&'static str>,
    pub created: Option<NewInvite>,
    pub errors: Vec<String>,
    pub email: String,
    pub mail_available: bool,
    pub sole_owner: bool,
}

fn member_row(mate: &Teammate, who: &SignedIn) -> MemberRow {
    let me = &who.member;
    let is_me = mate.user == me.user_id;
    let role_choices = if is_me || !me.role.allows(Permission::ManageMembers) {
        Vec::new()
    } else {
        Role::ALL
            .into_iter()
            .filter(|to| *to == mate.role || me.role.may_assign(Some(mate.role), *to))
            .map(Role::as_str)
            .collect()
    };
    MemberRow {
        user: mate.user.to_string(),
        email: mate.email.to_string(),
        role: mate.role.as_str(),
        joined: when(Some(mate.joined_at)),
        is_me,
        // A role form with one choice (the current role) changes nothing: not rendered.
        role_choices: if role_choices.len() > 1 {
            role_choices
        } else {
            Vec::new()
        },
        removable: !is_me
            && me.role.allows(Permission::ManageMembers)
            && (mate.role != Role::Owner || me.role == Role::Owner),
        can_take_ownership: !is_me
            && mate.role != Role::Owner
            && me.role.allows(Permission::TransferOwnership),
    }
}

async fn team_page(
    state: &AppState,
    who: &SignedIn,
    created: Option<CreatedInvite>,
    errors: Vec<String>,
    email: String,
) -> Result<TeamPage, PageError> {
    let mates = state.teams.teammates(&who.member).await?;
    let now = state.clock.now();
    let invites = if who.member.role.allows(Permission::ManageMembers) {
        state.teams.invites(&who.member).await?
    } else {
        Vec::new()
    };
    let owners = mates.iter().filter(|m| m.role == Role::Owner).count();
    Ok(TeamPage {
        chrome: Chrome::signed_in(who, "team"),
        csrf_token: who.csrf_token.clone(),
        members: mates.iter().map(|m| member_row(m, who)).collect(),
        invites: invites
            .iter()
            .filter(|i| i.state(now) != InviteState::Accepted)
            .map(|i| InviteRow::new(i, now))
            .collect(),
        invite_roles: who
            .member
            .role
            .assignable()
            .into_iter()
            .map(Role::as_str)
            .collect(),
        created: created.map(|c| NewInvite {
            email: c.invite.email.to_string(),
            link: c.link.expose_secret().to_owned(),
            mail: match c.mail {
                InviteMail::Sent => "sent",
                InviteMail::NotConfigured => "off",
                InviteMail::Failed => "failed",
            },
        }),
        errors,
        email,
        mail_available: state.teams.mail_available(),
        sole_owner: who.member.role == Role::Owner && owners == 1,
    })
}

/// `GET /settings/team`
async fn page(
    state: web::Data<AppState>,
    who: Require<ViewMembers>,
) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &team_page(&state, &who, None, Vec::new(), String::new()).await?,
    )
}

#[derive(Deserialize)]
struct InviteFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /settings/team/invites`: shows the new link once (never stored, never redirected to).
async fn invite(
    CsrfForm(form): CsrfForm<InviteFields>,
    state: web::Data<AppState>,
    who: Require<ManageMembers>,
) -> Result<HttpResponse, PageError> {
    match state
        .teams
        .invite(&who.member, &who.principal(), &form.email, &form.role)
        .await
    {
        Ok(created) => {
            let page = team_page(&state, &who, Some(created), Vec::new(), String::new()).await?;
            let mut response = render(StatusCode::OK, &page)?;
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(e @ (domain::Error::Invalid(_) | domain::Error::Team(_))) => {
            let problem = AppError::from(e).problem();
            let page = team_page(
                &state,
                &who,
                None,
                vec![problem.localized_detail()],
                form.email.chars().take(254).collect(),
            )
            .await?;
            render(problem.status, &page)
        }
        Err(e) => Err(e.into()),
    }
}

fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, PageError> {
    raw.parse().map_err(|_| PageError(AppError::NotFound))
}

/// `POST /settings/team/invites/{id}/revoke`
async fn revoke_invite(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: Require<ManageMembers>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: InviteId = parse_id(&id)?;
    state
        .teams
        .revoke_invite(&who.member, &who.principal(), id)
        .await?;
    Ok(see_other("/settings/team"))
}

#[derive(Deserialize)]
struct RoleFields {
    #[serde(default)]
    role: String,
}

/// `POST /settings/team/members/{user}/role`
async fn change_role(
    CsrfForm(form): CsrfForm<RoleFields>,
    state: web::Data<AppState>,
    who: Require<ManageMembers>,
    user: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let user: UserId = parse_id(&user)?;
    state
        .teams
        .change_role(&who.member, &who.principal(), user, &form.role)
        .await?;
    Ok(see_other("/settings/team"))
}

/// `POST /settings/team/members/{user}/remove`: their sessions in this workspace end at once.
async fn remove(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: Require<ManageMembers>,
    user: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let user: UserId = parse_id(&user)?;
    state
        .teams
        .remove_member(&who.member, &who.principal(), user)
        .await?;
    Ok(see_other("/settings/team"))
}

/// `POST /settings/team/members/{user}/transfer`: they become an owner, the actor an admin.
async fn transfer(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: Require<TransferOwnership>,
    user: web::Path<String>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let user: UserId = parse_id(&user)?;
    state
        .teams
        .transfer_ownership(&who.member, &who.principal(), user)
        .await?;
    // The actor's privileges dropped: a fresh session id, as for any privilege change.
    session::switch(&session, Some(who.member.workspace_id))?;
    Ok(see_other("/settings/team"))
}

/// `POST /settings/team/leave`: the member leaves; the session moves to another workspace of
/// theirs, if any.
async fn leave(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: SignedIn,
    session: Session,
) -> Result<HttpResponse, PageError> {
    state.teams.leave(&who.member, &who.principal()).await?;
    let next = state.accounts.first_member(who.member.user_id).await?;
    session::switch(&session, next.as_ref().map(|m| m.workspace_id))?;
    Ok(see_other(if next.is_some() {
        "/dashboard"
    } else {
        "/workspaces/new"
    }))
}
