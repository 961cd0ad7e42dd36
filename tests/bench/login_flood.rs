//! `login-flood`: docs/security-requirements.md R5 and load test L1. Argon2id (19 MiB, t = 2) is the most
//! expensive thing a stranger can make amolink do; it runs off the async workers behind a
//! semaphore of one permit per core. Under a flood of bad log-ins this must hold:
//! - cheap GETs stay fast (the flood queues on the semaphore, not on the HTTP workers);
//! - resident memory stays under baseline + permits × 19 MiB.
//!
//! The flood is the worst case for the server: the instance trusts `X-Forwarded-For` from
//! loopback and every attempt names a fresh address and account, so the per-address and
//! per-account throttles never answer early with 429 and every attempt costs a real hash.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use amolink_tests::Engine;
use anyhow::Context as _;
use rand::Rng as _;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys, Memory, mib},
    load::{self, Sample, Until},
    stats::{Summary, median},
    storage::Store,
    web_client,
};

/// Argon2id memory per hash (docs/security-requirements.md R5: m = 19 MiB).
const ARGON2_KIB: u64 = 19 * 1024;
/// How long the GETs are timed before the flood, for comparison.
const BASELINE: Duration = Duration::from_secs(5);
/// Pause between one prober's requests: a person clicking, not a second flood.
const PROBE_PAUSE: Duration = Duration::from_millis(20);

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let attackers = args.n.unwrap_or(100);
    let flood = Duration::from_secs(args.secs.unwrap_or(20));
    for engine in args.engines_or(&[Engine::Sqlite]) {
        Store::with_fresh(engine, false, async |store| {
            measure(store, attackers, flood, args.runs).await
        })
        .await
        .with_context(|| format!("login-flood on {}", engine_name(engine)))?;
    }
    Ok(())
}

/// What one run observed.
struct Run {
    baseline: [Vec<Sample>; 2],
    flooded: [Vec<Sample>; 2],
    logins: Vec<Sample>,
    login_failures: usize,
    idle: Memory,
    peak_kib: u64,
}

const PROBED: [&str; 2] = ["/healthz", "/login"];

async fn measure(
    store: &Store,
    attackers: usize,
    flood: Duration,
    runs: usize,
) -> anyhow::Result<()> {
    let keys = Keys::random();
    let mut results = Vec::with_capacity(runs);
    for _ in 0..runs {
        // A fresh process per run: VmHWM is a high-water mark over the process's whole life.
        let instance = Instance::start(&Config {
            extra: &[("AMOLINK_TRUSTED_PROXIES", "127.0.0.1")],
            ..Config::web_only(&store.url, &keys)
        })
        .await?;
        results.push(flood_once(&instance, attackers, flood).await?);
    }
    report(store.engine, attackers, flood, &results)
}

async fn flood_once(instance: &Instance, attackers: usize, flood: Duration) -> anyhow::Result<Run> {
    let base = instance.base_url.clone();
    let baseline = probe_all(&base, Instant::now() + BASELINE).await?;
    let idle = instance.memory()?;

    let sessions = Arc::new(attacker_sessions(&base, attackers).await?);
    let deadline = Instant::now() + flood;
    let probes = tokio::spawn(probe_all_owned(base.clone(), deadline));
    let watcher = tokio::spawn(watch_memory(instance.pid(), deadline));
    let url = format!("{base}/login");
    let (logins, login_failures) =
        load::closed_loop(attackers, Until::Deadline(deadline), move |i| {
            let (sessions, url) = (sessions.clone(), url.clone());
            async move {
                let (client, token) = sessions.get(i % sessions.len()).context("no attacker")?;
                bad_login(client, &url, token).await
            }
        })
        .await;
    let flooded = probes.await??;
    let peak_rss = watcher.await?;
    let peak_kib = instance.memory()?.peak_kib.max(peak_rss);
    Ok(Run {
        baseline,
        flooded,
        logins,
        login_failures,
        idle,
        peak_kib,
    })
}

/// Each attacker's browser: a pre-session and its CSRF token (without them every POST is
/// refused before it reaches the hasher, which would measure nothing).
async fn attacker_sessions(
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<(reqwest::Client, String)>> {
    let mut sessions = Vec::with_capacity(count);
    for n in 0..count {
        // Each attacker's page view from its own forwarded address: one address is limited to
        // a burst of 120 page views (issue 14), which 100 pre-sessions plus the probes exceed.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_str(&format!("10.77.{}.{}", n / 250, n % 250 + 1))?,
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()?;
        let token = web_client::csrf_token(&client, base, "/login").await?;
        sessions.push((client, token));
    }
    Ok(sessions)
}

/// One wrong password for a fresh account from a fresh forwarded address.
async fn bad_login(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Sample> {
    let (address, email) = {
        let mut rng = rand::thread_rng();
        (
            format!(
                "10.{}.{}.{}",
                rng.gen_range(0..=255),
                rng.gen_range(0..=255),
                rng.gen_range(1..=254)
            ),
            format!("victim{}@example.com", rng.gen_range(0..u64::MAX)),
        )
    };
    let answer = web_client::timed(client.post(url).header("x-forwarded-for", address).form(&[
        ("email", email.as_str()),
        ("password", "wrong password 123"),
        ("csrf_token", token),
    ]))
    .await?;
    Ok(Sample {
        elapsed: answer.elapsed,
        status: answer.status,
    })
}

async fn probe_all_owned(base: String, until: Instant) -> anyhow::Result<[Vec<Sample>; 2]> {
    probe_all(&base, until).await
}

/// Times `GET /healthz` and `GET /login` side by side until `until`.
async fn probe_all(base: &str, until: Instant) -> anyhow::Result<[Vec<Sample>; 2]> {
    let (health, login) =
        tokio::join!(probe(base, PROBED[0], until), probe(base, PROBED[1], until));
    Ok([health?, login?])
}

/// One person reloading `path` every [`PROBE_PAUSE`] in one browser.
async fn probe(base: &str, path: &str, until: Instant) -> anyhow::Result<Vec<Sample>> {
    let client = web_client::browser()?;
    let mut samples = Vec::new();
    while Instant::now() < until {
        let answer = web_client::timed(client.get(format!("{base}{path}"))).await?;
        samples.push(Sample {
            elapsed: answer.elapsed,
            status: answer.status,
        });
        tokio::time::sleep(PROBE_PAUSE).await;
    }
    Ok(samples)
}

/// The highest RSS seen while sampling every 100 ms until `until` (VmHWM says the same at the
/// end; sampling also shows the process is alive throughout).
async fn watch_memory(pid: u32, until: Instant) -> u64 {
    let mut peak = 0;
    while Instant::now() < until {
        if let Ok(memory) = Memory::of(pid) {
            peak = peak.max(memory.rss_kib);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peak
}

fn report(engine: Engine, attackers: usize, flood: Duration, runs: &[Run]) -> anyhow::Result<()> {
    let permits = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
    println!(
        "\n## login-flood on {}: {attackers} concurrent bad log-ins for {} s, {} runs\n",
        engine_name(engine),
        flood.as_secs(),
        runs.len()
    );
    println!(
        "| phase | request | requests | statuses | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|"
    );
    for (phase, pick) in [
        (
            "idle",
            (|r: &Run| &r.baseline) as fn(&Run) -> &[Vec<Sample>; 2],
        ),
        ("flood", |r: &Run| &r.flooded),
    ] {
        for (i, path) in PROBED.iter().enumerate() {
            let series: Vec<&Vec<Sample>> = runs.iter().map(|r| &pick(r)[i]).collect();
            println!("| {phase} | GET {path} | {} |", row(&series)?);
        }
    }
    let logins: Vec<&Vec<Sample>> = runs.iter().map(|r| &r.logins).collect();
    println!("| flood | POST /login (attack) | {} |", row(&logins)?);
    let per_sec: Vec<u64> = runs
        .iter()
        .map(|r| (r.logins.len() as f64 / flood.as_secs_f64()) as u64)
        .collect();
    let failed: usize = runs.iter().map(|r| r.login_failures).sum();
    println!(
        "\nlog-in attempts answered per second (median): {}; attempts without an answer: {failed}",
        median(&per_sec).unwrap_or(0)
    );

    println!(
        "\n| run | RSS idle MiB | peak RSS (VmHWM) MiB | ceiling = idle + {permits} × 19 MiB | within |\n|---|---|---|---|---|"
    );
    for (i, run) in runs.iter().enumerate() {
        let ceiling = run.idle.rss_kib + permits * ARGON2_KIB;
        println!(
            "| {} | {} | {} | {} | {} |",
            i + 1,
            mib(run.idle.rss_kib),
            mib(run.peak_kib),
            mib(ceiling),
            if run.peak_kib <= ceiling { "yes" } else { "NO" }
        );
    }
    Ok(())
}

/// Request count, statuses and median percentiles over runs.
fn row(series: &[&Vec<Sample>]) -> anyhow::Result<String> {
    let summaries: Vec<Summary> = series
        .iter()
        .filter_map(|samples| Summary::of(&load::latencies(samples)))
        .collect();
    let summary = Summary::median_of(&summaries).context("no samples")?;
    let all: Vec<Sample> = series.iter().flat_map(|s| s.iter().copied()).collect();
    Ok(format!(
        "{} | {} | {}",
        summary.count,
        load::status_counts(&all),
        summary.cells()
    ))
}
