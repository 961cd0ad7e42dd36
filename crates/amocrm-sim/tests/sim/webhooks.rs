//! Account webhooks: the subscription API's rules, deliveries in the real wire format, the retry
//! ladder on the simulator clock, the disable rule, and the misbehaviour knobs.

use std::sync::atomic::Ordering;
use std::time::Duration;

use amocrm_sim::{DeliveryState, EntityKind, Event, HookKnob, HookKnobKind, SimConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const WEBHOOKS: &str = "/api/v4/webhooks";

async fn unlimited() -> Env {
    Env::new(SimConfig {
        rate_limit_per_sec: 0,
        ..SimConfig::default()
    })
    .await
}

/// Waits (up to 20 s) for `check` to hold.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn subscription_api_rules() {
    let env = unlimited().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    let hook = format!("{}/hooks/a", env.receiver.base);
    let post = |body: Value| {
        let (env, tokens) = (&env, &tokens);
        async move {
            env.send(Method::POST, host, WEBHOOKS, &tokens.access, &body)
                .await
        }
    };

    assert_eq!(
        env.api(host, WEBHOOKS, &tokens.access).await.status(),
        204,
        "none yet"
    );
    let created =
        post(json!({ "destination": hook, "settings": ["add_lead", "status_lead"], "sort": 10 }))
            .await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["destination"], hook.as_str());
    assert_eq!(created["settings"], json!(["add_lead", "status_lead"]));
    assert_eq!(created["disabled"], false);
    assert_eq!(created["account_id"], DEMO);
    assert!(created["id"].is_i64() && created["created_by"].is_i64());

    // The same destination replaces the settings.
    let replaced: Value = post(json!({ "destination": hook, "settings": ["update_lead"] }))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["settings"], json!(["update_lead"]));
    let other = format!("{}/hooks/b", env.receiver.base);
    post(json!({ "destination": other, "settings": ["add_contact"] })).await;
    let all = env.api_json(host, WEBHOOKS, &tokens.access).await;
    assert_eq!(all["_total_items"], 2);
    let filtered = env
        .api_json(
            host,
            &format!("{WEBHOOKS}?filter[destination]={}", urlencode(&other)),
            &tokens.access,
        )
        .await;
    assert_eq!(
        filtered["_embedded"]["webhooks"][0]["destination"],
        other.as_str()
    );
    assert_eq!(
        filtered["_embedded"]["webhooks"].as_array().map(Vec::len),
        Some(1)
    );

    // Validation.
    let (status, _, body) = problem(
        post(json!({ "destination": "not a url", "settings": ["add_lead", "dance"] })).await,
    )
    .await;
    assert_eq!(status, 400);
    let paths: Vec<&str> = body["validation-errors"][0]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, vec!["destination", "settings.1"]);
    assert_eq!(
        post(json!({ "destination": hook, "settings": [] }))
            .await
            .status(),
        400
    );
    assert_eq!(post(json!(["x"])).await.status(), 400);

    // DELETE by destination.
    let delete = |destination: &str| {
        let (env, tokens) = (&env, &tokens);
        let body = json!({ "destination": destination });
        async move {
            env.send(Method::DELETE, host, WEBHOOKS, &tokens.access, &body)
                .await
        }
    };
    assert_eq!(delete(&other).await.status(), 204);
    assert_eq!(delete(&other).await.status(), 404);
    assert_eq!(sim.webhooks(DEMO).len(), 1);

    // At most 100 per account.
    for n in 1..100 {
        sim.subscribe_webhook(
            DEMO,
            &format!("{}/hooks/{n}", env.receiver.base),
            &["add_lead"],
        )
        .expect("under the cap");
    }
    let (status, _, body) =
        problem(post(json!({ "destination": format!("{}/hooks/x", env.receiver.base), "settings": ["add_lead"] })).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        post(json!({ "destination": hook, "settings": ["add_lead"] }))
            .await
            .status(),
        200,
        "re-posting an existing destination is not a new one"
    );

    // The plan gate, the payment gate and the admin rule.
    sim.set_account_webhooks_plan(DEMO, false).expect("plan");
    assert_eq!(env.api(host, WEBHOOKS, &tokens.access).await.status(), 402);
    sim.set_account_webhooks_plan(DEMO, true).expect("plan");
    let (non_admin, non_admin_tokens) = {
        let install = sim.install_for_tests(DEMO2, REDIRECT_URI).expect("install");
        let install = Install {
            client_id: install.client_id,
            client_secret: install.client_secret,
            code: install.code,
            referer: "demo2.amocrm.ru".to_owned(),
        };
        let tokens = tokens_of(env.exchange(&install).await).await;
        (install, tokens)
    };
    let (status, content_type, _) = problem(
        env.api(&non_admin.referer, WEBHOOKS, &non_admin_tokens.access)
            .await,
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (403, "application/problem+json")
    );
    assert_eq!(env.api(host, WEBHOOKS, "garbage").await.status(), 401);
    let journal = sim.journal();
    assert!(
        journal
            .iter()
            .any(|e| matches!(&e.event, Event::WebhookSubscribed { replaced: true, .. }))
    );
    assert!(
        journal
            .iter()
            .any(|e| matches!(&e.event, Event::WebhookUnsubscribed { .. }))
    );
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn changes_arrive_in_the_real_wire_format() {
    let env = unlimited().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    let leads_hook = format!("{}/leads", env.receiver.base);
    let status_only = format!("{}/status", env.receiver.base);
    let contacts_hook = format!("{}/owners", env.receiver.base);
    for (destination, settings) in [
        (
            &leads_hook,
            json!(["add_lead", "update_lead", "status_lead", "note_lead"]),
        ),
        (&status_only, json!(["status_lead"])),
        (&contacts_hook, json!(["responsible_contact"])),
    ] {
        let response = env
            .send(
                Method::POST,
                host,
                WEBHOOKS,
                &tokens.access,
                &json!({ "destination": destination, "settings": settings }),
            )
            .await;
        assert_eq!(response.status(), 200);
    }

    // Two leads created by one API request arrive as one body, [0] and [1].
    let created: Value = env
        .send(
            Method::POST,
            host,
            "/api/v4/leads",
            &tokens.access,
            &json!([
                { "name": "Заказ №1182", "price": 25000,
                  "custom_fields_values": [{ "field_id": 1118164, "values": [{ "enum_id": 908107 }] }] },
                { "name": "Second & last" },
            ]),
        )
        .await
        .json()
        .await
        .expect("json");
    let id = created["_embedded"]["leads"][0]["id"].as_i64().expect("id");
    let added = &env.receiver.wait_for("/leads", 1).await[0];
    assert_eq!(added.user_agent, "amoCRM-Webhooks/3.0");
    assert_eq!(added.content_type, "application/x-www-form-urlencoded");
    assert!(
        uuid::Uuid::parse_str(&added.request_id).is_ok(),
        "{}",
        added.request_id
    );
    assert!(
        added.body.starts_with("account%5Bsubdomain%5D=demo&"),
        "{}",
        added.body
    );
    assert_eq!(added.field("account[id]").as_deref(), Some("31000001"));
    assert_eq!(
        added.field("account[_links][self]").as_deref(),
        Some("https://demo.amocrm.ru")
    );
    assert_eq!(added.field("leads[add][0][id]"), Some(id.to_string()));
    assert_eq!(
        added.field("leads[add][0][name]").as_deref(),
        Some("Заказ №1182")
    );
    assert_eq!(
        added.field("leads[add][0][price]").as_deref(),
        Some("25000")
    );
    assert_eq!(
        added.field("leads[add][0][status_id]").as_deref(),
        Some("61457201")
    );
    assert_eq!(
        added
            .field("leads[add][0][custom_fields][0][values][0][value]")
            .as_deref(),
        Some("Сайт")
    );
    assert_eq!(
        added
            .field("leads[add][0][custom_fields][0][values][0][enum]")
            .as_deref(),
        Some("908107")
    );
    assert_eq!(
        added.field("leads[add][1][name]").as_deref(),
        Some("Second & last")
    );
    assert!(added.field("leads[add][0][date_create]").is_some());

    // A stage change made by hand: update and status hooks, separately; status-only gets one.
    sim.move_lead(DEMO, id, 142, None).expect("move");
    let leads = env.receiver.wait_for("/leads", 3).await;
    let keys: Vec<&str> = leads[1..]
        .iter()
        .map(|r| {
            if r.body.contains("leads%5Bstatus%5D") {
                "status"
            } else {
                "update"
            }
        })
        .collect();
    assert_eq!(keys, vec!["update", "status"]);
    let status = &env.receiver.wait_for("/status", 1).await[0];
    assert_eq!(
        status.field("leads[status][0][status_id]").as_deref(),
        Some("142")
    );
    assert_eq!(
        status.field("leads[status][0][old_status_id]").as_deref(),
        Some("61457201")
    );

    // A contact's new owner arrives under `update`, with the old owner.
    let contact = sim.contacts(DEMO).expect("contacts")[0]["id"]
        .as_i64()
        .expect("id");
    let patched = env
        .send(
            Method::PATCH,
            host,
            &format!("/api/v4/contacts/{contact}"),
            &tokens.access,
            &json!({ "responsible_user_id": 5000003 }),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let owner = &env.receiver.wait_for("/owners", 1).await[0];
    assert_eq!(
        owner.field("contacts[update][0][id]"),
        Some(contact.to_string())
    );
    assert_eq!(
        owner
            .field("contacts[update][0][old_responsible_user_id]")
            .as_deref(),
        Some("5000001")
    );
    assert_eq!(
        owner.field("contacts[update][0][type]").as_deref(),
        Some("contact")
    );
    assert_eq!(
        owner
            .field("contacts[update][0][custom_fields][0][code]")
            .as_deref(),
        Some("PHONE")
    );
    // A plain contact edit does not interest a responsible-only subscription.
    sim.update_contact(DEMO, contact, &json!({ "last_name": "Иванов" }))
        .expect("edit");

    // A note with a file: two hooks, text then file.
    sim.add_note(
        DEMO,
        EntityKind::Lead,
        id,
        "Договор подписан",
        Some("contract.pdf"),
    )
    .expect("note");
    let leads = env.receiver.wait_for("/leads", 5).await;
    let types: Vec<Option<String>> = leads[3..]
        .iter()
        .map(|r| r.field("leads[note][0][note][note_type]"))
        .collect();
    assert_eq!(types, vec![Some("4".into()), Some("5".into())]);
    assert_eq!(
        leads[4]
            .field("leads[note][0][note][attachement]")
            .as_deref(),
        Some("contract.pdf")
    );
    assert_eq!(
        leads[3].field("leads[note][0][note][element_id]"),
        Some(id.to_string())
    );
    assert_eq!(env.receiver.at("/owners").len(), 1);
    assert_eq!(env.receiver.at("/status").len(), 1);

    let deliveries = sim.deliveries(DEMO);
    assert!(
        deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Delivered && d.attempts.len() == 1)
    );
    let attempts = sim
        .journal()
        .into_iter()
        .filter(|e| matches!(&e.event, Event::WebhookDelivery { status: Some(200), outcome, .. } if outcome == "delivered"))
        .count();
    assert_eq!(attempts, deliveries.len());
}

#[tokio::test]
async fn retries_follow_the_ladder_on_the_simulator_clock() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    env.receiver.status.store(500, Ordering::SeqCst);
    sim.subscribe_webhook(
        DEMO,
        &format!("{}/server-error", env.receiver.base),
        &["add_lead"],
    )
    .expect("subscribe");
    sim.create_lead(DEMO, &json!({ "name": "Retry me" }))
        .expect("lead");
    let first = env.receiver.wait_for("/server-error", 1).await;
    eventually("attempt 1 recorded", || {
        sim.deliveries(DEMO)
            .first()
            .is_some_and(|d| d.attempts.len() == 1 && d.state == DeliveryState::Pending)
    })
    .await;
    let delivery = &sim.deliveries(DEMO)[0];
    let wait = delivery.next_attempt_at.expect("scheduled") - delivery.attempts[0].at;
    assert_eq!(wait.num_minutes(), 5);

    // Each step of the ladder becomes due when the clock reaches it.
    let mut seen = first.len();
    for (minutes, attempt) in [(5, 2), (15, 3), (15, 4), (60, 5)] {
        sim.advance_clock(Duration::from_secs(minutes * 60 - 60));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(env.receiver.at("/server-error").len(), seen, "not due yet");
        sim.advance_clock(Duration::from_secs(61));
        seen = env.receiver.wait_for("/server-error", attempt).await.len();
        eventually("attempt recorded", || {
            sim.deliveries(DEMO)[0].attempts.len() == attempt
        })
        .await;
    }
    let delivery = &sim.deliveries(DEMO)[0];
    assert_eq!(delivery.state, DeliveryState::Failed);
    let mut ids: Vec<&str> = delivery
        .attempts
        .iter()
        .map(|a| a.request_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "a new request id per attempt");
    sim.advance_clock(Duration::from_secs(86_400));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        env.receiver.at("/server-error").len(),
        5,
        "the event is lost"
    );

    // A 4xx stops after three attempts.
    env.receiver.status.store(404, Ordering::SeqCst);
    sim.subscribe_webhook(
        DEMO,
        &format!("{}/gone", env.receiver.base),
        &["update_lead"],
    )
    .expect("subscribe");
    let id = sim.leads(DEMO).expect("leads")[0]["id"]
        .as_i64()
        .expect("id");
    sim.update_lead(DEMO, id, &json!({ "price": 1 }))
        .expect("update");
    for attempt in 1..=3 {
        env.receiver.wait_for("/gone", attempt).await;
        eventually("recorded", || {
            sim.deliveries(DEMO)
                .iter()
                .any(|d| d.destination.ends_with("/gone") && d.attempts.len() == attempt)
        })
        .await;
        sim.advance_clock(Duration::from_secs(15 * 60));
    }
    eventually("failed", || {
        sim.deliveries(DEMO)
            .iter()
            .any(|d| d.destination.ends_with("/gone") && d.state == DeliveryState::Failed)
    })
    .await;
    sim.advance_clock(Duration::from_secs(7_200));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.receiver.at("/gone").len(), 3);
}

#[tokio::test]
async fn a_receiver_slower_than_two_seconds_is_an_invalid_answer() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    env.receiver.delay_ms.store(3_000, Ordering::SeqCst);
    sim.subscribe_webhook(
        DEMO,
        &format!("{}/slow", env.receiver.base),
        &["add_contact"],
    )
    .expect("subscribe");
    sim.create_contact(DEMO, &json!({ "first_name": "Slow" }))
        .expect("contact");
    eventually("the attempt gave up", || {
        sim.deliveries(DEMO)
            .first()
            .is_some_and(|d| !d.attempts.is_empty())
    })
    .await;
    let delivery = &sim.deliveries(DEMO)[0];
    assert_eq!(delivery.attempts[0].status, None);
    assert!(delivery.attempts[0].error.is_some());
    assert_eq!(delivery.state, DeliveryState::Pending, "retried later");
    assert_eq!(env.receiver.at("/slow").len(), 1, "it did arrive, too late");
}

#[tokio::test]
async fn more_than_100_invalid_answers_in_two_hours_disable_until_reposted() {
    let env = unlimited().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    let destination = format!("{}/failing", env.receiver.base);
    env.receiver.status.store(503, Ordering::SeqCst);
    sim.subscribe_webhook(DEMO, &destination, &["add_lead"])
        .expect("subscribe");
    for n in 0..100 {
        sim.create_lead(DEMO, &json!({ "name": format!("L{n}") }))
            .expect("lead");
    }
    env.receiver.wait_for("/failing", 100).await;
    eventually("100 answers recorded", || {
        sim.deliveries(DEMO)
            .iter()
            .filter(|d| !d.attempts.is_empty())
            .count()
            == 100
    })
    .await;
    assert!(!sim.webhooks(DEMO)[0].disabled, "100 is not more than 100");
    sim.create_lead(DEMO, &json!({ "name": "the 101st" }))
        .expect("lead");
    eventually("disabled", || sim.webhooks(DEMO)[0].disabled).await;
    let listed = env
        .api_json(&install.referer, WEBHOOKS, &tokens.access)
        .await;
    assert_eq!(listed["_embedded"]["webhooks"][0]["disabled"], true);
    assert!(sim.journal().iter().any(|e| matches!(
        &e.event,
        Event::WebhookDisabled {
            invalid_answers: 101,
            ..
        }
    )));
    assert!(
        sim.deliveries(DEMO)
            .iter()
            .all(|d| d.state == DeliveryState::Cancelled),
        "no retries for a disabled subscription"
    );

    // Nothing more is sent, even when retries fall due.
    sim.create_lead(DEMO, &json!({ "name": "ignored" }))
        .expect("lead");
    sim.advance_clock(Duration::from_secs(600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.receiver.at("/failing").len(), 101);

    // Re-posting the destination re-arms it.
    env.receiver.status.store(200, Ordering::SeqCst);
    let rearmed: Value = env
        .send(
            Method::POST,
            &install.referer,
            WEBHOOKS,
            &tokens.access,
            &json!({ "destination": destination, "settings": ["add_lead"] }),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rearmed["disabled"], false);
    sim.create_lead(DEMO, &json!({ "name": "after" }))
        .expect("lead");
    let last = env.receiver.wait_for("/failing", 102).await;
    assert_eq!(
        last[101].field("leads[add][0][name]").as_deref(),
        Some("after")
    );
}

#[tokio::test]
async fn knobs_duplicate_reorder_and_drop() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    let destination = format!("{}/knobs", env.receiver.base);
    sim.subscribe_webhook(
        DEMO,
        &destination,
        &["add_lead", "update_lead", "status_lead"],
    )
    .expect("subscribe");
    let set = |body: Value| {
        env.http
            .post(env.admin("/webhooks/knobs"))
            .json(&body)
            .send()
    };

    // Drop the next status hook: the update arrives, the status change does not.
    assert_eq!(
        set(json!({ "kind": "drop", "event": "status_lead" }))
            .await
            .expect("knob")
            .status(),
        200
    );
    let lead = sim
        .create_lead(DEMO, &json!({ "name": "A" }))
        .expect("lead");
    let id = lead["id"].as_i64().expect("id");
    sim.move_lead(DEMO, id, 61_457_203, None).expect("move");
    sim.move_lead(DEMO, id, 61_457_204, None).expect("move");
    // add + (update, status) × 2, less one status.
    let got = env.receiver.wait_for("/knobs", 4).await;
    let statuses = got
        .iter()
        .filter(|r| r.body.contains("leads%5Bstatus%5D"))
        .count();
    assert_eq!(statuses, 1, "one of two status hooks was dropped");
    assert!(sim.journal().iter().any(|e| matches!(
        &e.event,
        Event::WebhookDropped { events, .. } if events == &vec!["status_lead".to_owned()]
    )));
    assert!(sim.hook_knobs().is_empty(), "spent");

    // Duplicate: the same body twice, under different request ids.
    sim.set_hook_knob(HookKnob {
        kind: HookKnobKind::Duplicate,
        count: 1,
    });
    sim.create_lead(DEMO, &json!({ "name": "Twice" }))
        .expect("lead");
    let got = env.receiver.wait_for("/knobs", 6).await;
    let twice: Vec<&Received> = got
        .iter()
        .filter(|r| r.field("leads[add][0][name]").as_deref() == Some("Twice"))
        .collect();
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0].body, twice[1].body);
    assert_ne!(twice[0].request_id, twice[1].request_id);

    // Reorder: the first is held back until the second has been sent.
    set(json!({ "kind": "reorder" })).await.expect("knob");
    sim.create_lead(DEMO, &json!({ "name": "First" }))
        .expect("lead");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.receiver.at("/knobs").len(), 6, "held");
    sim.create_lead(DEMO, &json!({ "name": "Second" }))
        .expect("lead");
    let got = env.receiver.wait_for("/knobs", 8).await;
    let order: Vec<String> = got[6..]
        .iter()
        .filter_map(|r| r.field("leads[add][0][name]"))
        .collect();
    assert_eq!(order, vec!["Second".to_owned(), "First".to_owned()]);
    let cleared = env
        .http
        .delete(env.admin("/webhooks/knobs"))
        .send()
        .await
        .expect("clear");
    assert_eq!(cleared.status(), 200);
    let deliveries: Value = env
        .http
        .get(env.admin(&format!("/accounts/{DEMO}/deliveries")))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    assert!(
        deliveries
            .as_array()
            .expect("list")
            .iter()
            .any(|d| d["state"] == "dropped")
    );
}
