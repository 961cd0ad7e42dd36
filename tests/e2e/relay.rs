//! amoCRM events relayed to tenants (issue 13), at the receiver: the test plays amoCRM and posts
//! deliveries in its wire format (form-encoded bracket keys, `account[…]` block, every value a
//! string) to `/amocrm/events/{token}`, then drains the processor and the outbox like the
//! background workers would, and checks what a tenant's receiver got (verified with the
//! independent `standardwebhooks` crate).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use amolink_tests::{Browser, Engine, TestApp, both_engines, captured_logs, spawn_app_with};
use chrono::Duration as Span;
use domain::{
    clock::Clock as _,
    relay::{DestinationToken, Processor, RelayReport, RelayStore as _, SubscriptionStatus},
};
use proptest::{
    prelude::*,
    strategy::ValueTree as _,
    test_runner::{Config, TestRunner},
};
use sea_orm::{ConnectionTrait as _, Statement};

use crate::{
    connect::{DEMO_ADMIN_ACCOUNT, tenant},
    webhooks::{Receiver, add_endpoint, connect, deliverer, drain},
};

const LEAD_EVENTS: [&str; 2] = ["amocrm.lead.added", "amocrm.lead.status_changed"];

/// The processor over the app's database and clock.
pub(crate) fn processor(app: &TestApp) -> Processor {
    ::web::relay::processor(Arc::new(app.database.clone()), Arc::new(app.clock.clone()))
}

pub(crate) async fn process(app: &TestApp) -> RelayReport {
    processor(app).try_process_due().await.unwrap()
}

/// A connected demo account whose subscription is armed with a token the test knows (what the
/// subscription worker does against amoCRM, done directly), and a tenant endpoint.
struct Relayed {
    app: TestApp,
    ann: Browser,
    token: String,
    receiver: Receiver,
    secret: String,
}

async fn relayed(engine: Engine) -> Relayed {
    let app = spawn_app_with(engine, &[], |_| {}).await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (_, secret) = add_endpoint(&ann, &receiver.url, &LEAD_EVENTS).await;
    connect(&app, &ann, &link).await;
    let token = arm(&app).await;
    Relayed {
        app,
        ann,
        token,
        receiver,
        secret,
    }
}

/// Arms the pending subscription of the only connection with a fresh token.
async fn arm(app: &TestApp) -> String {
    let mut claimed = app
        .database
        .claim_subscriptions(app.clock.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "connecting asked for one subscription");
    let claimed = claimed.remove(0);
    let token = DestinationToken::generate();
    let mut subscription = claimed.subscription;
    subscription.status = SubscriptionStatus::Subscribed;
    subscription.token_hash = Some(token.hash());
    subscription.next_check_at = None;
    assert!(
        app.database
            .save_subscription(Some(&claimed.lease), &subscription)
            .await
            .unwrap()
    );
    token.expose().to_owned()
}

/// A delivery body from `name=value` lines (decoded), as amoCRM encodes it.
pub(crate) fn form(lines: &str) -> String {
    let pairs: Vec<(String, String)> = lines
        .lines()
        .map(str::trim)
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    domain::relay::form::encode(&pairs)
}

fn account_block(account: i64) -> String {
    format!(
        "account[subdomain]=demo\naccount[id]={account}\naccount[_links][self]=https://demo.amocrm.ru"
    )
}

/// `leads[<action>][0]` for lead `id` at `updated_at`.
fn lead(action: &str, id: i64, status: i64, updated_at: i64) -> String {
    form(&format!(
        "{}\nleads[{action}][0][id]={id}\nleads[{action}][0][name]=Order {id}\n\
leads[{action}][0][status_id]={status}\nleads[{action}][0][old_status_id]=142\n\
leads[{action}][0][price]=25000\nleads[{action}][0][pipeline_id]=7211390\n\
leads[{action}][0][account_id]={DEMO_ADMIN_ACCOUNT}\nleads[{action}][0][updated_at]={updated_at}\n\
leads[{action}][0][custom_fields][0][id]=1118164\nleads[{action}][0][custom_fields][0][name]=Source\n\
leads[{action}][0][custom_fields][0][values][0][value]=Website\n\
leads[{action}][0][custom_fields][0][values][0][enum]=908107",
        account_block(DEMO_ADMIN_ACCOUNT)
    ))
}

/// POSTs a body the way amoCRM does; returns the status.
pub(crate) async fn deliver(app: &TestApp, token: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/amocrm/events/{token}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "amoCRM-Webhooks/3.0")
        .header("x-amocrm-requestid", uuid::Uuid::new_v4().to_string())
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let db = app.database.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// Acceptance 5: a wrong token or a mismatching `account[id]` stores nothing and reaches no
/// tenant.
async fn forged_deliveries_store_nothing_and_reach_nobody(engine: Engine) {
    let r = relayed(engine).await;
    let genuine = lead("add", 33_812_045, 61_457_203, 1_761_037_455);
    let unknown = DestinationToken::generate();
    let cases: [(&str, String); 5] = [
        (unknown.expose(), genuine.clone()),
        ("not-a-token", genuine.clone()),
        (
            &r.token,
            genuine.replace("account%5Bid%5D=31000001", "account%5Bid%5D=31000002"),
        ),
        (&r.token, genuine.replace("account%5Bid%5D=31000001", "")),
        (&r.token, String::new()),
    ];
    for (token, body) in &cases {
        assert_eq!(deliver(&r.app, token, body).await, 404, "{token} {body}");
    }
    assert_eq!(count(&r.app, "relay_inbound").await, 0, "nothing stored");
    assert_eq!(process(&r.app).await, RelayReport::default());
    let worker = deliverer(&r.app);
    assert_eq!(drain(&r.app, &worker).await.attempted, 0);
    assert!(r.receiver.seen().is_empty(), "no tenant reached");

    // The same delivery with the right token and account is taken.
    assert_eq!(deliver(&r.app, &r.token, &genuine).await, 200);
    assert_eq!(count(&r.app, "relay_inbound").await, 1);
    assert_eq!(process(&r.app).await.events, 1);
    assert_eq!(drain(&r.app, &worker).await.delivered, 1);
    let seen = r.receiver.seen();
    assert_eq!(seen.len(), 1);
    seen[0].verify(&r.secret).expect("verifies");
    assert_eq!(seen[0].json()["type"], "amocrm.lead.added");
}

/// amoCRM's retries and duplicates (byte-identical or re-encoded) reach the tenant once; each
/// event is signed, verifiable, and carries the normalised fields.
async fn retries_and_duplicates_reach_the_tenant_once(engine: Engine) {
    let r = relayed(engine).await;
    let added = lead("add", 33_812_045, 61_457_203, 1_761_037_000);
    let moved = lead("status", 33_812_045, 142, 1_761_037_455);
    // The same change with the account block last (the 2018 key order).
    let reordered = {
        let mut lines: Vec<String> = url::form_urlencoded::parse(moved.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        lines.rotate_left(3);
        form(&lines.join("\n"))
    };
    for body in [&added, &added, &moved, &reordered, &moved, &added] {
        assert_eq!(deliver(&r.app, &r.token, body).await, 200);
    }
    let report = process(&r.app).await;
    assert_eq!((report.handled, report.events), (6, 2), "{report:?}");
    let worker = deliverer(&r.app);
    assert_eq!(drain(&r.app, &worker).await.delivered, 2);
    assert_eq!(process(&r.app).await.handled, 0);
    assert!(
        !captured_logs().contains(&r.token),
        "the destination token reached the logs"
    );
    let seen = r.receiver.seen();
    assert_eq!(seen.len(), 2);
    let mut by_type = BTreeMap::new();
    for request in &seen {
        request.verify(&r.secret).expect("signed and verifiable");
        let json = request.json();
        by_type.insert(json["type"].as_str().unwrap().to_owned(), json);
    }
    let status = &by_type["amocrm.lead.status_changed"]["data"];
    assert_eq!(status["account_id"], DEMO_ADMIN_ACCOUNT);
    assert_eq!(status["host"], "demo.amocrm.ru");
    assert_eq!(status["entity"], "lead");
    assert_eq!(status["action"], "status_changed");
    assert_eq!(status["entity_id"], 33_812_045);
    assert_eq!(status["fields"]["status_id"], 142);
    assert_eq!(status["fields"]["name"], "Order 33812045");
    assert_eq!(
        status["custom_fields"][0]["values"][0],
        serde_json::json!({"value": "Website", "enum": 908_107})
    );
    assert!(by_type.contains_key("amocrm.lead.added"));

    // The poll API serves the same events, once, with the same ids, and the raw items on request.
    r.app.clock.advance(Span::seconds(5));
    let key = crate::api_keys::create_key(&r.ann, "poller", &["read"]).await;
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/events?include_raw=true", r.app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{page}");
    let ids: Vec<String> = seen.iter().map(|s| s.header("webhook-id")).collect();
    for event in data {
        assert!(ids.contains(&event["id"].as_str().unwrap().to_owned()));
        assert_eq!(event["raw"]["price"], "25000", "the raw item as sent");
    }
    let next: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/events?cursor={}",
            r.app.address,
            page["next_cursor"].as_str().unwrap()
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["data"], serde_json::json!([]));
    assert_eq!(next["next_cursor"], page["next_cursor"], "the cursor holds");
}

/// Acceptance 2: the tenant's receiver is down for 10 minutes and amolink restarts meanwhile;
/// every event arrives afterwards exactly once by id, and amoCRM's retries of deliveries it
/// made before the restart are not passed on again.
async fn a_down_receiver_and_a_restart_lose_nothing_and_repeat_nothing(engine: Engine) {
    let r = relayed(engine).await;
    r.receiver.set_down(true);
    let before: Vec<String> = (0..4)
        .map(|i| lead("add", 40_000 + i, 142, 1_761_000_000 + i))
        .collect();
    for body in &before {
        assert_eq!(deliver(&r.app, &r.token, body).await, 200);
    }
    assert_eq!(process(&r.app).await.events, 4);
    // Stored but not yet processed when amolink goes down: it must not be lost.
    let last = lead("status", 40_000, 143, 1_761_000_900);
    assert_eq!(deliver(&r.app, &r.token, &last).await, 200);
    assert_eq!(deliver(&r.app, &r.token, &last).await, 200, "a duplicate");
    let worker = deliverer(&r.app);
    let report = drain(&r.app, &worker).await;
    assert_eq!(report.delivered, 0, "{report:?}");
    r.app.clock.advance(Span::minutes(5));
    drain(&r.app, &worker).await;

    let app = r.app.restart().await;
    // amoCRM retries what it sent before the restart (its ladder: 5 and 15 minutes later)...
    for body in before.iter().chain([&last]) {
        assert_eq!(deliver(&app, &r.token, body).await, 200);
    }
    // ...and sends new changes.
    let after = [
        lead("add", 40_010, 142, 1_761_001_000),
        lead("status", 40_010, 143, 1_761_001_100),
    ];
    for body in &after {
        assert_eq!(deliver(&app, &r.token, body).await, 200);
    }
    let report = process(&app).await;
    assert_eq!(
        report.events, 3,
        "only the status change and the two new ones: {report:?}"
    );
    app.clock.advance(Span::minutes(5));
    let worker = deliverer(&app);
    drain(&app, &worker).await;
    r.receiver.set_down(false);
    app.clock.advance(Span::minutes(40));
    drain(&app, &worker).await;
    app.clock.advance(Span::hours(3));
    drain(&app, &worker).await;

    let seen = r.receiver.seen();
    let mut ids: Vec<String> = seen.iter().map(|s| s.header("webhook-id")).collect();
    for request in &seen {
        request.verify(&r.secret).expect("verifies");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "no event arrived twice");
    assert_eq!(seen.len(), 7, "every event arrived");
    let mut entities: Vec<(String, i64)> = seen
        .iter()
        .map(|s| {
            let json = s.json();
            (
                json["type"].as_str().unwrap().to_owned(),
                json["data"]["entity_id"].as_i64().unwrap(),
            )
        })
        .collect();
    entities.sort();
    assert_eq!(
        entities,
        vec![
            ("amocrm.lead.added".to_owned(), 40_000),
            ("amocrm.lead.added".to_owned(), 40_001),
            ("amocrm.lead.added".to_owned(), 40_002),
            ("amocrm.lead.added".to_owned(), 40_003),
            ("amocrm.lead.added".to_owned(), 40_010),
            ("amocrm.lead.status_changed".to_owned(), 40_000),
            ("amocrm.lead.status_changed".to_owned(), 40_010),
        ]
    );
}

/// Property: whatever arrives — any token text, any bytes, any content type — the receiver
/// answers without a 5xx, and the processor digests whatever was stored without failing.
async fn the_receiver_never_answers_5xx_for_bad_input(engine: Engine) {
    let r = relayed(engine).await;
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let token = prop_oneof![Just(r.token.clone()), "[A-Za-z0-9_-]{43}", "[a-z%.]{0,60}",];
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        "[a-z\\[\\]=&%0-9_]{0,400}".prop_map(String::into_bytes),
        "[a-z\\[\\]0-9_]{0,30}".prop_map(move |key| {
            format!(
                "account%5Bid%5D={DEMO_ADMIN_ACCOUNT}&{key}=1&leads%5Badd%5D%5B0%5D%5B{key}%5D=x"
            )
            .into_bytes()
        }),
    ];
    let content_type = prop_oneof![
        Just("application/x-www-form-urlencoded"),
        Just("application/json"),
        Just("text/plain"),
    ];
    let client = reqwest::Client::new();
    let mut stored = 0;
    for _ in 0..64 {
        let (token, body, content_type) = (&token, &body, &content_type)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let status = client
            .post(format!(
                "{}/amocrm/events/{}",
                r.app.address,
                utf8_percent(&token)
            ))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.as_u16() < 500, "{status} for token {token}");
        stored += usize::from(status == 200);
    }
    assert!(stored > 0, "some generated deliveries were genuine");
    let report = process(&r.app).await;
    assert_eq!(report.handled, stored);
}

/// The workspace chooses what is relayed (page and API); other events are dropped, and the
/// connection's page shows the subscription.
async fn the_workspace_chooses_which_events_are_relayed(engine: Engine) {
    let r = relayed(engine).await;
    let page = r.ann.get_html("/settings/events").await;
    assert!(page.contains(r#"name="amocrm.lead.status_changed" value="on" checked"#));
    assert!(page.contains(r#"name="amocrm.lead.note_added" value="on">"#));
    let res = r
        .ann
        .submit(
            "/settings/events",
            "/settings/events",
            &[("amocrm.lead.added", "on")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = r.ann.get_html("/settings/events?saved=1").await;
    assert!(page.contains(r#"id="saved""#));
    assert!(!page.contains(r#"name="amocrm.lead.status_changed" value="on" checked"#));

    assert_eq!(
        deliver(&r.app, &r.token, &lead("status", 1, 142, 2)).await,
        200
    );
    assert_eq!(
        deliver(&r.app, &r.token, &lead("add", 1, 142, 1)).await,
        200
    );
    let report = process(&r.app).await;
    assert_eq!((report.handled, report.events), (2, 1), "{report:?}");

    let key = crate::api_keys::create_key(&r.ann, "settings", &["read", "write"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/event-settings", r.app.address);
    let current: serde_json::Value = client
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        current,
        serde_json::json!({"events": ["amocrm.lead.added"]})
    );
    let bad = client
        .put(&url)
        .bearer_auth(&key)
        .json(&serde_json::json!({"events": ["amocrm.lead.exploded"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let put = client
        .put(&url)
        .bearer_auth(&key)
        .json(&serde_json::json!({"events": ["amocrm.contact.added", "amocrm.lead.added"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<serde_json::Value>().await.unwrap()["events"],
        serde_json::json!(["amocrm.lead.added", "amocrm.contact.added"])
    );

    let list = r.ann.get_html("/connections").await;
    let id = crate::webhooks::between(&list, "href=\"/connections/", "\"").unwrap();
    let page = r.ann.get_html(&format!("/connections/{id}")).await;
    assert!(page.contains(r#"data-subscription="subscribed""#), "{page}");
    assert!(page.contains("Receiving events"));
}

/// Percent-encodes what a URL path segment cannot hold as is.
fn utf8_percent(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

both_engines!(
    forged_deliveries_store_nothing_and_reach_nobody,
    retries_and_duplicates_reach_the_tenant_once,
    a_down_receiver_and_a_restart_lose_nothing_and_repeat_nothing,
    the_receiver_never_answers_5xx_for_bad_input,
    the_workspace_chooses_which_events_are_relayed,
);
