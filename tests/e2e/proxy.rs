//! The proxy `ANY /api/v1/connections/{id}/proxy/{path}` and its rate governor (issue 6,
//! acceptance 1 and 3; docs/amocrm-protocol.md §5–§6; docs/security-requirements.md R36, F5).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use amocrm_sim::{ConfigPatch, Event, Fault, FaultKind, Route};
use amolink_tests::{Browser, Engine, TestApp, Tolerated, both_engines, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{
    api::{Api, problem},
    api_keys::create_key,
    connect::connected,
};

/// A tenant with the demo account connected and a key holding every scope.
pub struct Setup {
    pub tenant: Browser,
    pub id: String,
    pub api: Api,
}

pub async fn setup(app: &TestApp) -> Setup {
    let (tenant, id) = connected(app).await;
    let key = create_key(&tenant, "backend", &["read", "write", "tokens", "proxy"]).await;
    Setup {
        tenant,
        id,
        api: Api::new(app, &key),
    }
}

/// Lets the connect flow's own `/api/v4/account` call (made before the connection existed, so
/// outside the governor) leave amoCRM's one-second window.
async fn after_the_connect_call() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// The simulator journal's current position.
pub fn mark(app: &TestApp) -> u64 {
    app.sim.journal().last().map_or(0, |e| e.seq)
}

/// The simulator's record of API calls to `path` after `since` (see [`mark`]): (time, status).
pub fn api_calls(
    app: &TestApp,
    path: &str,
    since: u64,
) -> Vec<(chrono::DateTime<chrono::Utc>, u16)> {
    app.sim
        .journal_since(since)
        .into_iter()
        .filter_map(|entry| match entry.event {
            Event::Request {
                path: p, status, ..
            } if p == path => Some((entry.at, status)),
            _ => None,
        })
        .collect()
}

/// Every request the simulator saw, of any kind.
pub fn sim_requests(app: &TestApp) -> usize {
    app.sim
        .journal()
        .iter()
        .filter(|e| matches!(e.event, Event::Request { .. }))
        .count()
}

/// Refresh-token grants the simulator issued.
pub fn refreshes(app: &TestApp) -> usize {
    app.sim
        .journal()
        .iter()
        .filter(|e| matches!(&e.event, Event::TokenIssued { via, .. } if via == "refresh_token"))
        .count()
}

/// The most requests within any one second.
fn densest_second(times: &[chrono::DateTime<chrono::Utc>]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= chrono::Duration::seconds(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// What the recording relay saw of one request from amolink.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    header_names: Vec<String>,
}

/// A relay between amolink and the simulator that records every request's headers, so tests can
/// see the `Authorization` amolink sent (the simulator never records token values).
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    target: Arc<Mutex<String>>,
}

impl Recorder {
    async fn start() -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

        let seen = Arc::new(Mutex::new(Vec::new()));
        let target = Arc::new(Mutex::new(String::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (app_seen, app_target) = (seen.clone(), target.clone());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let server = HttpServer::new(move || {
            let (seen, target, client) = (app_seen.clone(), app_target.clone(), client.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (seen, target, client) = (seen.clone(), target.clone(), client.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    seen.lock().unwrap().push(Seen {
                        method: req.method().to_string(),
                        path: req.path().to_owned(),
                        authorization: header("authorization"),
                        header_names: req.headers().keys().map(|k| k.to_string()).collect(),
                    });
                    let base = target.lock().unwrap().clone();
                    let mut upstream = client.request(
                        Method::from_bytes(req.method().as_str().as_bytes()).unwrap(),
                        format!("{base}{}", req.uri()),
                    );
                    for (name, value) in req.headers() {
                        if !["connection", "content-length", "transfer-encoding"]
                            .contains(&name.as_str())
                        {
                            upstream = upstream.header(name.as_str(), value.as_bytes());
                        }
                    }
                    let answer = upstream.body(body.to_vec()).send().await.unwrap();
                    let mut response = HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(answer.status().as_u16()).unwrap(),
                    );
                    for (name, value) in answer.headers() {
                        if !["connection", "content-length", "transfer-encoding"]
                            .contains(&name.as_str())
                        {
                            response.append_header((name.as_str(), value.as_bytes()));
                        }
                    }
                    response.body(answer.bytes().await.unwrap())
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, seen, target }
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn proxied_calls_carry_the_current_token_and_never_the_api_key(engine: Engine) {
    let recorder = Recorder::start().await;
    let app = spawn_app_with(
        engine,
        &[("amocrm_base_url", recorder.url.as_str())],
        |_| {},
    )
    .await;
    *recorder.target.lock().unwrap() = app.sim_url.clone();
    let Setup { id, api, .. } = setup(&app).await;
    let since = mark(&app);
    let client = reqwest::Client::new();
    let proxy = format!("{}/api/v1/connections/{id}/proxy", app.address);

    let account = client
        .get(format!("{proxy}/api/v4/account?with=amojo_id"))
        .bearer_auth(&api.key)
        .header("cookie", "amolink_sid=tenant-cookie")
        .header("x-forwarded-for", "10.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200);
    assert!(
        account.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/hal+json")
    );
    let body: Value = account.json().await.unwrap();
    assert_eq!(body["id"], 31_000_001);
    assert!(body["amojo_id"].is_string(), "the query was forwarded");

    let created = client
        .post(format!("{proxy}/api/v4/leads"))
        .bearer_auth(&api.key)
        .json(&json!([{ "name": "Proxied deal", "price": 1000 }]))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let body: Value = created.json().await.unwrap();
    assert!(body.to_string().contains("leads"), "{body}");
    let listed: Value = client
        .get(format!("{proxy}/api/v4/leads"))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.to_string().contains("Proxied deal"), "{listed}");

    let vended: Value = api
        .call(Method::POST, &format!("/connections/{id}/token"), None)
        .await
        .json()
        .await
        .unwrap();
    let current = format!("Bearer {}", vended["access_token"].as_str().unwrap());
    for path in ["/api/v4/account", "/api/v4/leads"] {
        let seen = recorder.seen(path);
        assert!(!seen.is_empty(), "{path} reached amoCRM");
        for request in seen {
            assert_eq!(
                request.authorization.as_deref(),
                Some(current.as_str()),
                "{request:?}"
            );
            assert!(!request.authorization.unwrap().contains("alk_"));
            for name in ["cookie", "x-forwarded-for"] {
                assert!(
                    !request.header_names.iter().any(|h| h == name),
                    "{name} leaked"
                );
            }
        }
    }
    assert!(
        recorder
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| s.authorization.as_deref())
            .all(|a| !a.contains("alk_")),
        "the API key never left amolink"
    );
    let post = recorder.seen("/api/v4/leads");
    assert!(post.iter().any(|s| s.method == "POST"));
    let calls = api_calls(&app, "/api/v4/account", since);
    assert_eq!(calls.len(), 1);
    assert!(calls.iter().all(|(_, status)| *status == 200), "{calls:?}");
}

async fn scopes_and_workspaces_are_enforced(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { tenant, id, .. } = setup(&app).await;
    let reader = Api::new(&app, &create_key(&tenant, "reader", &["read"]).await);
    let tokens_only = Api::new(&app, &create_key(&tenant, "tokens", &["tokens"]).await);
    let before = sim_requests(&app);
    let proxied = format!("/connections/{id}/proxy/api/v4/account");
    let body = problem(reader.call(Method::GET, &proxied, None).await, 403).await;
    assert!(body["detail"].as_str().unwrap().contains("proxy"));
    problem(tokens_only.call(Method::POST, &proxied, None).await, 403).await;

    let bob = app.signed_in_browser("bob@example.com", "Bob's").await;
    let bob = Api::new(&app, &create_key(&bob, "bob", &["proxy", "tokens"]).await);
    let random = uuid::Uuid::new_v4();
    for target in [id.as_str(), &random.to_string(), "not-a-uuid"] {
        for method in [Method::GET, Method::DELETE, Method::POST] {
            let path = format!("/connections/{target}/proxy/api/v4/leads");
            problem(bob.call(method, &path, None).await, 404).await;
        }
        // A traversal in another workspace's connection is still just "not found".
        let path = format!("/connections/{target}/proxy/api/v4/%2e%2e/x");
        problem(bob.call(Method::GET, &path, None).await, 404).await;
    }
    let anonymous = reqwest::Client::new()
        .get(format!("{}/api/v1{proxied}", app.address))
        .send()
        .await
        .unwrap();
    problem(anonymous, 401).await;
    let options = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}/api/v1{proxied}", app.address))
        .bearer_auth(&bob.key)
        .send()
        .await
        .unwrap();
    assert!(
        options.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("PATCH"),
        "other methods are 405 with Allow"
    );
    problem(options, 405).await;
    assert_eq!(sim_requests(&app), before, "nothing reached amoCRM");
}

/// Sends `target` verbatim on the request line (clients would normalise it) and returns the
/// status code amolink answered.
async fn raw_status(app: &TestApp, method: &str, target: &str, key: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {key}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        app.port
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

async fn traversal_and_foreign_hosts_never_reach_any_host(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    let before = sim_requests(&app);
    let base = format!("/api/v1/connections/{id}/proxy");
    let attempts = [
        "/api/v4/../../oauth2/access_token",
        "/api/v4/../account",
        "/api/v4/./account",
        "/api/v4/%2e%2e/%2e%2e/oauth2/access_token",
        "/api/v4/%2E%2E/account",
        "/api/v4/..%2f..%2foauth2/access_token",
        "/api/v4/%2f%2fevil.example/x",
        "//evil.example/api/v4/account",
        "/https://evil.example/api/v4/account",
        "/https:%2f%2fevil.example/api/v4/account",
        "/http:/evil.example/api/v4/account",
        "/api/v4/account@evil.example",
        "/api/v4/..%5c..%5coauth2/access_token",
        "/api/v4/\\..\\..\\oauth2/access_token",
        "/oauth2/access_token",
        "/api/v4//account",
        "/api/v3/account",
        "/",
        "/evil.example",
    ];
    for attempt in attempts {
        for method in ["GET", "POST", "DELETE"] {
            let status = raw_status(&app, method, &format!("{base}{attempt}"), &api.key).await;
            assert_eq!(status, 400, "{method} {attempt}");
        }
    }
    let res = api
        .call(
            Method::GET,
            &format!("/connections/{id}/proxy/api/v4/%2e%2e/oauth2/access_token"),
            None,
        )
        .await;
    let body = problem(res, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("path"), "{body}");
    assert_eq!(
        sim_requests(&app),
        before,
        "zero requests at amoCRM or anywhere"
    );
}

async fn a_hundred_concurrent_calls_never_exceed_seven_per_second(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    let url = format!(
        "{}/api/v1/connections/{id}/proxy/api/v4/account",
        app.address
    );
    after_the_connect_call().await;
    let since = mark(&app);
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (client, url, key) = (client.clone(), url.clone(), api.key.clone());
        tasks.push(tokio::spawn(async move {
            let res = client.get(url).bearer_auth(key).send().await.unwrap();
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let content_type = res.headers().get("content-type").cloned();
            (status, retry_after, content_type)
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        let (status, retry_after, content_type) = task.await.unwrap();
        match status {
            200..=299 => ok += 1,
            429 => {
                limited += 1;
                assert!(
                    retry_after.is_some_and(|s| s >= 1),
                    "429 carries Retry-After"
                );
                assert_eq!(content_type.unwrap(), "application/problem+json");
            }
            other => panic!("a tenant request got {other}"),
        }
    }
    assert_eq!(ok + limited, 100);
    assert!(
        ok >= 50,
        "about ten seconds of capacity was used: {ok} ok, {limited} limited"
    );
    let calls = api_calls(&app, "/api/v4/account", since);
    assert_eq!(calls.len(), ok, "each admitted call reached amoCRM once");
    assert!(
        calls.iter().all(|(_, status)| *status == 200),
        "amoCRM never refused: {calls:?}"
    );
    let times: Vec<_> = calls.iter().map(|(at, _)| *at).collect();
    let densest = densest_second(&times);
    assert!(
        densest <= 7,
        "amoCRM saw {densest} requests within one second"
    );
}

async fn two_instances_share_one_budget(engine: Engine) {
    let app = spawn_app(engine).await;
    let sibling = app.sibling(&app.master_keys).await;
    let Setup { id, api, .. } = setup(&app).await;
    after_the_connect_call().await;
    let since = mark(&app);
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for n in 0..60 {
        let address = if n % 2 == 0 {
            &app.address
        } else {
            &sibling.address
        };
        let url = format!("{address}/api/v1/connections/{id}/proxy/api/v4/account");
        let (client, key) = (client.clone(), api.key.clone());
        tasks.push(tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            200..=299 => ok += 1,
            429 => {}
            other => panic!("a tenant request got {other}"),
        }
    }
    assert!(ok >= 40, "{ok}");
    let calls = api_calls(&app, "/api/v4/account", since);
    assert_eq!(calls.len(), ok);
    assert!(calls.iter().all(|(_, status)| *status == 200), "{calls:?}");
    let times: Vec<_> = calls.iter().map(|(at, _)| *at).collect();
    let densest = densest_second(&times);
    assert!(
        densest <= 7,
        "amoCRM saw {densest} requests within one second from two instances"
    );
}

async fn a_refused_token_is_replaced_once_and_the_call_retried(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    let path = format!("/connections/{id}/proxy/api/v4/account");
    let since = mark(&app);
    app.sim
        .set_fault(
            Route::Account,
            Fault::times(FaultKind::Status { status: 401 }, 1),
        )
        .unwrap();
    let res = api.call(Method::GET, &path, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(refreshes(&app), 1, "exactly one refresh");
    let statuses: Vec<u16> = api_calls(&app, "/api/v4/account", since)
        .iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(statuses, [401, 200], "one retry with the new token");

    // Every caller holding a token amoCRM no longer accepts shares one refresh. amoCRM's clock
    // jumps a day ahead of amolink's, so amoCRM sees an expired token that amolink cannot know
    // is; amolink's clock moves only past the keeper's interval between token calls.
    app.tolerate(Tolerated::ExpiredAccessToken);
    app.sim.advance_clock(Duration::from_secs(25 * 3600));
    app.clock.advance(chrono::Duration::seconds(6));
    let url = format!("{}/api/v1{path}", app.address);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let (url, key) = (url.clone(), api.key.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                client
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    assert_eq!(
        refreshes(&app),
        2,
        "one refresh for every caller refused together"
    );

    // A fresh token refused too: 502, one refresh, and the connection is left alone.
    app.clock.advance(chrono::Duration::seconds(6));
    app.sim
        .set_fault(
            Route::Account,
            Fault::times(FaultKind::Status { status: 401 }, 2),
        )
        .unwrap();
    let body = problem(api.call(Method::GET, &path, None).await, 502).await;
    assert!(
        body["detail"].as_str().unwrap().contains("refresh"),
        "{body}"
    );
    assert_eq!(refreshes(&app), 3);
    assert_eq!(
        api.get_json(&format!("/connections/{id}")).await["status"],
        "active"
    );
    assert_eq!(app.sim.stale_refresh_presentations(), 0);
}

async fn amocrm_429_is_relayed_with_retry_after_and_pauses_the_connection(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    let path = format!("/connections/{id}/proxy/api/v4/account");
    // amoCRM allows this integration less than amolink's pace: the second call gets its 429.
    app.sim.update_config(ConfigPatch {
        rate_limit_per_sec: Some(1),
        violations_before_block: Some(100),
        ..ConfigPatch::default()
    });
    after_the_connect_call().await;
    assert_eq!(api.call(Method::GET, &path, None).await.status(), 200);
    let limited = api.call(Method::GET, &path, None).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(
        body["retry_after"], 1,
        "amoCRM's own answer is relayed: {body}"
    );
    // The pause holds the next call until amoCRM's window has passed.
    let started = std::time::Instant::now();
    assert_eq!(api.call(Method::GET, &path, None).await.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

async fn a_block_stops_traffic_and_marks_the_connection_until_amocrm_answers_again(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { tenant, id, api } = setup(&app).await;
    let path = format!("/connections/{id}/proxy/api/v4/account");
    // Someone misuses a vended token until amoCRM blocks the integration.
    app.sim.update_config(ConfigPatch {
        rate_limit_per_sec: Some(1),
        violations_before_block: Some(2),
        block_secs: Some(2),
        ..ConfigPatch::default()
    });
    let token: Value = api
        .call(Method::POST, &format!("/connections/{id}/token"), None)
        .await
        .json()
        .await
        .unwrap();
    let direct = format!("{}/_sim/site/demo.amocrm.ru/api/v4/account", app.sim_url);
    let client = reqwest::Client::new();
    for _ in 0..4 {
        client
            .get(&direct)
            .bearer_auth(token["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    }
    let blocked = api.call(Method::GET, &path, None).await;
    assert_eq!(blocked.status(), 403, "amoCRM's block is relayed");
    let connection = api.get_json(&format!("/connections/{id}")).await;
    assert_eq!(connection["status"], "rate_limited", "{connection}");
    assert!(
        connection["status_reason"]
            .as_str()
            .unwrap()
            .contains("blocked")
    );

    let before = sim_requests(&app);
    let paused = api.call(Method::GET, &path, None).await;
    let retry_after: u64 = paused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after >= 250,
        "the cooldown is announced: {retry_after}"
    );
    problem(paused, 429).await;
    assert_eq!(sim_requests(&app), before, "no traffic during the cooldown");

    // amoCRM lifts its block and the cooldown ends (shortened here, once this instance's share
    // of the budget has run out): active again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let db = app.database.connection();
    sea_orm::ConnectionTrait::execute_unprepared(
        db,
        "UPDATE integration_rate_limits SET budget = '{}'",
    )
    .await
    .unwrap();
    assert_eq!(api.call(Method::GET, &path, None).await.status(), 200);
    let connection = api.get_json(&format!("/connections/{id}")).await;
    assert_eq!(connection["status"], "active", "{connection}");
    let history = tenant.get_html(&format!("/connections/{id}")).await;
    assert!(
        history.contains("Blocked by amoCRM"),
        "the block is in the history"
    );
    assert!(history.contains("amoCRM answers again"));
}

both_engines!(
    proxied_calls_carry_the_current_token_and_never_the_api_key,
    scopes_and_workspaces_are_enforced,
    traversal_and_foreign_hosts_never_reach_any_host,
    a_hundred_concurrent_calls_never_exceed_seven_per_second,
    two_instances_share_one_budget,
    a_refused_token_is_replaced_once_and_the_call_retried,
    amocrm_429_is_relayed_with_retry_after_and_pauses_the_connection,
    a_block_stops_traffic_and_marks_the_connection_until_amocrm_answers_again,
);
