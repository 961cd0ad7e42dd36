//! The workspace's connected accounts.

use actix_web::{HttpResponse, http::StatusCode, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use domain::amo::Platform;
use domain::{
    activity::{ActivityFilter, ActivityKind, StatusClass},
    connections::{ConnectionEvent, ConnectionFilter, ConnectionStatus, EventKind},
    ids::{ConnectionId, WorkspaceId},
};
use serde::Deserialize;

use super::{
    render, see_other,
    table::{Access, PageRoute},
};
use domain::teams::Permission;

use crate::{
    charts::{ActivityRow, ConnectionActivity, HourlyCharts, TimelinePoint},
    csrf::{CsrfForm, NoFields},
    error::{AppError, PageError},
    pages::{Chrome, ConnectionPage, ConnectionRow, ConnectionsPage, EventRow, RelayRow},
    session::{Require, RevokeConnections, ViewConnections},
    state::AppState,
};

const PAGE_SIZE: u64 = 50;

pub fn routes() -> Vec<PageRoute> {
    let view = Access::Member(Permission::ViewConnections);
    vec![
        PageRoute::get("/connections", view, |r| r.to(list)),
        // Before `/connections/{id}`, which would take `statuses` for an id.
        PageRoute::get("/connections/statuses", view, |r| r.to(statuses)),
        PageRoute::get("/connections/{id}", view, |r| r.to(detail)),
        PageRoute::post(
            "/connections/{id}/revoke",
            Access::Member(Permission::RevokeConnections),
            |r| r.to(revoke),
        ),
    ]
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    platform: String,
    cursor: Option<String>,
}

/// An id from the path; anything that is not a UUID is simply not found.
fn connection_id(raw: &str) -> Result<ConnectionId, PageError> {
    raw.parse().map_err(|_| PageError(AppError::NotFound))
}

/// `GET /connections`
async fn list(
    state: web::Data<AppState>,
    who: Require<ViewConnections>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let filter = ConnectionFilter {
        status: query.status.parse::<ConnectionStatus>().ok(),
        platform: query.platform.parse::<Platform>().ok(),
        search: Some(query.q.chars().take(100).collect()),
        end_user_id: None,
    };
    let page = state
        .connections
        .list(
            who.member.workspace_id,
            &filter,
            query.cursor.as_deref(),
            PAGE_SIZE,
        )
        .await?;
    let filters = serde_urlencoded::to_string([
        ("q", query.q.as_str()),
        ("status", filter.status.map_or("", ConnectionStatus::as_str)),
        (
            "platform",
            if filter.platform.is_some() {
                query.platform.as_str()
            } else {
                ""
            },
        ),
    ])
    .unwrap_or_default();
    render(
        StatusCode::OK,
        &ConnectionsPage {
            chrome: Chrome::signed_in(&who, "connections"),
            rows: page.items.iter().map(ConnectionRow::from).collect(),
            statuses: ConnectionStatus::ALL.iter().map(|s| s.as_str()).collect(),
            filtered: filter.status.is_some()
                || filter.platform.is_some()
                || !query.q.trim().is_empty(),
            q: query.q,
            status: filter
                .status
                .map_or("", ConnectionStatus::as_str)
                .to_owned(),
            platform: filter.platform.map(|p| p.to_string()).unwrap_or_default(),
            first_page: if query.cursor.is_some() {
                format!("/connections?{filters}")
            } else {
                String::new()
            },
            next_page: page
                .next
                .map(|cursor| format!("/connections?{filters}&cursor={}", cursor.encode()))
                .unwrap_or_default(),
        },
    )
}

#[derive(Deserialize)]
struct StatusQuery {
    /// Comma-separated connection ids.
    #[serde(default)]
    ids: String,
}

/// One connection's badge, as the page's script redraws it.
#[derive(serde::Serialize)]
struct StatusBadge {
    id: String,
    status: &'static str,
    label: String,
    class: &'static str,
}

/// `GET /connections/statuses?ids=…`: the current status badges of the listed connections of
/// the workspace (JSON for `static/live-status.js`; unknown and other workspaces' ids are left
/// out).
async fn statuses(
    state: web::Data<AppState>,
    who: Require<ViewConnections>,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, PageError> {
    let ids: Vec<ConnectionId> = query
        .ids
        .split(',')
        .take(domain::connections::MAX_STATUS_LOOKUPS)
        .filter_map(|raw| raw.trim().parse().ok())
        .collect();
    let found = state
        .connections
        .statuses(who.member.workspace_id, &ids)
        .await?;
    let connections: Vec<StatusBadge> = found
        .into_iter()
        .map(|(id, status)| StatusBadge {
            id: id.to_string(),
            status: status.as_str(),
            label: crate::i18n::t(&format!("status-{}", status.as_str())),
            class: crate::pages::status_class(status),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "connections": connections })))
}

/// `GET /connections/{id}`
async fn detail(
    state: web::Data<AppState>,
    who: Require<ViewConnections>,
    id: web::Path<String>,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, PageError> {
    let id = connection_id(&id)?;
    let (summary, events) = state
        .connections
        .detail(who.member.workspace_id, id)
        .await?;
    let relay = state
        .relay
        .relay
        .subscription(who.member.workspace_id, id)
        .await?;
    let activity = connection_activity(
        &state,
        who.member.workspace_id,
        id,
        &events,
        query.into_inner(),
    )
    .await?;
    render(
        StatusCode::OK,
        &ConnectionPage {
            chrome: Chrome::signed_in(&who, "connections"),
            revoked: summary.status == ConnectionStatus::Revoked,
            c: ConnectionRow::from(&summary),
            events: events.iter().map(EventRow::from).collect(),
            csrf_token: who.csrf_token.clone(),
            relay: relay.as_ref().map(RelayRow::from),
            activity,
        },
    )
}

/// The activity filters of a connection's page (`_activity.html`).
#[derive(Deserialize, Default)]
struct ActivityQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<String>,
}

fn bad_filter(detail: &str) -> PageError {
    PageError(AppError::BadRequest(detail.to_owned()))
}

/// A time from the filter form: RFC 3339, or a `datetime-local` value read as UTC.
fn filter_time(raw: &str, name: &str) -> Result<Option<DateTime<Utc>>, PageError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").map(|t| t.and_utc()))
        .map(Some)
        .map_err(|_| bad_filter(&format!("{name}: enter a date and time")))
}

/// How a history event is marked on the timeline.
const fn tone(kind: EventKind) -> &'static str {
    match kind {
        EventKind::RefreshFailed | EventKind::EventsPaused | EventKind::RateLimited => "warn",
        EventKind::NeedsReauth | EventKind::Disconnected | EventKind::Revoked => "bad",
        EventKind::SecretsReceived
        | EventKind::Connected
        | EventKind::Reconnected
        | EventKind::Refreshed
        | EventKind::Resumed
        | EventKind::EventsResumed => "ok",
    }
}

/// Charts, timeline and one page of the filtered activity list.
async fn connection_activity(
    state: &AppState,
    workspace: WorkspaceId,
    id: ConnectionId,
    events: &[ConnectionEvent],
    query: ActivityQuery,
) -> Result<ConnectionActivity, PageError> {
    let filter = ActivityFilter {
        kind: Some(query.kind.as_str())
            .filter(|k| !k.is_empty())
            .map(str::parse::<ActivityKind>)
            .transpose()
            .map_err(|_| bad_filter("kind: choose one of the listed kinds"))?,
        status: Some(query.status.as_str())
            .filter(|s| !s.is_empty())
            .map(str::parse::<StatusClass>)
            .transpose()
            .map_err(|_| bad_filter("status: choose 2xx, 4xx or 5xx"))?,
        from: filter_time(&query.from, "from")?,
        to: filter_time(&query.to, "to")?,
    };
    let page = state
        .activity
        .list(workspace, id, &filter, query.cursor.as_deref(), PAGE_SIZE)
        .await?;
    let hourly = state.activity.hourly(workspace, id, 24).await?;
    let filters = serde_urlencoded::to_string([
        ("kind", query.kind.as_str()),
        ("status", query.status.as_str()),
        ("from", query.from.as_str()),
        ("to", query.to.as_str()),
    ])
    .unwrap_or_default();
    Ok(ConnectionActivity {
        hourly: HourlyCharts::new(&hourly),
        timeline: events
            .iter()
            .map(|e| TimelinePoint {
                at: e.at,
                label: crate::i18n::t(&format!("event-{}", e.kind.as_str())),
                tone: tone(e.kind),
            })
            .collect(),
        now: state.clock.now(),
        rows: page.items.iter().map(ActivityRow::from).collect(),
        next: page
            .next
            .map(|cursor| {
                format!(
                    "/connections/{id}?{filters}&cursor={}#activity",
                    cursor.encode()
                )
            })
            .unwrap_or_default(),
        kind: query.kind,
        status: query.status,
        from: query.from,
        to: query.to,
    })
}

/// `POST /connections/{id}/revoke`
async fn revoke(
    CsrfForm(_): CsrfForm<NoFields>,
    state: web::Data<AppState>,
    who: Require<RevokeConnections>,
    id: web::Path<String>,
    session: actix_session::Session,
) -> Result<HttpResponse, PageError> {
    let id = connection_id(&id)?;
    state
        .connections
        .revoke(who.member.workspace_id, id, &who.principal())
        .await?;
    crate::flash::notice(&session, crate::flash::Notice::ConnectionRevoked)?;
    Ok(see_other(&format!("/connections/{id}")))
}
