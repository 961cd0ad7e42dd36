//! PostgreSQL restarted under a serving amolink (security.md F1): a throwaway cluster of this
//! test's own, stopped the hard way (`pg_ctl stop -m immediate`, a crash as far as PostgreSQL is
//! concerned) while API clients keep writing, then started again.

use std::{
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use web::{
    Application,
    settings::{Settings, Sources},
};

use crate::load;

/// A PostgreSQL cluster in a temporary directory on a free port, run as `postgres` when this
/// test runs as root (PostgreSQL refuses to run as root).
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The newest installed PostgreSQL's binaries (Debian's layout), or the ones on `PATH`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|bin| bin.join("initdb").exists());
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_default()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn new() -> Self {
        let as_postgres = running_as_root();
        let dir =
            std::env::temp_dir().join(format!("amolink-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let cluster = Self {
            bin: postgres_bin(),
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=40",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// A crash as far as PostgreSQL knows: no checkpoint, recovery from the WAL on the next start.
    fn crash(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_acknowledged_write() {
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = Cluster::new();
    let data_dir = std::env::temp_dir().join(format!("amolink-faults-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let (bind, public) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    let master_keys = format!("p1:{}", STANDARD.encode(rand::random::<[u8; 32]>()));
    let session_key = STANDARD.encode([rand::random::<[u8; 32]>(), rand::random()].concat());
    let data_dir_text = data_dir.display().to_string();
    let database_url = cluster.url();
    let settings = Settings::load(&Sources::from_pairs([
        ("bind", bind.as_str()),
        ("public_url", public.as_str()),
        ("database_url", database_url.as_str()),
        ("data_dir", data_dir_text.as_str()),
        ("master_keys", master_keys.as_str()),
        ("session_key", session_key.as_str()),
        ("demo", "false"),
        ("keeper", "false"),
        ("webhook_worker", "false"),
    ]))
    .unwrap();
    let app = Application::build(settings).await.unwrap();
    let server = tokio::spawn(app.run_until_stopped());

    let key = load::tenant_key(&public).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (answers, tasks) = load::start(&public, &key, 4, stop.clone());
    let acknowledged = || {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.status == Some(201))
            .count()
    };
    while acknowledged() < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let fault_started = Instant::now();
    cluster.crash();
    // Keep it down long enough for every client to meet the outage; readiness says so too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ready = reqwest::get(format!("{public}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "/readyz reports the database gone");
    let health = reqwest::get(format!("{public}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "the process itself is alive");
    cluster.start();
    let fault_ended = Instant::now();

    // Let the clients run until each has written again after the restart (bounded).
    let recovered_by = Instant::now() + Duration::from_secs(60);
    loop {
        let recovered = answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at > fault_ended && a.status == Some(201))
            .count();
        if recovered >= 20 || Instant::now() > recovered_by {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let ready = reqwest::get(format!("{public}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "ready again");

    let db = sea_orm::Database::connect(cluster.url()).await.unwrap();
    let stored = load::stored_end_users(&db).await;
    let answers = answers.lock().unwrap().clone();
    load::check(&answers, fault_started, fault_ended, &stored);
    server.abort();
}
