//! `proxy-activity`: what recording per-connection activity costs the proxy (issue 12).
//!
//! One `amolink serve` on a fresh database proxies `GET /api/v4/account` for `--n` seeded
//! connections (real grants from an in-process simulator) at a fixed pace of 5 calls per second
//! per connection (under amoCRM's 7, so the governor never makes a call wait and the latency is
//! the proxy's own). The same load runs against an instance with recording off
//! (`AMOLINK_ACTIVITY_RECORDING=false`) and one with it on, alternating, `--runs` times each,
//! in the same run: the A/B baseline is measured on the same machine state. With recording on,
//! the report also says how many rows reached the database and how many were dropped.

use std::time::Duration;

use amocrm_sim::SimConfig;
use amolink_tests::{Engine, SEED_PUBLIC_URL, seed_connections};
use anyhow::{Context as _, bail};
use domain::{
    api_keys::{ApiKeyHasher, ApiKeyInput, ApiKeys},
    audit::{Audit, Principal},
    clock::SystemClock,
    crypto::Keyring,
    ids::{ConnectionId, WorkspaceId},
};
use sea_orm::{ConnectionTrait as _, Statement};
use secrecy::SecretString;
use std::sync::Arc;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys},
    load::{Sample, latencies, status_counts},
    stats::Summary,
    storage::Store,
    web_client,
};

/// Calls per second per connection: below amoCRM's 7, so no call waits for the governor.
const PER_CONNECTION: u32 = 5;

pub async fn run(args: &Args) -> anyhow::Result<()> {
    // 15 × 5 calls/s = 75/s: under the one API key's own limit (100/s per instance), which
    // would otherwise answer part of the load with 429 before the proxy sees it.
    let connections = args.n.unwrap_or(15);
    let secs = args.secs.unwrap_or(10);
    for engine in args.engines_or(&[Engine::Sqlite, Engine::Postgres]) {
        Store::with_fresh(engine, false, async |store| {
            measure(store, connections, secs, args.runs).await
        })
        .await?;
    }
    Ok(())
}

/// An API key with the proxy scope in the seeded workspace (the seeded owner cannot log in).
async fn proxy_key(store: &Store, keys: &Keys, workspace: WorkspaceId) -> anyhow::Result<String> {
    let keyring = Keyring::parse(&SecretString::from(keys.master_keys.clone()))?;
    let database = Arc::new(store.database.clone());
    let clock = Arc::new(SystemClock);
    let api_keys = ApiKeys::new(
        database.clone(),
        Arc::new(ApiKeyHasher::new(&keyring)),
        clock.clone(),
        Audit::new(database, clock),
    );
    let created = api_keys
        .create(
            workspace,
            ApiKeyInput::parse("bench", &["proxy"])
                .map_err(|e| anyhow::anyhow!("the key's input: {e:?}"))?,
            &Principal::system(),
        )
        .await?;
    Ok(created.secret.expose().to_owned())
}

async fn activity_rows(store: &Store) -> anyhow::Result<i64> {
    let conn = store.database.connection();
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT COUNT(*) AS n FROM connection_activity",
    ))
    .await?
    .context("a count")?
    .try_get("", "n")
    .map_err(Into::into)
}

async fn measure(store: &Store, connections: usize, secs: u64, runs: usize) -> anyhow::Result<()> {
    let sim = amocrm_sim::spawn(SimConfig {
        // The pace stays under amoCRM's limit anyway; this keeps the simulator out of the way.
        rate_limit_per_sec: 1_000_000,
        ..SimConfig::default()
    })
    .await?;
    let keys = Keys::random();
    let (workspace, ids) = seed_connections(
        &store.database,
        &sim.sim(),
        &sim.base_url(),
        &keys.master_keys,
        connections,
        Duration::from_secs(7200),
    )
    .await
    .context("seeding connections")?;
    let key = proxy_key(store, &keys, workspace).await?;
    let calls = connections * usize::try_from(PER_CONNECTION)? * usize::try_from(secs)?;
    println!(
        "\n## proxy-activity on {}: {connections} connections × {PER_CONNECTION} calls/s for {secs} s ({calls} calls per run)\n",
        engine_name(store.engine)
    );
    println!(
        "| recording | run | statuses | p50 ms | p95 ms | p99 ms | max ms | rows written | dropped |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut summaries: [Vec<Summary>; 2] = [Vec::new(), Vec::new()];
    for run in 1..=runs {
        for (slot, recording) in [(0, false), (1, true)] {
            // The instance before this one was killed holding its shares of each integration's
            // budget; they lapse after the governor's term (3 s), and until then this instance
            // queues behind them. Measure after it, not the term.
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            let flag = recording.to_string();
            let extra = [("AMOLINK_ACTIVITY_RECORDING", flag.as_str())];
            let instance = Instance::start(&Config {
                database_url: &store.url,
                keys: &keys,
                amocrm_base_url: &sim.base_url(),
                public_url: Some(SEED_PUBLIC_URL),
                keeper: false,
                keeper_interval_ms: 5000,
                extra: &extra,
            })
            .await?;
            let before = activity_rows(store).await?;
            let samples = paced(&instance.base_url, &key, &ids, secs).await?;
            // The writer flushes at least every 200 ms; give it a moment, bounded.
            tokio::time::sleep(Duration::from_millis(600)).await;
            let written = activity_rows(store).await? - before;
            let dropped = metric(&instance.base_url, "amolink_activity_dropped_total")
                .await
                .unwrap_or_default();
            let summary = Summary::of(&latencies(&samples)).context("no samples")?;
            println!(
                "| {} | {run} | {} | {} | {written} | {dropped} |",
                if recording { "on" } else { "off" },
                status_counts(&samples),
                summary.cells()
            );
            if samples.iter().any(|s| s.status != 200) {
                bail!(
                    "the proxy did not answer 200 to every call: {}",
                    instance.log_tail()
                );
            }
            summaries[slot].push(summary);
        }
    }
    println!(
        "\n| recording | median p50 ms | median p95 ms | median p99 ms | worst max ms |\n|---|---|---|---|---|"
    );
    for (slot, label) in [(0, "off"), (1, "on")] {
        if let Some(median) = Summary::median_of(&summaries[slot]) {
            println!("| {label} | {} |", median.cells());
        }
    }
    sim.stop().await;
    Ok(())
}

/// A counter from `/metrics` (development instances serve it without a token).
async fn metric(base: &str, name: &str) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .context("no such metric")
}

/// `secs` seconds of calls at an even pace, `PER_CONNECTION` per second per connection.
async fn paced(
    base: &str,
    key: &str,
    ids: &[ConnectionId],
    secs: u64,
) -> anyhow::Result<Vec<Sample>> {
    let client = web_client::browser()?;
    let total = ids.len() * usize::try_from(PER_CONNECTION * u32::try_from(secs)?)?;
    let gap = Duration::from_secs(secs) / u32::try_from(total.max(1))?;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let at = start + gap * u32::try_from(i)?;
        let request = client
            .get(format!(
                "{base}/api/v1/connections/{}/proxy/api/v4/account",
                ids[i % ids.len()]
            ))
            .bearer_auth(key);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            web_client::timed(request).await.map(|answer| Sample {
                elapsed: answer.elapsed,
                status: answer.status,
            })
        }));
    }
    let mut samples = Vec::with_capacity(total);
    for task in tasks {
        if let Ok(Ok(sample)) = task.await {
            samples.push(sample);
        }
    }
    Ok(samples)
}
