//! The token keeper inside one instance (issue 5, acceptance 4 and 5; docs/security-requirements.md R35–R41).
//! Several instances and crashes are covered by `crates/web/tests/keeper_instances.rs`.

use std::time::Duration;

use amocrm_sim::{ConfigPatch, Event, Fault, FaultKind, RefreshGrace, Route};
use amolink_tests::{Browser, Engine, TestApp, Tolerated, both_engines, spawn_app};
use domain::ids::ConnectionId;
use sea_orm::{ConnectionTrait as _, Statement};

use crate::connect::{DEMO_ADMIN_ACCOUNT, connected};

/// (status, status reason, sealed refresh token) of a connection.
async fn row(app: &TestApp, id: &str) -> (String, Option<String>, Option<String>) {
    let db = app.database.connection();
    let statement = Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "SELECT status, status_reason, refresh_token FROM connections WHERE id = $1"
            }
            _ => "SELECT status, status_reason, refresh_token FROM connections WHERE id = ?",
        },
        [id.parse::<uuid::Uuid>().unwrap().into()],
    );
    let row = db.query_one_raw(statement).await.unwrap().unwrap();
    (
        row.try_get("", "status").unwrap(),
        row.try_get("", "status_reason").unwrap(),
        row.try_get("", "refresh_token").unwrap(),
    )
}

/// Moves amolink's and amoCRM's clocks together.
fn advance(app: &TestApp, by: Duration) {
    app.clock.advance(chrono::Duration::from_std(by).unwrap());
    app.sim.advance_clock(by);
}

/// Moving the clock ends the tenant's session (12-hour absolute timeout): sign in again.
async fn sign_in_again(tenant: &Browser) {
    assert_eq!(
        tenant
            .log_in("ann@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn refresh_presentations(app: &TestApp) -> Vec<(bool, bool)> {
    app.sim
        .journal()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::RefreshPresented {
                latest, accepted, ..
            } => Some((latest, accepted)),
            _ => None,
        })
        .collect()
}

fn token_requests(app: &TestApp) -> usize {
    app.sim
        .journal()
        .iter()
        .filter(
            |e| matches!(&e.event, Event::Request { path, .. } if path == "/oauth2/access_token"),
        )
        .count()
}

async fn tokens_are_refreshed_ahead_of_expiry_with_the_latest_token(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, id) = connected(&app).await;
    let (_, _, before) = row(&app, &id).await;
    assert_eq!(
        app.keeper.run_once().await.unwrap(),
        0,
        "nothing is due right after connecting"
    );

    advance(&app, Duration::from_secs(23 * 3600));
    assert_eq!(app.keeper.run_once().await.unwrap(), 1);
    let (status, _, after) = row(&app, &id).await;
    assert_eq!(status, "active");
    assert_ne!(before, after, "the rotated refresh token was stored");
    assert_eq!(refresh_presentations(&app), vec![(true, true)]);
    sign_in_again(&tenant).await;
    assert!(
        tenant
            .get_html(&format!("/connections/{id}"))
            .await
            .contains("Tokens refreshed")
    );
    assert_eq!(
        app.keeper.run_once().await.unwrap(),
        0,
        "refreshed exactly once per cycle"
    );
}

async fn idle_connections_survive_120_days(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, id) = connected(&app).await;
    for _ in 0..(120 * 4) {
        advance(&app, Duration::from_secs(6 * 3600));
        app.keeper.run_once().await.unwrap();
    }
    let (status, reason, _) = row(&app, &id).await;
    assert_eq!(status, "active", "{reason:?}");
    let presentations = refresh_presentations(&app);
    assert!(
        presentations.len() >= 119,
        "refreshed about daily: {}",
        presentations.len()
    );
    assert!(
        presentations.iter().all(|p| *p == (true, true)),
        "a rotated-out token was presented"
    );
    assert_eq!(app.sim.stale_refresh_presentations(), 0);
}

async fn revoke_during_a_refresh_ends_revoked_and_amocrm_is_never_called_again(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, id) = connected(&app).await;
    advance(&app, Duration::from_secs(23 * 3600));
    sign_in_again(&tenant).await;
    app.sim
        .set_fault(Route::Token, Fault::always(FaultKind::Latency { ms: 1500 }))
        .unwrap();
    let keeper = app.keeper.clone();
    let refresh = tokio::spawn(async move { keeper.run_once().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let res = tenant.revoke(&id).await;
    assert_eq!(res.status(), 303);
    // The refresh already in flight may complete at amoCRM; nothing may start after it.
    refresh.await.unwrap().unwrap();
    let calls_at_revoke = app.sim.journal().len();

    let (status, _, refresh_token) = row(&app, &id).await;
    assert_eq!(status, "revoked");
    assert!(
        refresh_token.is_none(),
        "the in-flight refresh did not revive the connection"
    );
    app.sim.clear_faults(None);
    for _ in 0..3 {
        advance(&app, DAY);
        assert_eq!(app.keeper.run_once().await.unwrap(), 0);
    }
    let later: Vec<_> = app.sim.journal_since(calls_at_revoke as u64);
    assert!(
        later
            .iter()
            .all(|e| !matches!(&e.event, Event::Request { .. })),
        "amoCRM was called after the revoke: {later:?}"
    );
}

async fn a_revoked_grant_marks_needs_reauth_once_and_stops(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, id) = connected(&app).await;
    let integration = app.sim.integrations().into_iter().next().unwrap();
    app.sim.uninstall(&integration.client_id).await.unwrap();
    advance(&app, Duration::from_secs(23 * 3600));
    app.keeper.run_once().await.unwrap();
    let (status, reason, _) = row(&app, &id).await;
    assert_eq!(status, "needs_reauth");
    assert!(reason.unwrap_or_default().contains("refresh_token_revoked"));
    let calls = token_requests(&app);
    for _ in 0..3 {
        advance(&app, DAY);
        app.keeper.run_once().await.unwrap();
    }
    assert_eq!(
        token_requests(&app),
        calls,
        "no further calls after a terminal refusal"
    );
    sign_in_again(&tenant).await;
    assert!(
        tenant
            .get_html("/connections")
            .await
            .contains("Needs re-auth")
    );
}

async fn a_lost_refresh_response_recovers_with_grace_and_is_explained_without(engine: Engine) {
    for grace in [RefreshGrace::UntilNewPairUsed, RefreshGrace::Off] {
        let app = spawn_app(engine).await;
        // The response carrying the rotated pair is lost on purpose: the only refresh token
        // amolink holds is then a rotated one.
        app.tolerate(Tolerated::RotatedRefreshToken);
        app.sim.update_config(ConfigPatch {
            refresh_grace: Some(grace),
            ..ConfigPatch::default()
        });
        let (_, id) = connected(&app).await;
        advance(&app, Duration::from_secs(23 * 3600));
        app.sim
            .set_fault(
                Route::Token,
                Fault {
                    count: Some(1),
                    ..Fault::always(FaultKind::DropAfterRotation { ms: 0 })
                },
            )
            .unwrap();
        app.keeper.run_once().await.unwrap();
        let (status, _, _) = row(&app, &id).await;
        assert_eq!(status, "degraded", "a lost response is retried, not fatal");
        advance(&app, Duration::from_secs(3600));
        app.keeper.run_once().await.unwrap();
        let (status, reason, _) = row(&app, &id).await;
        match grace {
            RefreshGrace::Off => {
                assert_eq!(status, "needs_reauth");
                assert!(
                    reason.unwrap_or_default().contains("response was lost"),
                    "the reason is recorded"
                );
            }
            _ => assert_eq!(
                status, "active",
                "the old token was still good inside the grace window"
            ),
        }
    }
}

async fn transient_failures_degrade_then_recover(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, id) = connected(&app).await;
    advance(&app, Duration::from_secs(23 * 3600));
    app.sim
        .set_fault(
            Route::Token,
            Fault {
                count: Some(2),
                ..Fault::always(FaultKind::Status { status: 503 })
            },
        )
        .unwrap();
    app.keeper.run_once().await.unwrap();
    assert_eq!(row(&app, &id).await.0, "degraded");
    for _ in 0..3 {
        advance(&app, Duration::from_secs(3600));
        app.keeper.run_once().await.unwrap();
    }
    assert_eq!(row(&app, &id).await.0, "active");
    assert_eq!(app.sim.stale_refresh_presentations(), 0);
}

async fn a_renamed_account_is_followed_to_its_new_subdomain(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, id) = connected(&app).await;
    app.sim
        .rename_subdomain(DEMO_ADMIN_ACCOUNT, "renamed")
        .unwrap();
    advance(&app, Duration::from_secs(23 * 3600));
    app.keeper.run_once().await.unwrap();
    assert_eq!(row(&app, &id).await.0, "active");
    sign_in_again(&tenant).await;
    assert!(
        tenant
            .get_html("/connections")
            .await
            .contains("renamed.amocrm.ru")
    );
}

async fn concurrent_token_requests_share_one_refresh(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, id) = connected(&app).await;
    let id: ConnectionId = id.parse().unwrap();
    let workspace = {
        let db = app.database.connection();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT workspace_id FROM connections",
            ))
            .await
            .unwrap()
            .unwrap();
        domain::ids::WorkspaceId::from_uuid(row.try_get("", "workspace_id").unwrap())
    };
    advance(&app, Duration::from_secs(23 * 3600));
    let calls = token_requests(&app);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let keeper = app.keeper.clone();
        tasks.push(tokio::spawn(async move {
            keeper
                .fresh_token(
                    workspace,
                    id,
                    domain::keeper::Wanted {
                        validity: Duration::from_secs(3 * 3600),
                        fallback: Duration::from_secs(3 * 3600),
                    },
                )
                .await
                .map(|t| t.expires_at)
        }));
    }
    let mut expiries = Vec::new();
    for task in tasks {
        expiries.push(task.await.unwrap().unwrap());
    }
    assert_eq!(
        token_requests(&app),
        calls + 1,
        "one refresh served every caller"
    );
    assert!(expiries.windows(2).all(|w| w[0] == w[1]));
}

both_engines!(
    tokens_are_refreshed_ahead_of_expiry_with_the_latest_token,
    idle_connections_survive_120_days,
    revoke_during_a_refresh_ends_revoked_and_amocrm_is_never_called_again,
    a_revoked_grant_marks_needs_reauth_once_and_stops,
    a_lost_refresh_response_recovers_with_grace_and_is_explained_without,
    transient_failures_degrade_then_recover,
    a_renamed_account_is_followed_to_its_new_subdomain,
    concurrent_token_requests_share_one_refresh,
);
