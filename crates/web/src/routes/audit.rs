//! `/settings/audit`: the workspace's audit trail for admins, with filters and keyset paging.

use crate::i18n::Translate as _;
use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    audit::{AuditAction, AuditEntry, AuditFilter},
    teams::Permission,
};
use serde::Deserialize;

use super::{
    render,
    table::{Access, PageRoute},
};
use crate::{
    error::PageError,
    pages::{Chrome, when},
    session::{Require, ViewAudit},
    state::AppState,
};

const PAGE_SIZE: u64 = 50;

pub fn routes() -> Vec<PageRoute> {
    vec![PageRoute::get(
        "/settings/audit",
        Access::Member(Permission::ViewAudit),
        |r| r.to(page),
    )]
}

#[derive(Deserialize, Default)]
struct Filters {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    #[serde(default)]
    to: String,
    cursor: Option<String>,
}

/// An entry as a table row.
#[derive(Debug)]
pub struct EntryRow {
    pub at: String,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub target: String,
    pub client: String,
    pub detail: String,
}

impl From<&AuditEntry> for EntryRow {
    fn from(e: &AuditEntry) -> Self {
        Self {
            at: when(Some(e.at)),
            actor: e.actor_label.clone(),
            actor_kind: e.actor_kind.clone(),
            action: e.action.clone(),
            target: match (&e.target_kind, &e.target_label) {
                (Some(kind), Some(label)) => format!("{kind}: {label}"),
                _ => String::new(),
            },
            client: e.client_ip.clone().unwrap_or_default(),
            detail: e
                .detail
                .as_ref()
                .map(|d| {
                    d.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub rows: Vec<EntryRow>,
    pub actions: Vec<&'static str>,
    pub action: String,
    pub actor: String,
    pub from: String,
    pub to: String,
    pub first_page: String,
    pub next_page: String,
}

fn day(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

/// `GET /settings/audit`
async fn page(
    state: web::Data<AppState>,
    who: Require<ViewAudit>,
    query: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        action: query.action.parse::<AuditAction>().ok(),
        // Addresses are stored lower-cased; key names as given.
        actor: Some(query.actor.trim()).filter(|a| !a.is_empty()).map(|a| {
            if a.contains('@') {
                a.to_lowercase()
            } else {
                a.to_owned()
            }
        }),
        since: day(&query.from),
        until: day(&query.to).map(|d| d + chrono::Duration::days(1)),
    };
    let page = state
        .audit
        .list(
            who.member.workspace_id,
            &filter,
            query.cursor.as_deref(),
            PAGE_SIZE,
        )
        .await?;
    let filters = serde_urlencoded::to_string([
        ("action", filter.action.map_or("", AuditAction::as_str)),
        ("actor", query.actor.trim()),
        ("from", query.from.trim()),
        ("to", query.to.trim()),
    ])
    .unwrap_or_default();
    render(
        StatusCode::OK,
        &AuditPage {
            chrome: Chrome::signed_in(&who, "audit"),
            rows: page.items.iter().map(EntryRow::from).collect(),
            actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
            action: filter.action.map_or("", AuditAction::as_str).to_owned(),
            actor: query.actor.trim().to_owned(),
            from: query.from.trim().to_owned(),
            to: query.to.trim().to_owned(),
            first_page: if query.cursor.is_some() {
                format!("/settings/audit?{filters}")
            } else {
                String::new()
            },
            next_page: page
                .next
                .map(|c| format!("/settings/audit?{filters}&cursor={}", c.encode()))
                .unwrap_or_default(),
        },
    )
}
