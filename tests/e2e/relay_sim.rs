//! amoCRM events relayed to tenants (issue 13), end to end with the simulator as amoCRM: the
//! subscription made by amolink's subscriber, entity changes in the simulator's account delivered
//! in amoCRM's wire format to amolink, and a tenant receiver that verifies what it gets with the
//! independent `standardwebhooks` crate.

use std::time::Duration;

use amocrm_sim::{DeliveryState, HookKnob, HookKnobKind, WebhookView};
use amolink_tests::{Browser, Engine, TestApp, both_engines, spawn_app_with};
use chrono::Duration as Span;
use domain::clock::Clock as _;
use serde_json::json;

use crate::{
    connect::{DEMO_ADMIN_ACCOUNT, tenant},
    relay::process,
    webhooks::{Received, Receiver, add_endpoint, between, connect, deliverer, drain},
};

const LEAD_EVENTS: [&str; 2] = ["amocrm.lead.added", "amocrm.lead.status_changed"];

/// Waits (bounded) until `ready` holds; the simulator delivers from its own thread.
async fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn our_hooks(app: &TestApp) -> Vec<WebhookView> {
    let prefix = format!("{}/amocrm/events/", app.address);
    app.sim
        .webhooks(DEMO_ADMIN_ACCOUNT)
        .into_iter()
        .filter(|hook| hook.destination.starts_with(&prefix))
        .collect()
}

/// Every delivery the simulator queued for the account has been answered.
fn settled(app: &TestApp) -> bool {
    app.sim
        .deliveries(DEMO_ADMIN_ACCOUNT)
        .iter()
        .all(|d| matches!(d.state, DeliveryState::Delivered | DeliveryState::Dropped))
}

/// A tenant with an endpoint and the demo account connected and subscribed.
async fn subscribed(app: &TestApp, events: &[&str]) -> (Browser, Receiver, String, String) {
    let (ann, link) = tenant(app, "ann@example.com").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (_, secret) = add_endpoint(&ann, &receiver.url, events).await;
    let connection = connect(app, &ann, &link).await;
    app.subscriber.try_run_due(app.clock.now()).await.unwrap();
    let hooks = our_hooks(app);
    assert_eq!(hooks.len(), 1, "one subscription per connection: {hooks:?}");
    assert!(!hooks[0].disabled);
    (ann, receiver, secret, connection)
}

fn types(seen: &[Received]) -> Vec<String> {
    seen.iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Acceptance 1: a lead created and moved in the simulator's account reaches the tenant as
/// `amocrm.lead.added` then `amocrm.lead.status_changed`, signed and verifiable — with the
/// background workers running, as in production.
async fn a_lead_created_and_moved_reaches_the_tenant_signed(engine: Engine) {
    let app = spawn_app_with(
        engine,
        &[("events_worker", "true"), ("webhook_worker", "true")],
        |_| {},
    )
    .await;
    let (_, receiver, secret, connection) = subscribed(&app, &LEAD_EVENTS).await;
    let hook = &our_hooks(&app)[0];
    for code in ["add_lead", "status_lead", "update_lead", "add_contact"] {
        assert!(hook.settings.iter().any(|s| s == code), "{code}: {hook:?}");
    }

    let lead = app
        .sim
        .create_lead(
            DEMO_ADMIN_ACCOUNT,
            &json!({"name": "Order 1182", "price": 25000}),
        )
        .unwrap();
    let lead_id = lead["id"].as_i64().unwrap();
    eventually("the added lead at the tenant", || {
        receiver.seen().len() == 1
    })
    .await;
    // 142 ("won") is a stage of every pipeline.
    let status = 142;
    app.sim
        .move_lead(DEMO_ADMIN_ACCOUNT, lead_id, status, None)
        .unwrap();
    eventually("the stage move at the tenant", || {
        receiver.seen().len() == 2
    })
    .await;

    let seen = receiver.seen();
    assert_eq!(types(&seen), LEAD_EVENTS, "added, then status_changed");
    for request in &seen {
        request
            .verify(&secret)
            .expect("verifiable with standardwebhooks");
        let data = &request.json()["data"];
        assert_eq!(data["connection_id"], connection.as_str());
        assert_eq!(data["account_id"], DEMO_ADMIN_ACCOUNT);
        assert_eq!(data["host"], "demo.amocrm.ru");
        assert_eq!(data["entity_id"], lead_id);
    }
    assert_eq!(seen[1].json()["data"]["fields"]["status_id"], status);
    assert!(settled(&app), "amoCRM got 2xx for every delivery");
}

/// Acceptance 2 with the simulator as amoCRM: its duplicates, and its retries of a delivery
/// amolink missed while restarting, reach the tenant once; the tenant's receiver down meanwhile
/// gets every event afterwards, exactly once by id.
async fn duplicates_retries_a_restart_and_a_down_receiver(engine: Engine) {
    let app = spawn_app_with(engine, &[], |_| {}).await;
    let (_, receiver, secret, _) = subscribed(&app, &["amocrm.lead.added"]).await;
    receiver.set_down(true);
    app.sim.set_hook_knob(HookKnob {
        kind: HookKnobKind::Duplicate,
        count: 1,
    });
    app.sim
        .create_lead(DEMO_ADMIN_ACCOUNT, &json!({"name": "First"}))
        .unwrap();
    eventually("both copies answered", || settled(&app)).await;
    assert_eq!(
        process(&app).await.events,
        1,
        "the duplicate is not passed on"
    );
    let worker = deliverer(&app);
    drain(&app, &worker).await;

    // amolink goes away; a change made meanwhile fails at amoCRM and is retried 5 minutes later.
    let address = app.address.clone();
    app.server.stop(true).await;
    app.sim
        .create_lead(DEMO_ADMIN_ACCOUNT, &json!({"name": "Second"}))
        .unwrap();
    eventually("the failed first attempt", || {
        app.sim
            .deliveries(DEMO_ADMIN_ACCOUNT)
            .iter()
            .any(|d| d.state == DeliveryState::Pending && !d.attempts.is_empty())
    })
    .await;
    let app = app.restart().await;
    assert_eq!(app.address, address, "the same URL amoCRM posts to");
    app.sim.advance_clock(Duration::from_secs(5 * 60 + 1));
    eventually("amoCRM's retry answered", || settled(&app)).await;
    assert_eq!(process(&app).await.events, 1);

    app.clock.advance(Span::minutes(10));
    let worker = deliverer(&app);
    drain(&app, &worker).await;
    receiver.set_down(false);
    app.clock.advance(Span::hours(2));
    drain(&app, &worker).await;
    app.clock.advance(Span::hours(3));
    drain(&app, &worker).await;

    let seen = receiver.seen();
    let mut ids: Vec<String> = seen.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((seen.len(), ids.len()), (2, 2), "each event exactly once");
    let mut names: Vec<String> = seen
        .iter()
        .map(|r| {
            r.verify(&secret).expect("verifies");
            r.json()["data"]["fields"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["First", "Second"]);
}

/// Acceptance 4, first half: revoking removes the subscription at amoCRM while the connection's
/// token still works (amoCRM accepted the DELETE), then erases the credentials.
async fn revoking_unsubscribes_before_tokens_are_erased(engine: Engine) {
    let app = spawn_app_with(engine, &[], |_| {}).await;
    let (ann, _, _, connection) = subscribed(&app, &LEAD_EVENTS).await;
    let destination = our_hooks(&app)[0].destination.clone();
    crate::webhooks::revoke(&ann, &connection).await;
    assert!(our_hooks(&app).is_empty(), "unsubscribed at amoCRM");
    let unsubscribed = app.sim.journal().into_iter().any(|entry| {
        let event = serde_json::to_value(&entry.event).unwrap_or_default();
        event.to_string().contains("webhook_unsubscribed")
            && event.to_string().contains(&destination)
    });
    assert!(unsubscribed, "amoCRM recorded the unsubscription");
    let db = app.database.connection();
    let row = sea_orm::ConnectionTrait::query_one_raw(
        db,
        sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT access_token, refresh_token FROM connections",
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        row.try_get::<Option<String>>("", "access_token")
            .unwrap()
            .is_none()
    );
    assert!(
        row.try_get::<Option<String>>("", "refresh_token")
            .unwrap()
            .is_none()
    );
    // A late delivery to the old destination reaches nobody.
    let token = destination.rsplit('/').next().unwrap();
    let body = crate::relay::form(&format!(
        "account[id]={DEMO_ADMIN_ACCOUNT}\nleads[add][0][id]=1"
    ));
    assert_eq!(crate::relay::deliver(&app, token, &body).await, 404);
    let page = ann.get_html(&format!("/connections/{connection}")).await;
    assert!(
        page.contains(r#"data-subscription="unsubscribed""#),
        "{page}"
    );
}

/// Acceptance 4, second half: a subscription amoCRM disabled is re-armed by the health check,
/// `connection.events_paused` is announced with the reason, and the gap shows on the page.
async fn a_disabled_subscription_is_rearmed_and_the_gap_shown(engine: Engine) {
    let app = spawn_app_with(engine, &[], |_| {}).await;
    let (ann, receiver, secret, connection) =
        subscribed(&app, &["connection.events_paused", "amocrm.lead.added"]).await;
    let destination = our_hooks(&app)[0].destination.clone();
    app.sim
        .disable_webhook(DEMO_ADMIN_ACCOUNT, &destination)
        .unwrap();
    assert!(our_hooks(&app)[0].disabled);

    // Not due yet: nothing happens before the health check's time.
    app.subscriber.try_run_due(app.clock.now()).await.unwrap();
    assert!(our_hooks(&app)[0].disabled);
    app.clock.advance(Span::minutes(16));
    let report = app.subscriber.try_run_due(app.clock.now()).await.unwrap();
    assert_eq!(report.handled, 1);
    let hooks = our_hooks(&app);
    assert_eq!(hooks.len(), 1);
    assert!(!hooks[0].disabled, "re-armed");
    assert_eq!(hooks[0].destination, destination, "at the same destination");

    let page = ann.get_html(&format!("/connections/{connection}")).await;
    let gap = between(&page, r#"id="events-gap""#, "</p>").expect("the gap is shown");
    assert!(gap.contains("may not have been relayed"), "{gap}");
    assert!(
        page.contains("Events paused by amoCRM"),
        "in the history: {page}"
    );

    let worker = deliverer(&app);
    drain(&app, &worker).await;
    let paused = receiver.seen();
    assert_eq!(types(&paused), ["connection.events_paused"]);
    paused[0].verify(&secret).expect("verifies");
    let reason = paused[0].json()["data"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("switched"), "{reason}");

    // Events flow again.
    app.sim
        .create_lead(DEMO_ADMIN_ACCOUNT, &json!({"name": "After"}))
        .unwrap();
    eventually("the delivery answered", || settled(&app)).await;
    assert_eq!(process(&app).await.events, 1);
    drain(&app, &worker).await;
    assert_eq!(receiver.seen().len(), 2);
}

/// An account whose plan has no API webhooks gets a clear status, not a retry loop.
async fn a_plan_without_api_webhooks_is_a_status_not_a_retry_loop(engine: Engine) {
    let app = spawn_app_with(engine, &[], |_| {}).await;
    app.sim
        .set_account_webhooks_plan(DEMO_ADMIN_ACCOUNT, false)
        .unwrap();
    let (tenant_browser, link) = tenant(&app, "ann@example.com").await;
    let connection = connect(&app, &tenant_browser, &link).await;
    let calls = || {
        app.sim
            .journal()
            .into_iter()
            .filter(|entry| {
                serde_json::to_value(&entry.event)
                    .unwrap_or_default()
                    .to_string()
                    .contains("/api/v4/webhooks")
            })
            .count()
    };
    app.subscriber.try_run_due(app.clock.now()).await.unwrap();
    let after_first = calls();
    assert!(after_first >= 1, "amoCRM was asked");
    for _ in 0..5 {
        app.clock.advance(Span::hours(1));
        app.subscriber.try_run_due(app.clock.now()).await.unwrap();
    }
    assert_eq!(calls(), after_first, "no retry loop");
    // Hours later the session has timed out: sign in again.
    let ann = app.browser();
    assert_eq!(
        ann.log_in("ann@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    let page = ann.get_html(&format!("/connections/{connection}")).await;
    assert!(page.contains(r#"data-subscription="failed""#), "{page}");
    assert!(page.contains("plan"), "the reason is shown: {page}");
}

/// A burst of changes in the simulator's account (acceptance 3's correctness half; the timing
/// half is the `events-burst` benchmark): every delivery is answered 2xx, none is lost, and the
/// subscription is never disabled.
async fn a_burst_through_the_simulator_loses_nothing_and_is_never_disabled(engine: Engine) {
    let app = spawn_app_with(engine, &[], |_| {}).await;
    subscribed(&app, &["amocrm.lead.added"]).await;
    let count = 200;
    for i in 0..count {
        app.sim
            .create_lead(DEMO_ADMIN_ACCOUNT, &json!({"name": format!("Burst {i}")}))
            .unwrap();
    }
    eventually("every delivery answered", || {
        let deliveries = app.sim.deliveries(DEMO_ADMIN_ACCOUNT);
        deliveries.len() >= count && settled(&app)
    })
    .await;
    let failed_attempts = app
        .sim
        .deliveries(DEMO_ADMIN_ACCOUNT)
        .iter()
        .flat_map(|d| d.attempts.iter())
        .filter(|a| !a.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    assert_eq!(failed_attempts, 0, "every answer was a 2xx");
    let hook = &our_hooks(&app)[0];
    assert!(!hook.disabled);
    assert_eq!(hook.invalid_in_window, 0);
    assert_eq!(process(&app).await.events, count, "none lost");
}

both_engines!(
    a_burst_through_the_simulator_loses_nothing_and_is_never_disabled,
    a_lead_created_and_moved_reaches_the_tenant_signed,
    duplicates_retries_a_restart_and_a_down_receiver,
    revoking_unsubscribes_before_tokens_are_erased,
    a_disabled_subscription_is_rearmed_and_the_gap_shown,
    a_plan_without_api_webhooks_is_a_status_not_a_retry_loop,
);
