//! The `amolink` binary as a newcomer meets it (issue 2, acceptance 1 and 9).

#![expect(clippy::unwrap_used, reason = "a test fails loudly")]

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn amolink() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_amolink"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AMOLINK_") {
            command.env_remove(key);
        }
    }
    command
}

/// A scratch folder for one test, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("amolink-bin-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn with_no_settings_it_serves_the_landing_page_on_port_8080() {
    let scratch = TempDir::new();
    let dir = &scratch.0;
    let mut child = amolink()
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let body = runtime.block_on(async {
        loop {
            if let Ok(res) = reqwest::get("http://127.0.0.1:8080/").await
                && res.status() == 200
            {
                break res.text().await.unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no answer on :8080"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    child.kill().unwrap();
    let _ = child.wait();
    assert!(body.contains("amolink"));
    assert!(body.contains("/signup"));
    assert!(
        dir.join("amolink-data/amolink.db").exists(),
        "SQLite file under amolink-data/"
    );
    assert!(
        dir.join("amolink-data/master.keys").exists(),
        "development key generated"
    );
}

#[test]
fn production_without_master_keys_refuses_to_start_and_says_why() {
    let scratch = TempDir::new();
    let output = amolink()
        .current_dir(&scratch.0)
        .env("AMOLINK_ENV", "production")
        .env("AMOLINK_PUBLIC_URL", "https://amolink.example")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AMOLINK_MASTER_KEYS is not set"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AMOLINK_SESSION_KEY is not set"),
        "{stderr}"
    );
}

/// Stopped by an orchestrator (SIGTERM), amolink first drains: for `AMOLINK_SHUTDOWN_DRAIN_MS`
/// it still serves, but `/readyz` answers 503 so a load balancer takes it out of rotation, and
/// every response closes its connection; then it stops cleanly (issue 15: a rolling restart
/// drops no request).
#[test]
fn sigterm_drains_before_the_server_stops() {
    let scratch = TempDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = amolink()
        .current_dir(&scratch.0)
        .env("AMOLINK_BIND", format!("127.0.0.1:{port}"))
        .env("AMOLINK_SHUTDOWN_DRAIN_MS", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    runtime.block_on(async {
        let started = Instant::now();
        loop {
            if let Ok(res) = client.get(format!("{base}/readyz")).send().await
                && res.status() == 200
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = client.get(format!("{base}/")).send().await.unwrap();
        assert_ne!(
            page.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "kept alive while serving normally"
        );
    });

    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503, "draining: out of rotation");
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "draining");
        let page = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), 200, "still serving while draining");
        assert_eq!(
            page.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "the client is asked to close the connection"
        );
    });
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "did not stop after the drain"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "stopped before the drain ended"
    );
}
