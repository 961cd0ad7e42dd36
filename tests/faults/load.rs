//! A write load over the tenant API: connect sessions created in a loop by several clients, each
//! answer recorded, so the test can check what was acknowledged against what was stored.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use amolink_tests::Browser;
use sea_orm::{ConnectionTrait as _, Statement};

/// Answers slower than this count as a hang: the database's absence must be reported, not waited
/// out. (Generous: amolink's own pool gives up after 5 s, SQLite's busy timeout after 10 s.)
pub const HANG: Duration = Duration::from_secs(25);

/// One request's fate.
#[derive(Debug, Clone)]
pub struct Answer {
    pub end_user: String,
    /// `None`: the request itself failed (connection refused or reset, or the hang limit).
    pub status: Option<u16>,
    pub took: Duration,
    pub at: Instant,
}

/// Signs a tenant up on `address` and makes an API key with the `write` scope.
pub async fn tenant_key(address: &str) -> String {
    let browser = Browser {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        address: address.to_owned(),
    };
    let res = browser
        .sign_up("ops@example.com", "correct horse battery", "Ops")
        .await;
    assert_eq!(res.status(), 303, "sign-up");
    let form = [
        ("name", "load"),
        ("scopes_shown", "1"),
        ("scope_read", "on"),
        ("scope_write", "on"),
    ];
    let res = browser
        .submit("/settings/api-keys", "/settings/api-keys", &form)
        .await;
    assert_eq!(res.status(), 303, "key creation");
    let html = browser.get_html("/settings/api-keys").await;
    let start = html.find("id=\"new-api-key\">").unwrap() + "id=\"new-api-key\">".len();
    let end = html[start..].find('<').unwrap() + start;
    html[start..end].to_owned()
}

/// Runs `clients` loops of `POST /api/v1/connect-sessions` until `stop`; every answer is kept.
pub fn start(
    address: &str,
    key: &str,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<Answer>>>, Vec<tokio::task::JoinHandle<()>>) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::builder().timeout(HANG).build().unwrap();
    let tasks = (0..clients)
        .map(|client| {
            let (http, answers, stop) = (http.clone(), answers.clone(), stop.clone());
            let url = format!("{address}/api/v1/connect-sessions");
            let key = key.to_owned();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let end_user = format!("user-{client}-{n}");
                    let started = Instant::now();
                    let sent = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&serde_json::json!({ "end_user_id": end_user }))
                        .send()
                        .await;
                    let status = sent.as_ref().ok().map(|r| r.status().as_u16());
                    answers.lock().unwrap().push(Answer {
                        end_user,
                        status,
                        took: started.elapsed(),
                        at: started,
                    });
                    n += 1;
                    // Failures are answered at once; do not spin on them.
                    if status != Some(201) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    (answers, tasks)
}

/// The end-user ids of every stored connect session.
pub async fn stored_end_users(
    db: &sea_orm::DatabaseConnection,
) -> std::collections::HashSet<String> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT end_user_id FROM connect_sessions".to_owned(),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "end_user_id").unwrap())
    .collect()
}

/// The shared verdict: no 5xx but 503, no hang, some 503s during the fault, successes after it,
/// and every acknowledged write stored.
pub fn check(
    answers: &[Answer],
    fault_started: Instant,
    fault_ended: Instant,
    stored: &std::collections::HashSet<String>,
) {
    let acknowledged: Vec<&Answer> = answers.iter().filter(|a| a.status == Some(201)).collect();
    let lost: Vec<&str> = acknowledged
        .iter()
        .filter(|a| !stored.contains(&a.end_user))
        .map(|a| a.end_user.as_str())
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let unexpected: Vec<&Answer> = answers
        .iter()
        .filter(|a| !matches!(a.status, Some(201 | 503)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers other than 201 and 503: {unexpected:#?}"
    );
    let hung: Vec<&Answer> = answers.iter().filter(|a| a.took >= HANG).collect();
    assert!(
        hung.is_empty(),
        "requests hung instead of failing: {hung:#?}"
    );
    let during = answers
        .iter()
        .filter(|a| a.at >= fault_started && a.at < fault_ended)
        .count();
    let refused = answers.iter().filter(|a| a.status == Some(503)).count();
    assert!(refused > 0, "no request saw the fault ({during} during it)");
    let after: Vec<&Answer> = answers.iter().filter(|a| a.at > fault_ended).collect();
    assert!(
        after.iter().rev().take(5).all(|a| a.status == Some(201)) && after.len() >= 5,
        "amolink did not recover by itself: {:?}",
        after
            .iter()
            .rev()
            .take(10)
            .map(|a| a.status)
            .collect::<Vec<_>>()
    );
    assert!(
        acknowledged.len() >= 10,
        "the load barely ran: {}",
        acknowledged.len()
    );
}
