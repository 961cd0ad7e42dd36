//! Slow clients (issue 14, security.md R50): a body dripped a byte at a time is cut off with
//! `408` and a closed connection once its route's deadline passes, instead of holding the
//! connection for as long as the client likes; the public endpoints' concurrency is bounded.

use std::time::Duration;

use amolink_tests::{Engine, TestApp, both_engines, spawn_app, spawn_app_with};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// Opens a request with a body it never finishes: the head, then one byte every 500 ms (at most
/// `max_bytes` of a declared 4 KiB). Returns the status the server answered with, and whether
/// it then closed the connection; `None` when the drip ran out unanswered.
async fn drip(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    max_bytes: usize,
) -> Option<(u16, bool)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: 4096\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let dripping = tokio::spawn(async move {
        for _ in 0..max_bytes {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
        writer
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Bounded by the drip itself: once it has run out, whatever arrived is the answer.
    let limit =
        Duration::from_millis(500) * u32::try_from(max_bytes).unwrap() + Duration::from_secs(5);
    let _ = tokio::time::timeout(limit, async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let closed = matches!(reader.read(&mut buf).await, Ok(0) | Err(_));
    dripping.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some((status, closed))
}

async fn a_slow_secrets_delivery_is_cut_off(engine: Engine) {
    let app = spawn_app(engine).await;
    // The default deadline for amoCRM's routes is 5 s; the drip would last 60 s.
    let answer = drip(
        app.port,
        "POST",
        "/amocrm/secrets",
        "Content-Type: application/json\r\n",
        120,
    )
    .await;
    assert_eq!(
        answer,
        Some((408, true)),
        "the slow body is answered 408 and the connection closed"
    );
    still_serving(&app).await;
}

async fn slow_bodies_are_cut_off_on_every_route(engine: Engine) {
    let app = spawn_app_with(engine, &[], |overrides| {
        overrides.slow_clients.default_body = Duration::from_secs(2);
        overrides.slow_clients.proxy_body = Duration::from_secs(2);
    })
    .await;
    let (_, key) = crate::api_keys::tenant_with_key(&app, "ann@example.com").await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n".to_owned();
    let json = format!("Content-Type: application/json\r\nAuthorization: Bearer {key}\r\n");
    for (method, path, headers) in [
        ("POST", "/amocrm/events/nonexistent-token", &form),
        ("POST", "/login", &form),
        ("POST", "/signup", &form),
        ("POST", "/api/v1/connect-sessions", &json),
        (
            "POST",
            "/api/v1/connections/00000000-0000-4000-8000-000000000000/proxy/api/v4/leads",
            &json,
        ),
        (
            "PATCH",
            "/api/v1/connections/00000000-0000-4000-8000-000000000000/proxy/api/v4/leads/1",
            &json,
        ),
    ] {
        let answer = drip(app.port, method, path, headers, 60).await;
        assert_eq!(
            answer,
            Some((408, true)),
            "{method} {path}: the slow body is cut off"
        );
    }
    still_serving(&app).await;
}

/// The public endpoints share a bounded number of slots: with every slot held by a slow body,
/// the next public request is refused at once with 503 and `Retry-After`, signed-in pages and
/// the API are unaffected, and the slots come back when the slow bodies are cut off.
async fn public_endpoints_have_bounded_concurrency(engine: Engine) {
    let app = spawn_app_with(engine, &[], |overrides| {
        overrides.slow_clients.public_concurrency = 2;
    })
    .await;
    let port = app.port;
    let holders: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                drip(
                    port,
                    "POST",
                    "/amocrm/secrets",
                    "Content-Type: application/json\r\n",
                    120,
                )
                .await
            })
        })
        .collect();
    // Wait until both slots are taken (each holder has sent its head).
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..50 {
        let res = client
            .get(format!("{}/login", app.address))
            .send()
            .await
            .unwrap();
        if res.status() == 503 {
            refused = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused =
        refused.expect("a third public request is refused while two slow bodies hold the slots");
    assert_eq!(refused.headers()["retry-after"], "1");
    let api = client
        .get(format!("{}/api/v1/connections", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the API is not a public endpoint");
    let health = client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for holder in holders {
        assert_eq!(holder.await.unwrap(), Some((408, true)));
    }
    let login = client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the slots are free again");
}

async fn still_serving(app: &TestApp) {
    let health = reqwest::get(format!("{}/healthz", app.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

both_engines!(
    a_slow_secrets_delivery_is_cut_off,
    slow_bodies_are_cut_off_on_every_route,
    public_endpoints_have_bounded_concurrency
);
