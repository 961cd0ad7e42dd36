//! A simulator, a fresh PostgreSQL database with seeded connections, and `amolink` processes.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use amocrm_sim::{Event, RefreshGrace, SimConfig, SimHandle};
use amolink_tests::{Engine, SEED_PUBLIC_URL, Scratch, fresh_database, seed_connections_for};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use persistence::Database;
use sea_orm::{ConnectionTrait as _, Statement};

/// Whether to run the long versions.
pub fn long() -> bool {
    std::env::var_os("AMOLINK_LONG_TESTS").is_some()
}

/// The access-token lifetime the simulator issues (short, so refreshes come often; amolink keeps
/// whatever lifetime amoCRM states) and the refresh margin the instances use. The keeper never
/// refreshes earlier than half a token's life, so a refresh cycle is about thirty seconds.
pub const TOKEN_TTL_SECS: i64 = 60;
pub const MARGIN_SECS: u64 = 40;
pub const CYCLE: Duration = Duration::from_secs(30);
pub const LEASE_SECS: u64 = 5;

/// The `amolink` binary next to this test binary (built by `cargo test --workspace`), built on
/// demand otherwise.
fn amolink_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let dir = deps
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .to_path_buf();
    let binary = dir.join("amolink");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "web", "--bin", "amolink"])
            .status()
            .unwrap();
        assert!(status.success(), "could not build the amolink binary");
    }
    binary
}

/// One scenario at a time: each runs several servers on a 2-core machine, and overlapping them
/// would turn timing into noise.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Fleet {
    pub sim: SimHandle,
    pub database: Database,
    pub database_url: String,
    pub master_keys: String,
    /// One session key for the whole fleet: a session signed in on one instance is valid on
    /// every other (they sit behind one load balancer).
    session_key: String,
    /// `AMOLINK_PUBLIC_URL` of every instance (the integrations were created with it).
    pub public_url: String,
    /// The workspace the connections were seeded into, and their ids.
    pub workspace: Option<domain::ids::WorkspaceId>,
    pub connection_ids: Vec<domain::ids::ConnectionId>,
    pub children: Vec<Child>,
    /// The port each child was started on (0: picked by the OS).
    ports: Vec<u16>,
    pub dir: PathBuf,
    /// Dropped after the children are killed (fields drop after `Drop::drop`).
    _scratch: Scratch,
}

impl Fleet {
    /// A simulator with short tokens and the given grace rule, and `connections` seeded.
    pub async fn new(grace: RefreshGrace, connections: usize) -> Self {
        Self::build(grace, connections, SEED_PUBLIC_URL, true).await
    }

    /// [`Fleet::new`] for instances that all answer at `public_url` (behind a load balancer);
    /// with `migrate` false the database is left empty (nothing seeded either) for the
    /// instances to migrate.
    pub async fn build(
        grace: RefreshGrace,
        connections: usize,
        public_url: &str,
        migrate: bool,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let scratch = fresh_database(Engine::Postgres, "fleet").await;
        let dir = scratch.dir().to_path_buf();
        let sim = amocrm_sim::spawn(SimConfig {
            access_token_ttl_secs: TOKEN_TTL_SECS,
            refresh_grace: grace,
            // Refreshes are not API calls; keep the API limit out of the way.
            rate_limit_per_sec: 1_000_000,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let database_url = scratch.database_url().to_owned();
        let database = Database::connect(&database_url).await.unwrap();
        let master_keys = format!("f1:{}", STANDARD.encode(rand::random::<[u8; 32]>()));
        let (workspace, connection_ids) = if migrate {
            database.migrate().await.unwrap();
            let (workspace, ids) = seed_connections_for(
                &database,
                &sim.sim(),
                &sim.base_url(),
                &master_keys,
                connections,
                Duration::from_secs(MARGIN_SECS),
                public_url,
            )
            .await
            .unwrap();
            (Some(workspace), ids)
        } else {
            (None, Vec::new())
        };
        Self {
            sim,
            database,
            database_url,
            master_keys,
            session_key: STANDARD.encode([rand::random::<[u8; 32]>(), rand::random()].concat()),
            public_url: public_url.to_owned(),
            workspace,
            connection_ids,
            children: Vec::new(),
            ports: Vec::new(),
            dir,
            _scratch: scratch,
        }
    }

    /// Starts one more `amolink serve` on the shared database.
    pub fn start_instance(&mut self) {
        self.start_instance_on(0);
    }

    /// Starts one more `amolink serve` listening on `port` (0: any).
    pub fn start_instance_on(&mut self, port: u16) {
        let child = self.spawn(self.children.len(), port);
        self.children.push(child);
        self.ports.push(port);
    }

    /// Stops instance `index` as an orchestrator would (SIGTERM, then waits for it to finish
    /// its requests and exit) and starts it again on the same port.
    pub fn restart(&mut self, index: usize) {
        let pid = self.children[index].id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "could not signal instance {index}");
        self.children[index].wait().unwrap();
        self.children[index] = self.spawn(index, self.ports[index]);
    }

    fn spawn(&self, index: usize, port: u16) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("instance-{index}.log")))
            .unwrap();
        let mut command = Command::new(amolink_binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("AMOLINK_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .current_dir(&self.dir)
            .env("AMOLINK_BIND", format!("127.0.0.1:{port}"))
            .env("AMOLINK_PUBLIC_URL", &self.public_url)
            .env("AMOLINK_DATABASE_URL", &self.database_url)
            .env("AMOLINK_MASTER_KEYS", &self.master_keys)
            .env("AMOLINK_SESSION_KEY", &self.session_key)
            .env("AMOLINK_AMOCRM_BASE_URL", self.sim.base_url())
            .env("AMOLINK_DEMO", "false")
            .env("AMOLINK_REFRESH_MARGIN_SECS", MARGIN_SECS.to_string())
            .env("AMOLINK_KEEPER_INTERVAL_MS", "200")
            .env("AMOLINK_KEEPER_LEASE_SECS", LEASE_SECS.to_string())
            .env("AMOLINK_LOG", "warn")
            // haproxy's checks here (`inter 200ms fall 3`) notice a draining instance in 0.6 s.
            .env("AMOLINK_SHUTDOWN_DRAIN_MS", "1000")
            .env("AMOLINK_DATA_DIR", self.dir.join(format!("data-{index}")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        command.spawn().unwrap()
    }

    /// The log of instance `index` so far.
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("instance-{index}.log"))).unwrap_or_default()
    }

    /// Sends SIGKILL to instance `index`: no shutdown, no cleanup, leases left held.
    pub fn kill(&mut self, index: usize) {
        let child = &mut self.children[index];
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Fails the test if an instance (other than the `killed` ones) exited on its own.
    pub fn assert_alive(&mut self, killed: &std::collections::HashSet<usize>) {
        for (index, child) in self.children.iter_mut().enumerate() {
            if killed.contains(&index) {
                continue;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join(format!("instance-{index}.log")))
                    .unwrap_or_default();
                panic!("instance {index} exited with {status}: {log}");
            }
        }
    }

    /// Connection count per status, and the reasons of those needing re-authorization.
    pub async fn statuses(&self) -> (HashMap<String, usize>, Vec<String>) {
        let db = self.database.connection();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT status, status_reason FROM connections",
            ))
            .await
            .unwrap();
        let mut counts = HashMap::new();
        let mut reasons = Vec::new();
        for row in rows {
            let status: String = row.try_get("", "status").unwrap();
            if status == "needs_reauth" {
                reasons.push(
                    row.try_get::<Option<String>>("", "status_reason")
                        .unwrap()
                        .unwrap_or_default(),
                );
            }
            *counts.entry(status).or_default() += 1;
        }
        (counts, reasons)
    }

    /// Accepted refreshes per integration, in time order.
    pub fn accepted_refreshes(&self) -> HashMap<String, Vec<DateTime<Utc>>> {
        let mut by_client: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        for entry in self.sim.sim().journal() {
            if let Event::RefreshPresented {
                client_id,
                accepted: true,
                ..
            } = entry.event
            {
                by_client.entry(client_id).or_default().push(entry.at);
            }
        }
        by_client
    }

    /// Waits until every connection has left the transient states (or `limit` passes).
    pub async fn settle(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let (counts, _) = self.statuses().await;
            if counts.keys().all(|s| s == "active" || s == "needs_reauth") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
