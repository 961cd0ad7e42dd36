//! Outgoing webhooks end to end (issue 6, acceptance 4): real deliveries to a receiver on
//! 127.0.0.1 that verifies them with the independent `standardwebhooks` crate, retries driven by
//! the test clock, replay from the page, secret rotation, the SSRF guard and tenant isolation.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use amolink_tests::{Browser, Engine, Page, TestApp, both_engines, captured_logs, spawn_app_with};
use chrono::Duration as Span;
use domain::{
    clock::Clock as _,
    crypto::Keyring,
    webhooks::{Deliverer, DeliveryReport, DestinationPolicy},
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sea_orm::{ConnectionTrait as _, Statement};
use secrecy::SecretString;
use standardwebhooks::Webhook;

use crate::connect::{DEMO_ADMIN_ACCOUNT, tenant};

const PASSWORD: &str = "correct horse battery";
const ALL_EVENTS: [&str; 5] = [
    "connection.created",
    "connection.reconnected",
    "connection.needs_reauth",
    "connection.disconnected",
    "connection.revoked",
];

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verification exactly as a tenant's receiver would do it.
    pub(crate) fn verify(&self, secret: &str) -> Result<(), standardwebhooks::WebhookError> {
        Webhook::new(secret)?.verify(&self.body, &self.headers)
    }
}

/// How the receiver answers one request: a status and extra headers.
type Answer = (u16, Vec<(&'static str, String)>);

#[derive(Default)]
struct ReceiverState {
    seen: Mutex<Vec<Received>>,
    /// Answers for the next requests, in order; 200 once it runs out.
    script: Mutex<VecDeque<Answer>>,
    /// While set, every request is answered 503 (and not recorded as seen).
    down: std::sync::atomic::AtomicBool,
}

/// A tiny tenant-side webhook receiver.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    if state.down.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers() {
        headers.append(
            HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    state.seen.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
    });
    let (status, extra) = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, Vec::new()));
    let mut answer = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in extra {
        answer.insert_header((name, value));
    }
    answer.finish()
}

impl Receiver {
    pub(crate) async fn start(ip: &str) -> Self {
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
        let url = format!("http://{}/hooks/amolink", listener.local_addr().unwrap());
        let state = web::Data::new(ReceiverState::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url,
            state: state.into_inner(),
        }
    }

    pub(crate) fn answer_next(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.script.lock().unwrap().extend(answers);
    }

    /// Takes the receiver down (503 to everything) or brings it back.
    pub(crate) fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn seen(&self) -> Vec<Received> {
        self.state.seen.lock().unwrap().clone()
    }
}

/// An app whose background worker is off (the harness default, stated here because these
/// tests depend on it): the test drains the outbox itself.
async fn quiet_app(engine: Engine, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![("webhook_worker", "false")];
    settings.extend_from_slice(extra);
    spawn_app_with(engine, &settings, |_| {}).await
}

/// A delivery worker over the app's database and keys, with the development policy.
pub(crate) fn deliverer(app: &TestApp) -> Deliverer {
    let keyring = Keyring::parse(&SecretString::from(app.master_keys.clone())).unwrap();
    ::web::webhooks::deliverer(
        Arc::new(app.database.clone()),
        Arc::new(keyring),
        DestinationPolicy::AllowLoopback,
    )
    .unwrap()
}

pub(crate) async fn drain(app: &TestApp, worker: &Deliverer) -> DeliveryReport {
    worker.try_deliver_due(app.clock.now()).await.unwrap()
}

/// Text between `start` and the next `end` in `html`.
pub(crate) fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// Adds an endpoint through the page; returns its id and the secret shown once.
pub(crate) async fn add_endpoint(
    browser: &Browser,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let mut form = vec![("url", url)];
    form.extend(events.iter().map(|event| (*event, "on")));
    let res = browser
        .submit("/settings/webhooks", "/settings/webhooks", &form)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = Page::parse(&html)
        .text("code#new-secret")
        .expect("the secret is shown");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = Page::parse(&html)
        .id_after("/settings/webhooks/")
        .expect("the endpoint is linked");
    (id, secret)
}

/// Connects the demo account; returns the connection id.
pub(crate) async fn connect(app: &TestApp, browser: &Browser, link: &str) -> String {
    let (_, answer) = app.connect_account(link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let list = browser.get_html("/connections").await;
    Page::parse(&list)
        .id_after("/connections/")
        .expect("the connection is listed")
}

/// After the clock jumps past the session's idle timeout: ann signs in again in a new browser.
async fn log_in_again(app: &TestApp) -> Browser {
    let browser = app.browser();
    let res = browser.log_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 303);
    browser
}

pub(crate) async fn revoke(browser: &Browser, connection: &str) {
    let res = browser
        .submit(
            &format!("/connections/{connection}"),
            &format!("/connections/{connection}/revoke"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
}

async fn delivery_log(browser: &Browser, endpoint: &str) -> String {
    let res = browser.get(&format!("/settings/webhooks/{endpoint}")).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn stored_secret(app: &TestApp) -> String {
    let db = app.database.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT secret FROM webhook_endpoints",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "secret").unwrap()
}

async fn deliveries_verify_with_the_standard_webhooks_crate(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, secret) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;

    let connection = connect(&app, &ann, &link).await;
    revoke(&ann, &connection).await;

    // Two workers drain at once: each delivery is sent exactly once.
    let (first, second) = (deliverer(&app), deliverer(&app));
    let (a, b) = tokio::join!(drain(&app, &first), drain(&app, &second));
    assert_eq!(a.delivered + b.delivered, 2, "{a:?} {b:?}");
    assert_eq!(
        drain(&app, &first).await.attempted,
        0,
        "nothing is sent twice"
    );

    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        request.verify(&secret).expect("verifies");
        assert_eq!(request.header("content-type"), "application/json");
        assert!(request.header("webhook-id").starts_with("msg_"));
        let body = String::from_utf8_lossy(&request.body);
        for secret_field in ["token", "secret", "client_id"] {
            assert!(!body.contains(secret_field), "{secret_field} in {body}");
        }
    }
    assert_ne!(seen[0].header("webhook-id"), seen[1].header("webhook-id"));
    let mut types: Vec<String> = seen
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["connection.created", "connection.revoked"]);
    let revoked = seen
        .iter()
        .map(Received::json)
        .find(|json| json["type"] == "connection.revoked")
        .unwrap();
    let data = &revoked["data"];
    assert_eq!(data["id"], connection.as_str());
    assert_eq!(data["platform"], "amocrm");
    assert_eq!(data["account_id"], DEMO_ADMIN_ACCOUNT);
    assert_eq!(data["account_name"], "Рога и копыта");
    assert_eq!(data["status"], "revoked");
    assert!(data["end_user_id"].is_null());
    assert!(chrono::DateTime::parse_from_rfc3339(revoked["timestamp"].as_str().unwrap()).is_ok());

    // What a receiver must refuse (docs/security-requirements.md R43).
    let genuine = &seen[0];
    let mut tampered = genuine.clone();
    tampered.body.push(b' ');
    assert!(tampered.verify(&secret).is_err(), "a changed body");
    assert!(
        genuine
            .verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
            .is_err(),
        "another secret"
    );
    let signature = genuine.header("webhook-signature");
    for forged in ["v1,", "v2,AAAA", &signature[..20]] {
        let mut copy = genuine.clone();
        copy.headers
            .insert("webhook-signature", HeaderValue::from_str(forged).unwrap());
        assert!(copy.verify(&secret).is_err(), "{forged}");
    }
    let mut stale = genuine.clone();
    let old = genuine.header("webhook-timestamp").parse::<i64>().unwrap() - 301;
    stale.headers.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&old.to_string()).unwrap(),
    );
    assert!(stale.verify(&secret).is_err(), "a timestamp 301 s old");

    // The log shows both deliveries; the secret is never shown again, stored or logged.
    let log = delivery_log(&ann, &endpoint).await;
    assert_eq!(log.matches("data-status=\"delivered\"").count(), 2, "{log}");
    assert!(log.contains("<td>200</td>"));
    let list = ann.get_html("/settings/webhooks").await;
    assert!(list.contains(&receiver.url));
    for page in [&log, &list] {
        assert!(!page.contains(&secret), "the secret is shown again");
    }
    let sealed = stored_secret(&app).await;
    assert!(sealed.starts_with("v1:t1:"), "{sealed}");
    assert!(!sealed.contains(&secret[6..]));
    assert!(
        !captured_logs().contains(&secret[6..]),
        "the secret reached the logs"
    );
}

async fn a_receiver_that_fails_three_times_still_gets_the_event(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    receiver.answer_next([(500, Vec::new()), (500, Vec::new()), (500, Vec::new())]);
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, secret) = add_endpoint(&ann, &receiver.url, &["connection.created"]).await;
    let connection = connect(&app, &ann, &link).await;
    let worker = deliverer(&app);

    let first = drain(&app, &worker).await;
    assert_eq!((first.attempted, first.retrying), (1, 1));
    assert_eq!(
        drain(&app, &worker).await.attempted,
        0,
        "a failed delivery waits for its next slot"
    );
    let log = delivery_log(&ann, &endpoint).await;
    assert!(log.contains("data-status=\"pending\"") && log.contains("<td>500</td>"));

    let mut report = DeliveryReport::default();
    for _ in 0..3 {
        app.clock.advance(Span::hours(1));
        report = drain(&app, &worker).await;
        assert_eq!(report.attempted, 1);
    }
    assert_eq!(report.delivered, 1, "the fourth attempt succeeds");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 4);
    let id = seen[0].header("webhook-id");
    for attempt in &seen {
        assert_eq!(
            attempt.header("webhook-id"),
            id,
            "the same id on every retry"
        );
        assert_eq!(attempt.body, seen[0].body, "the same bytes on every retry");
        attempt.verify(&secret).expect("every attempt verifies");
    }

    // The clock moved past the session's idle timeout.
    let ann = log_in_again(&app).await;
    let log = delivery_log(&ann, &endpoint).await;
    assert!(log.contains("data-status=\"delivered\""), "{log}");
    assert!(log.contains("<td>4</td>"), "four attempts: {log}");

    // Not subscribed to revocations: nothing is queued for them.
    revoke(&ann, &connection).await;
    assert_eq!(drain(&app, &worker).await.attempted, 0);
    assert_eq!(receiver.seen().len(), 4);
}

async fn a_day_of_failures_gives_up_and_disables_the_endpoint(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    receiver.answer_next((0..20).map(|_| (503, Vec::new())));
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, _) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;
    connect(&app, &ann, &link).await;
    let worker = deliverer(&app);
    let mut attempts = 0;
    let mut last = DeliveryReport::default();
    for _ in 0..12 {
        last = drain(&app, &worker).await;
        attempts += last.attempted;
        if last.failed > 0 {
            break;
        }
        // Longer than the longest wait (6 h + 10 % jitter).
        app.clock.advance(Span::hours(7));
    }
    assert_eq!(attempts, 10, "ten attempts");
    assert_eq!(last.failed, 1, "then it gives up");
    app.clock.advance(Span::hours(7));
    assert_eq!(drain(&app, &worker).await.attempted, 0);
    assert_eq!(receiver.seen().len(), 10);

    let ann = log_in_again(&app).await;
    let log = delivery_log(&ann, &endpoint).await;
    assert!(log.contains("data-status=\"failed\""), "{log}");
    assert!(
        log.contains("failed for a day"),
        "disabled with a reason: {log}"
    );
}

async fn replay_from_the_page_redelivers(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, secret) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;
    connect(&app, &ann, &link).await;
    let worker = deliverer(&app);
    assert_eq!(drain(&app, &worker).await.delivered, 1);

    let page = format!("/settings/webhooks/{endpoint}");
    let log = delivery_log(&ann, &endpoint).await;
    let delivery = Page::parse(&log)
        .attr("[data-delivery]", "data-delivery")
        .unwrap();
    let replay = format!("/settings/webhooks/{endpoint}/deliveries/{delivery}/replay");
    assert!(
        log.contains(&format!("action=\"{replay}\"")),
        "a Replay button"
    );
    assert_eq!(ann.post_form(&replay, &[]).await.status(), 403, "CSRF");
    let res = ann.submit(&page, &replay, &[]).await;
    assert_eq!(res.status(), 303);
    let log = delivery_log(&ann, &endpoint).await;
    assert_eq!(log.matches("data-status=\"pending\"").count(), 1, "{log}");

    assert_eq!(drain(&app, &worker).await.delivered, 1);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("webhook-id"), seen[0].header("webhook-id"));
    assert_eq!(seen[1].body, seen[0].body);
    seen[1].verify(&secret).expect("the replay verifies");
    let log = delivery_log(&ann, &endpoint).await;
    assert_eq!(log.matches("data-status=\"delivered\"").count(), 2);
}

async fn rotation_signs_with_both_secrets_during_the_overlap(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, old) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;
    let page = format!("/settings/webhooks/{endpoint}");
    let res = ann
        .submit(&page, &format!("/settings/webhooks/{endpoint}/rotate"), &[])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let new = Page::parse(&html).text("code#new-secret").unwrap();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(!delivery_log(&ann, &endpoint).await.contains(&new));

    let connection = connect(&app, &ann, &link).await;
    let worker = deliverer(&app);
    assert_eq!(drain(&app, &worker).await.delivered, 1);
    let during = &receiver.seen()[0];
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    during
        .verify(&old)
        .expect("the old secret verifies during the overlap");
    during.verify(&new).expect("the new secret verifies");

    app.clock.advance(Span::hours(25));
    let ann = log_in_again(&app).await;
    revoke(&ann, &connection).await;
    assert_eq!(drain(&app, &worker).await.delivered, 1);
    let after = &receiver.seen()[1];
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    after.verify(&new).expect("the new secret verifies");
    assert!(after.verify(&old).is_err(), "the overlap is over");
}

async fn ssrf_targets_are_refused_at_save_time_in_production(engine: Engine) {
    let app = quiet_app(
        engine,
        &[
            ("env", "production"),
            ("public_url", "https://amolink.example"),
        ],
    )
    .await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let page = ann.get_html("/settings/webhooks").await;
    assert!(page.contains("https only"), "{page}");
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://10.20.30.40:8443/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://2130706433/hook",
        "https://0x7f.1/hook",
        "https://localhost/hook",
        "http://hooks.example.com/",
    ] {
        let res = ann
            .submit(
                "/settings/webhooks",
                "/settings/webhooks",
                &[("url", url), ("connection.created", "on")],
            )
            .await;
        assert_eq!(res.status(), 400, "{url}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("must start with https://") || html.contains("otherwise not public"),
            "{url}: {html}"
        );
        assert!(!html.contains("new-secret"), "{url}");
    }
    let list = ann.get_html("/settings/webhooks").await;
    assert!(
        list.contains("No webhook endpoints yet."),
        "nothing was saved"
    );

    // A public literal address is accepted (nothing is sent: there is no event).
    let (_, secret) = add_endpoint(&ann, "https://1.1.1.1/hook", &["connection.created"]).await;
    assert!(secret.starts_with("whsec_"));
}

async fn other_workspaces_endpoints_are_not_found(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, secret) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;
    connect(&app, &ann, &link).await;
    assert_eq!(drain(&app, &deliverer(&app)).await.delivered, 1);
    let log = delivery_log(&ann, &endpoint).await;
    let delivery = Page::parse(&log)
        .attr("[data-delivery]", "data-delivery")
        .unwrap();

    let bob = app.signed_in_browser("bob@example.com", "Bob's").await;
    assert!(
        !bob.get_html("/settings/webhooks")
            .await
            .contains(&receiver.url)
    );
    assert_eq!(
        bob.get(&format!("/settings/webhooks/{endpoint}"))
            .await
            .status(),
        404
    );
    for action in ["rotate", "disable", "enable", "delete"] {
        let res = bob
            .submit(
                "/settings/webhooks",
                &format!("/settings/webhooks/{endpoint}/{action}"),
                &[],
            )
            .await;
        assert_eq!(res.status(), 404, "{action}");
    }
    let replay = format!("/settings/webhooks/{endpoint}/deliveries/{delivery}/replay");
    assert_eq!(
        bob.submit("/settings/webhooks", &replay, &[])
            .await
            .status(),
        404
    );
    // Ann's own endpoint with a delivery id that is not one of its deliveries.
    let foreign = format!(
        "/settings/webhooks/{endpoint}/deliveries/{}/replay",
        uuid::Uuid::new_v4()
    );
    assert_eq!(
        ann.submit("/settings/webhooks", &foreign, &[])
            .await
            .status(),
        404
    );
    assert_eq!(ann.get("/settings/webhooks/not-a-uuid").await.status(), 404);

    // Nothing bob did changed ann's endpoint or its secret.
    let log = delivery_log(&ann, &endpoint).await;
    assert!(log.contains("badge ok\">Enabled"), "{log}");
    assert_eq!(log.matches("data-delivery=").count(), 1);
    assert!(receiver.seen()[0].verify(&secret).is_ok());
}

async fn gone_disables_and_redirects_are_not_followed(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    // A second listener that a redirect points at: it must never be reached.
    let internal = Receiver::start("127.0.0.9").await;
    receiver.answer_next([
        (302, vec![("location", internal.url.clone())]),
        (429, vec![("retry-after", "7200".to_owned())]),
        (410, Vec::new()),
    ]);
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, _) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;
    connect(&app, &ann, &link).await;
    let worker = deliverer(&app);

    assert_eq!(drain(&app, &worker).await.retrying, 1, "a 302 is a failure");
    app.clock.advance(Span::seconds(10));
    assert_eq!(drain(&app, &worker).await.retrying, 1, "429");
    // The schedule's next slot (5 min) is earlier, but Retry-After asked for two hours.
    app.clock.advance(Span::minutes(90));
    assert_eq!(
        drain(&app, &worker).await.attempted,
        0,
        "Retry-After is honoured"
    );
    app.clock.advance(Span::minutes(31));
    let gone = drain(&app, &worker).await;
    assert_eq!((gone.attempted, gone.failed), (1, 1), "410");
    assert_eq!(internal.seen().len(), 0, "the redirect was not followed");
    assert_eq!(receiver.seen().len(), 3);

    let ann = log_in_again(&app).await;
    let log = delivery_log(&ann, &endpoint).await;
    assert!(log.contains("badge bad\">Disabled"), "{log}");
    assert!(log.contains("410 Gone"), "{log}");
    assert!(log.contains("data-status=\"failed\""));
    // A disabled endpoint gets nothing, and replay asks to enable it first.
    let delivery = Page::parse(&log)
        .attr("[data-delivery]", "data-delivery")
        .unwrap();
    let replay = format!("/settings/webhooks/{endpoint}/deliveries/{delivery}/replay");
    let page = format!("/settings/webhooks/{endpoint}");
    assert_eq!(ann.submit(&page, &replay, &[]).await.status(), 409);
    let enable = format!("/settings/webhooks/{endpoint}/enable");
    assert_eq!(ann.submit(&page, &enable, &[]).await.status(), 303);
    assert_eq!(ann.submit(&page, &replay, &[]).await.status(), 303);
    assert_eq!(drain(&app, &worker).await.delivered, 1);
}

async fn the_worker_in_serve_delivers_on_its_own(engine: Engine) {
    let app = spawn_app_with(engine, &[("webhook_worker", "true")], |_| {}).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (_, secret) = add_endpoint(&ann, &receiver.url, &["connection.created"]).await;
    connect(&app, &ann, &link).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while receiver.seen().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "the background worker delivered");
    seen[0].verify(&secret).expect("verifies");
}

async fn master_key_rotation_reseals_webhook_secrets(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (endpoint, old) = add_endpoint(&ann, &receiver.url, &ALL_EVENTS).await;
    let page = format!("/settings/webhooks/{endpoint}");
    let rotate_secret = format!("/settings/webhooks/{endpoint}/rotate");
    let html = ann
        .submit(&page, &rotate_secret, &[])
        .await
        .text()
        .await
        .unwrap();
    let new = Page::parse(&html).text("code#new-secret").unwrap();

    // `amolink keys rotate` with k2 as the new primary, then t1 is removed from the ring.
    let k2 = Keyring::generate_entry("k2");
    let both = Keyring::parse(&SecretString::from(format!("{k2},{}", app.master_keys))).unwrap();
    let store: Arc<dyn domain::key_rotation::SealedValues> = Arc::new(app.database.clone());
    let report = domain::key_rotation::rotate(&store, &both).await.unwrap();
    assert_eq!(report.unreadable, 0);
    assert!(
        report.resealed >= 2,
        "current and previous secret: {report:?}"
    );
    assert!(stored_secret(&app).await.starts_with("v1:k2:"));

    let only_k2 = Keyring::parse(&SecretString::from(k2)).unwrap();
    let worker = ::web::webhooks::deliverer(
        Arc::new(app.database.clone()),
        Arc::new(only_k2),
        DestinationPolicy::AllowLoopback,
    )
    .unwrap();
    connect(&app, &ann, &link).await;
    assert_eq!(drain(&app, &worker).await.delivered, 1);
    let seen = receiver.seen();
    seen[0]
        .verify(&new)
        .expect("the current secret survived re-encryption");
    seen[0].verify(&old).expect("so did the previous one");
}

/// "Send test event" queues a signed `webhook.test` through the outbox: a flash says so, the
/// delivery log shows it, and the receiver verifies it with the endpoint's secret, whatever the
/// endpoint subscribed to. Another workspace cannot, and a disabled endpoint is not sent one.
async fn a_test_event_reaches_the_endpoint_signed(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (id, secret) = add_endpoint(&ann, &receiver.url, &["connection.revoked"]).await;
    let page = format!("/settings/webhooks/{id}");
    let test = format!("{page}/test");

    let res = ann.submit(&page, &test, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], page.as_str());
    let html = delivery_log(&ann, &id).await;
    let log = Page::parse(&html);
    let said = log.text("p.flash").expect("a message after sending");
    assert!(said.contains("Test event queued"), "{said}");
    assert_eq!(
        log.text("tr[data-status=pending] td code").as_deref(),
        Some("webhook.test"),
        "the delivery log shows it"
    );
    let message_id = log
        .text("tr[data-delivery] code.msg")
        .expect("its webhook id");

    let report = drain(&app, &deliverer(&app)).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    seen[0].verify(&secret).expect("the signature verifies");
    assert_eq!(seen[0].header("webhook-id"), message_id);
    let body = seen[0].json();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpoint_id"], id.as_str());
    let log = Page::parse(&delivery_log(&ann, &id).await);
    assert!(
        log.attr("tr[data-status=delivered]", "data-delivery")
            .is_some()
    );

    let bob = app.signed_in_browser("bob@example.com", "Bob's").await;
    assert_eq!(bob.submit("/dashboard", &test, &[]).await.status(), 404);

    let res = ann.submit(&page, &format!("{page}/disable"), &[]).await;
    assert_eq!(res.status(), 303);
    let log = Page::parse(&delivery_log(&ann, &id).await);
    assert!(
        log.attr(&format!("form[action='{test}']"), "method")
            .is_none(),
        "no test button while disabled"
    );
    assert_eq!(ann.submit(&page, &test, &[]).await.status(), 409);
    assert_eq!(receiver.seen().len(), 1);
}

both_engines!(
    a_test_event_reaches_the_endpoint_signed,
    master_key_rotation_reseals_webhook_secrets,
    deliveries_verify_with_the_standard_webhooks_crate,
    a_receiver_that_fails_three_times_still_gets_the_event,
    a_day_of_failures_gives_up_and_disables_the_endpoint,
    replay_from_the_page_redelivers,
    rotation_signs_with_both_secrets_during_the_overlap,
    ssrf_targets_are_refused_at_save_time_in_production,
    other_workspaces_endpoints_are_not_found,
    gone_disables_and_redirects_are_not_followed,
    the_worker_in_serve_delivers_on_its_own,
);

/// The verification snippets on `/api/docs` (issue 12): the Python and Node.js ones, taken from
/// the page as printed, accept a real delivery and refuse it once its body is changed. (PHP is
/// not installed on the build machines; its snippet follows the same steps.)
async fn the_documented_verifiers_accept_a_real_delivery(engine: Engine) {
    let app = quiet_app(engine, &[]).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (id, secret) = add_endpoint(&ann, &receiver.url, &["connection.revoked"]).await;
    let page = format!("/settings/webhooks/{id}");
    assert_eq!(
        ann.submit(&page, &format!("{page}/test"), &[])
            .await
            .status(),
        303
    );
    drain(&app, &deliverer(&app)).await;
    let seen = receiver.seen();
    let delivery = seen.first().expect("the test event arrived");
    let headers = serde_json::json!({
        "webhook-id": delivery.header("webhook-id"),
        "webhook-timestamp": delivery.header("webhook-timestamp"),
        "webhook-signature": delivery.header("webhook-signature"),
    });
    let body = String::from_utf8(delivery.body.clone()).unwrap();

    let docs = Page::parse(&ann.get_html("/api/docs").await);
    let snippets = docs.texts("#webhooks h4 + pre");
    let [node, python, _php] = snippets.as_slice() else {
        panic!("three snippets: {snippets:?}");
    };
    let dir = std::env::temp_dir().join(format!("amolink-verify-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |program: &str, file: &str, script: String| {
        let path = dir.join(file);
        std::fs::write(&path, script).unwrap();
        let out = std::process::Command::new(program)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(out.status.success(), "{program}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    for (tampered, expected) in [(false, "true"), (true, "false")] {
        let body = if tampered {
            body.replace("webhook.test", "webhook.tesT")
        } else {
            body.clone()
        };
        let args = format!(
            "{}, {}, {}",
            serde_json::to_string(&secret).unwrap(),
            headers,
            serde_json::to_string(&body).unwrap()
        );
        let python_says = run(
            "python3",
            "verify.py",
            format!(
                "{python}\nimport json\nprint(json.dumps(verify({}, {headers}, {}.encode())))\n",
                serde_json::to_string(&secret).unwrap(),
                serde_json::to_string(&body).unwrap(),
            ),
        );
        assert_eq!(python_says, expected, "python, tampered: {tampered}");
        let node_says = run(
            "node",
            "verify.js",
            format!("{node}\nconsole.log(JSON.stringify(verify({args})));\n"),
        );
        assert_eq!(node_says, expected, "node, tampered: {tampered}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

both_engines!(the_documented_verifiers_accept_a_real_delivery);
