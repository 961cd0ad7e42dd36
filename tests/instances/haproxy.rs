//! Scale-out as users run it (issue 15): two `amolink serve` processes on one PostgreSQL behind
//! Debian's haproxy — the topology of `docker-compose.yml` and `deploy/haproxy.cfg`, started
//! here without Docker. Sign-in on one instance works on the other, a rolling restart drops no
//! request, the governor holds across both for 200 concurrent callers, the keeper refreshes
//! each connection once, and two instances started at the same instant on an empty database
//! both come up.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use amocrm_sim::RefreshGrace;
use amolink_tests::{Page, untolerated_violations};
use chrono::Utc;
use domain::{
    api_keys::{ApiKey, ApiKeyHasher, ApiKeyRepository as _, ApiKeySecret, ApiScope, ApiScopes},
    crypto::Keyring,
    ids::ApiKeyId,
};
use secrecy::SecretString;
use tokio::task::JoinSet;

use crate::fleet::{CYCLE, Fleet, ONE_AT_A_TIME};

/// A port that was free a moment ago (each process must be told its port before it starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// haproxy in the foreground with a generated configuration, killed on drop.
struct Haproxy {
    child: Child,
}

/// The configuration the test runs: the same choices as `deploy/haproxy.cfg` (health checks on
/// `/readyz`, retries with redispatch to the other instance), with short check intervals.
fn haproxy_config(port: u16, stats: u16, backends: &[u16]) -> String {
    let mut config = format!(
        "global\n  maxconn 4096\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
         timeout queue 10s\n  retries 3\n  option redispatch 1\n  \
         retry-on conn-failure empty-response response-timeout\n\
         listen stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n\
         frontend amolink\n  bind 127.0.0.1:{port}\n  default_backend instances\n\
         backend instances\n  balance roundrobin\n  option httpchk GET /readyz\n  \
         timeout check 3s\n  default-server inter 200ms fall 3 rise 2\n"
    );
    for (index, backend) in backends.iter().enumerate() {
        config.push_str(&format!(
            "  server instance{index} 127.0.0.1:{backend} check\n"
        ));
    }
    config
}

impl Haproxy {
    fn start(dir: &Path, port: u16, stats: u16, backends: &[u16]) -> Self {
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, haproxy_config(port, stats, backends)).unwrap();
        let binary = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("haproxy");
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy is installed (test.sh installs it)");
        Self { child }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `GET {base}/healthz` answers 200, failing the test after `limit`.
async fn wait_healthy(fleet: &mut Fleet, base: &str, limit: Duration) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        fleet.assert_alive(&HashSet::new());
        if let Ok(res) = client.get(format!("{base}/healthz")).send().await
            && res.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} did not become healthy: {}",
            fleet.log(0) + &fleet.log(1)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until haproxy's own health checks see every instance up (what an orchestrator waits
/// for before restarting the next one), failing the test after a minute.
async fn wait_all_up(stats: u16) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let csv = match client
            .get(format!("http://127.0.0.1:{stats}/stats;csv"))
            .send()
            .await
        {
            Ok(res) => res.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        // Columns: pxname, svname, …, status (the 18th).
        let servers: Vec<&str> = csv
            .lines()
            .filter(|line| line.starts_with("instances,instance"))
            .filter_map(|line| line.split(',').nth(17))
            .collect();
        if servers.len() == 2 && servers.iter().all(|status| *status == "UP") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "haproxy never saw both instances up: {servers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A browser: cookie jar, redirects not followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_up(client: &reqwest::Client, base: &str) {
    let html = client
        .get(format!("{base}/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = Page::parse(&html)
        .attr("form input[name=\"csrf_token\"]", "value")
        .unwrap();
    let email = format!("scale-{}@example.com", uuid::Uuid::new_v4().simple());
    let res = client
        .post(format!("{base}/signup"))
        .form(&[
            ("email", email.as_str()),
            ("password", "correct horse battery"),
            ("workspace", "Scale"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "sign-up failed");
}

/// An API key of the seeded workspace, written as amolink writes one.
async fn api_key(fleet: &Fleet) -> String {
    let keyring = Keyring::parse(&SecretString::from(fleet.master_keys.clone())).unwrap();
    let hasher = ApiKeyHasher::new(&keyring);
    let secret = ApiKeySecret::mint();
    let digest = hasher.primary(&secret);
    fleet
        .database
        .insert_api_key(&domain::api_keys::NewApiKey {
            key: ApiKey {
                id: ApiKeyId::random(),
                workspace: fleet.workspace.unwrap(),
                name: "scale".into(),
                scopes: ApiScopes::default()
                    .with(ApiScope::Read)
                    .with(ApiScope::Proxy),
                prefix: secret.display_prefix(),
                created_at: Utc::now(),
                last_used_at: None,
                revoked_at: None,
            },
            key_hash: digest.hex,
            hash_key_id: digest.key_id,
        })
        .await
        .unwrap();
    secret.expose().to_owned()
}

/// Loads the signed-in dashboard through haproxy from `workers` loops until stopped; answers
/// every status seen (with the start of the body when it is not 200), or the transport error.
fn dashboard_load(
    client: &reqwest::Client,
    base: &str,
    workers: usize,
    stop: &Arc<AtomicBool>,
) -> JoinSet<Vec<Result<u16, String>>> {
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let (client, url, stop) = (client.clone(), format!("{base}/dashboard"), stop.clone());
        set.spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let outcome = match client.get(&url).send().await {
                    Ok(res) if res.status() == 200 => Ok(200),
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.text().await.unwrap_or_default();
                        Err(format!(
                            "{status}: {}",
                            body.chars().take(300).collect::<String>()
                        ))
                    }
                    Err(e) => Err(e.to_string()),
                };
                seen.push(outcome);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        });
    }
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_behind_haproxy_act_as_one() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (front, stats, ports) = (free_port(), free_port(), [free_port(), free_port()]);
    let base = format!("http://127.0.0.1:{front}");
    let direct = ports.map(|p| format!("http://127.0.0.1:{p}"));
    let mut fleet = Fleet::build(RefreshGrace::Off, 20, &base, true).await;
    let seeded_at = tokio::time::Instant::now();
    for port in ports {
        fleet.start_instance_on(port);
    }
    let _haproxy = Haproxy::start(&fleet.dir, front, stats, &ports);
    let receiver = Receiver::start();
    for url in direct.iter().chain([&base]) {
        wait_healthy(&mut fleet, url, Duration::from_secs(60)).await;
    }
    wait_all_up(stats).await;

    // Sign-in on one instance works on the other (sessions live in the shared database, signed
    // with the fleet's one session key).
    let person = browser();
    sign_up(&person, &direct[0]).await;
    let res = person
        .get(format!("{}/dashboard", direct[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the other instance knows the session");

    // A rolling restart, one instance at a time, while a signed-in person keeps loading pages
    // through haproxy: no request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = dashboard_load(&person, &base, 8, &stop);
    // Three rounds: before the drain on SIGTERM (`web::shutdown`), about one request in a
    // thousand failed here.
    for (index, url) in direct.iter().enumerate().cycle().take(6) {
        fleet.restart(index);
        wait_healthy(&mut fleet, url, Duration::from_secs(60)).await;
        // haproxy takes it back after two good checks (`rise 2`); only then is the next one
        // restarted.
        wait_all_up(stats).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    while let Some(joined) = load.join_next().await {
        seen.extend(joined.unwrap());
    }
    let failed: Vec<_> = seen.iter().filter(|s| **s != Ok(200)).collect();
    assert!(!seen.is_empty());
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rolling restart: {failed:?}\n\
         what the instances logged:\n{}",
        failed.len(),
        seen.len(),
        [0, 1].map(|index| fleet.log(index)).join("\n")
    );

    // The governor across both instances: 200 concurrent callers through haproxy on one
    // connection; amoCRM (the simulator) must never see more than 7 calls in a second.
    let key = api_key(&fleet).await;
    let id = fleet.connection_ids[0];
    let client = reqwest::Client::new();
    let mut callers = JoinSet::new();
    for _ in 0..200 {
        let (client, key) = (client.clone(), key.clone());
        let url = format!("{base}/api/v1/connections/{id}/proxy/api/v4/account");
        callers.spawn(async move {
            match client.get(url).bearer_auth(key).send().await {
                Ok(res) if matches!(res.status().as_u16(), 200 | 429) => Ok(res.status().as_u16()),
                Ok(res) => Err(format!(
                    "{}: {}",
                    res.status(),
                    res.text().await.unwrap_or_default()
                )),
                Err(e) => Err(e.to_string()),
            }
        });
    }
    let mut ok = 0;
    while let Some(joined) = callers.join_next().await {
        match joined.unwrap() {
            Ok(200) => ok += 1,
            Ok(429) => {}
            other => panic!("a caller got {other:?}"),
        }
    }
    assert!(ok >= 40, "about ten seconds of the budget was used: {ok}");

    // One refresh cycle with both instances up: each connection is refreshed, once.
    let cycle_end = seeded_at + CYCLE + Duration::from_secs(8);
    tokio::time::sleep_until(cycle_end).await;
    fleet.settle(Duration::from_secs(20)).await;
    fleet.assert_alive(&HashSet::new());
    let (counts, reasons) = fleet.statuses().await;
    assert_eq!(counts.get("active"), Some(&20), "{counts:?} {reasons:?}");
    let refreshes = fleet.accepted_refreshes();
    assert_eq!(refreshes.len(), 20, "every connection was refreshed");
    for (client, times) in &refreshes {
        assert_eq!(
            times.len(),
            1,
            "{client} was refreshed {} times",
            times.len()
        );
    }
    let violations = untolerated_violations(&fleet.sim.sim(), &[]);
    assert!(
        violations.is_empty(),
        "amoCRM saw a global invariant broken: {violations:#?}"
    );

    // The webhook outbox, drained by both instances' workers at once: every message reaches
    // the tenant's endpoint, signed, and none twice.
    let sent = queue_webhooks(&fleet, &receiver.url, 100).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while receiver.distinct() < sent.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Time for a duplicate to show up, if one were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = receiver.seen();
    let missing: Vec<_> = sent.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let twice: Vec<_> = seen.iter().filter(|(_, times)| **times > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(seen.len(), sent.len(), "only the queued messages: {seen:?}");
}

/// A tenant's webhook endpoint: counts each `webhook-id` it receives (signed ones only).
struct Receiver {
    url: String,
    seen: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
        let state = seen.clone();
        let server = actix_web::HttpServer::new(move || {
            let state = state.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest| {
                    let state = state.clone();
                    async move {
                        let header = |name| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        match (header("webhook-id"), header("webhook-signature")) {
                            (Some(id), Some(_)) => {
                                *state.lock().unwrap().entry(id).or_default() += 1;
                                actix_web::HttpResponse::Ok().finish()
                            }
                            _ => actix_web::HttpResponse::BadRequest().finish(),
                        }
                    }
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            seen,
            _server: handle,
        }
    }

    fn distinct(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self) -> HashMap<String, usize> {
        self.seen.lock().unwrap().clone()
    }
}

/// Adds an endpoint to the fleet's workspace and queues `count` test messages to it; answers
/// their `webhook-id`s.
async fn queue_webhooks(fleet: &Fleet, url: &str, count: usize) -> Vec<String> {
    use domain::webhooks::{
        DestinationPolicy, EndpointRecord, EndpointSecret, EndpointUrl, EventTypes,
        OutgoingMessage, SecretColumn, WebhookStore as _,
    };
    use secrecy::ExposeSecret as _;
    let keyring = Keyring::parse(&SecretString::from(fleet.master_keys.clone())).unwrap();
    let workspace = fleet.workspace.unwrap();
    let id = domain::ids::EndpointId::random();
    let now = Utc::now();
    let secret = EndpointSecret::generate().to_text();
    let record = EndpointRecord {
        id,
        workspace,
        url: EndpointUrl::parse(url, DestinationPolicy::AllowLoopback).unwrap(),
        events: EventTypes::parse(["connection.revoked"]).unwrap(),
        secret: keyring.seal(
            secret.expose_secret(),
            &domain::crypto::Binding {
                workspace,
                row: id.as_uuid(),
                column: SecretColumn::Current.as_str(),
            },
        ),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        disabled_reason: None,
        last_success_at: None,
        created_at: now,
    };
    fleet.database.insert_endpoint(&record).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..count {
        let message = OutgoingMessage::test(&id.to_string(), now);
        assert!(
            fleet
                .database
                .enqueue_for_endpoint(workspace, id, &message, now)
                .await
                .unwrap()
        );
        ids.push(message.id.to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_started_at_once_on_an_empty_database_both_come_up() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let ports = [free_port(), free_port()];
    let mut fleet = Fleet::build(RefreshGrace::Off, 0, amolink_tests::SEED_PUBLIC_URL, false).await;
    for port in ports {
        fleet.start_instance_on(port);
    }
    for port in ports {
        wait_healthy(
            &mut fleet,
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(90),
        )
        .await;
    }
    // Both serve pages that need the whole schema.
    for port in ports {
        let res = browser()
            .get(format!("http://127.0.0.1:{port}/signup"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    fleet.assert_alive(&HashSet::new());
}
