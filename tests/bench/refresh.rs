//! `refresh-throughput`: several `amolink serve` processes on one PostgreSQL refreshing a wave
//! of due connections (issue 5; docs/security-requirements.md L4).
//!
//! The connections hold real grants from an in-process simulator with **strict** single-use
//! refresh tokens, so a raced or replayed refresh would show up in its stale-presentation
//! counter, which must stay 0. Each run starts the processes, waits until they answer, then
//! makes every connection due at once and times the drain from the rows' own
//! `last_refresh_at` stamps (the driver's polling interval does not blur the result).

use std::time::{Duration, Instant};

use amocrm_sim::{RefreshGrace, SimConfig, Stats};
use amolink_tests::{Engine, SEED_PUBLIC_URL, seed_connections};
use anyhow::{Context as _, bail};
use chrono::Utc;

use crate::{
    args::Args,
    instance::{Config, Instance, Keys, cpu_time},
    stats::median,
    storage::Store,
};

/// The keeper's pause between rounds in the instances (the production default is 5 s; a
/// shorter one keeps idle gaps out of the measured drain).
const KEEPER_INTERVAL_MS: u64 = 200;

pub async fn run(args: &Args) -> anyhow::Result<()> {
    if args.engines_or(&[Engine::Postgres]) != [Engine::Postgres] {
        bail!("refresh-throughput runs on PostgreSQL only (several processes on one database)");
    }
    let count = args.n.unwrap_or(1_000);
    Store::with_fresh(Engine::Postgres, false, async |store| {
        measure(store, count, args).await
    })
    .await
}

async fn measure(store: &Store, count: usize, args: &Args) -> anyhow::Result<()> {
    let sim = amocrm_sim::spawn(SimConfig {
        refresh_grace: RefreshGrace::Off,
        // Refreshes are not API calls; keep the per-integration API limit out of the way.
        rate_limit_per_sec: 1_000_000,
        ..SimConfig::default()
    })
    .await?;
    let keys = Keys::random();
    let started = Instant::now();
    seed_connections(
        &store.database,
        &sim.sim(),
        &sim.base_url(),
        &keys.master_keys,
        count,
        Duration::from_secs(7200),
    )
    .await
    .context("seeding connections with real grants")?;
    println!(
        "\n## refresh-throughput: {count} connections seeded with real grants in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );
    println!(
        "| processes | run | refreshed | drain s | refreshes/s | commits/refresh | amolink CPU ms/refresh | simulator CPU ms/refresh | per process | sim accepted | sim rejected | stale presented | not active |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let wave = Wave {
        store,
        sim: &sim,
        keys: &keys,
        count,
    };
    let mut medians = Vec::new();
    for &processes in &args.instances {
        let mut rates = Vec::new();
        let mut drains = Vec::new();
        for run in 1..=args.runs {
            let result = wave.run(processes).await?;
            println!("| {processes} | {run} | {} |", result.cells());
            rates.push(result.per_second());
            drains.push(result.drain);
            // Every connection refreshed exactly once, none lost, no rotated-out token presented.
            if result.refreshed < count
                || result.sim.refreshes_accepted != count as u64
                || result.stale > 0
                || result.not_active > 0
            {
                bail!("a refresh wave went wrong: {}", result.cells());
            }
        }
        medians.push((processes, median(&drains), median(&rates)));
    }
    println!("\n| processes | median drain s | median refreshes/s |\n|---|---|---|");
    for (processes, drain, rate) in medians {
        println!(
            "| {processes} | {:.2} | {} |",
            drain.unwrap_or_default().as_secs_f64(),
            rate.unwrap_or_default()
        );
    }
    let baseline = pgbench_commits_per_second(store).await?;
    println!(
        "\nbaseline, same server, same run: pgbench single-row UPDATE, 16 clients, 10 s: {baseline:.0} commits/s"
    );
    let stats = sim.sim().stats();
    println!(
        "\nsimulator totals: {} refreshes accepted, {} rejected, {} stale refresh tokens presented",
        stats.refreshes_accepted, stats.refreshes_rejected, stats.stale_refresh_presentations
    );
    sim.stop().await;
    Ok(())
}

/// One wave's shared pieces.
struct Wave<'a> {
    store: &'a Store,
    sim: &'a amocrm_sim::SimHandle,
    keys: &'a Keys,
    count: usize,
}

/// CPU time used.
#[derive(Clone, Copy)]
struct Cpu {
    amolink: Duration,
    driver: Duration,
}

/// What one wave did.
struct WaveResult {
    /// CPU used during the drain (from making the connections due until the count reached all).
    cpu: Cpu,
    refreshed: usize,
    drain: Duration,
    /// Transactions the database committed during the drain (`pg_stat_database.xact_commit`
    /// of the bench's own database: every instance's, read-only ones included).
    commits: i64,
    per_process: Vec<u64>,
    sim: Stats,
    stale: u64,
    not_active: usize,
}

impl WaveResult {
    /// Refreshes per second over the whole drain, rounded down.
    fn per_second(&self) -> u64 {
        let secs = self.drain.as_secs_f64().max(0.001);
        (self.refreshed as f64 / secs) as u64
    }

    /// CPU milliseconds per refresh.
    fn cpu_per_refresh(cpu: Duration, refreshed: usize) -> String {
        format!(
            "{:.2}",
            cpu.as_secs_f64() * 1000.0 / refreshed.max(1) as f64
        )
    }

    fn cells(&self) -> String {
        format!(
            "{} | {:.2} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {}",
            self.refreshed,
            self.drain.as_secs_f64(),
            self.per_second(),
            self.commits as f64 / self.refreshed.max(1) as f64,
            Self::cpu_per_refresh(self.cpu.amolink, self.refreshed),
            Self::cpu_per_refresh(self.cpu.driver, self.refreshed),
            self.per_process
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" + "),
            self.sim.refreshes_accepted,
            self.sim.refreshes_rejected,
            self.stale,
            self.not_active
        )
    }
}

impl Wave<'_> {
    /// Committed transactions of this database so far. PostgreSQL publishes its counters at
    /// most once a second per backend, hence the pause.
    async fn commits(&self) -> anyhow::Result<i64> {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        self.store
            .scalar(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
                vec![],
            )
            .await
    }

    async fn run(&self, processes: usize) -> anyhow::Result<WaveResult> {
        let sim_url = self.sim.base_url();
        let mut instances = Vec::with_capacity(processes);
        // One after another: each applies migrations at start.
        for _ in 0..processes {
            instances.push(
                Instance::start(&Config {
                    database_url: &self.store.url,
                    keys: self.keys,
                    amocrm_base_url: &sim_url,
                    public_url: Some(SEED_PUBLIC_URL),
                    keeper: true,
                    keeper_interval_ms: KEEPER_INTERVAL_MS,
                    extra: &[],
                })
                .await?,
            );
        }
        let before = self.sim.sim().stats();
        let cpu_before = self.cpu(&instances)?;
        let commits_before = self.commits().await?;
        let t0 = Utc::now().timestamp_millis();
        self.store
            .database
            .execute_raw(&format!(
                "UPDATE connections SET next_refresh_at = {t0} WHERE status = 'active'"
            ))
            .await?;
        let refreshed = self.wait_for_drain(t0).await?;
        let cpu_after = self.cpu(&instances)?;
        let commits = self.commits().await? - commits_before;
        let last = self
            .store
            .scalar(
                &format!(
                    "SELECT MAX(last_refresh_at) FROM connections WHERE last_refresh_at >= {t0}"
                ),
                vec![],
            )
            .await?;
        let client = reqwest::Client::new();
        let mut per_process = Vec::with_capacity(processes);
        for instance in &instances {
            per_process.push(instance.refreshes_total(&client).await?);
        }
        drop(instances);
        let after = self.sim.sim().stats();
        let not_active = self
            .store
            .scalar(
                "SELECT COUNT(*) FROM connections WHERE status <> 'active'",
                vec![],
            )
            .await?;
        Ok(WaveResult {
            cpu: Cpu {
                amolink: cpu_after.amolink.saturating_sub(cpu_before.amolink),
                driver: cpu_after.driver.saturating_sub(cpu_before.driver),
            },
            refreshed,
            commits,
            drain: Duration::from_millis(u64::try_from(last - t0).unwrap_or(0)),
            per_process,
            stale: after.stale_refresh_presentations - before.stale_refresh_presentations,
            sim: Stats {
                refreshes_accepted: after.refreshes_accepted - before.refreshes_accepted,
                refreshes_rejected: after.refreshes_rejected - before.refreshes_rejected,
                ..after
            },
            not_active: usize::try_from(not_active)?,
        })
    }

    /// CPU used so far by the instances together, and by this process (the simulator and the
    /// polling; PostgreSQL's share is what remains of the machine).
    fn cpu(&self, instances: &[Instance]) -> anyhow::Result<Cpu> {
        let mut amolink = Duration::ZERO;
        for instance in instances {
            amolink += cpu_time(instance.pid())?;
        }
        Ok(Cpu {
            amolink,
            driver: cpu_time(std::process::id())?,
        })
    }

    /// Polls until every connection was refreshed after `t0`, or gives up (bounded run time).
    async fn wait_for_drain(&self, t0: i64) -> anyhow::Result<usize> {
        let limit = Duration::from_secs(60) + Duration::from_millis(50 * self.count as u64);
        let deadline = Instant::now() + limit;
        loop {
            let refreshed = self
                .store
                .scalar(
                    &format!("SELECT COUNT(*) FROM connections WHERE last_refresh_at >= {t0}"),
                    vec![],
                )
                .await?;
            let refreshed = usize::try_from(refreshed)?;
            if refreshed >= self.count || Instant::now() > deadline {
                return Ok(refreshed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The server's single-row commit rate, measured by `pgbench` on a scratch table of the bench's
/// database right after the waves: the ceiling any one-commit-per-refresh design would meet.
async fn pgbench_commits_per_second(store: &Store) -> anyhow::Result<f64> {
    store
        .database
        .execute_raw(
            "CREATE TABLE IF NOT EXISTS bench_counters (id INT PRIMARY KEY, n BIGINT NOT NULL); \
             INSERT INTO bench_counters SELECT g, 0 FROM generate_series(1, 1000) g \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let script = std::env::temp_dir().join(format!("amolink-pgbench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "\\set id random(1, 1000)\nUPDATE bench_counters SET n = n + 1 WHERE id = :id;\n",
    )?;
    let (script_path, url) = (script.clone(), store.url.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("pgbench")
            .args(["-n", "-c", "16", "-j", "2", "-T", "10", "-f"])
            .arg(&script_path)
            .arg(&url)
            .output()
    })
    .await?
    .context("running pgbench (Debian: postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix("tps = ")?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}
