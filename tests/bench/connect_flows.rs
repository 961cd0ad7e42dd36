//! `connect-flows`: whole connect flows at a fixed concurrency (issue 15, goal 2: ≥ 200/s on
//! PostgreSQL and ≥ 150/s on SQLite at 20 concurrent, zero failures).
//!
//! One flow is what a customer's browser and amoCRM do together: open the hosted connect page
//! (amolink mints a state), Allow on the simulator's consent page (the simulator creates the
//! integration and POSTs its secrets to amolink's secrets URL), and follow the redirect to
//! amolink's callback (amolink exchanges the code and stores the connection). Every flow
//! connects its own simulator account, so each makes a new connection. Each customer comes from
//! its own address (`X-Forwarded-For` from a trusted proxy), as real customers do, so the
//! per-address limits on public pages apply per customer, not to the benchmark as a whole.

use std::time::{Duration, Instant};

use amocrm_sim::{AccountSeed, SimConfig};
use amolink_tests::{ButtonTag, Engine};
use anyhow::{Context as _, bail};
use uuid::Uuid;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys},
    load::{self, Sample, Until},
    stats::Summary,
    storage::Store,
    web_client,
};

const FIRST_ACCOUNT: i64 = 41_000_000;

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let flows = args.n.unwrap_or(400);
    let concurrency = args.concurrency.unwrap_or(20);
    for engine in args.engines_or(&[Engine::Sqlite, Engine::Postgres]) {
        Store::with_fresh(engine, false, async |store| {
            measure(store, flows, concurrency).await
        })
        .await
        .with_context(|| format!("connect-flows on {}", engine_name(engine)))?;
    }
    Ok(())
}

fn accounts(count: usize) -> Vec<AccountSeed> {
    (0..count)
        .map(|n| AccountSeed {
            id: FIRST_ACCOUNT + i64::try_from(n).unwrap_or(0),
            platform: amocrm_sim::Platform::Amocrm,
            subdomain: format!("bench{n}"),
            name: format!("Bench {n}"),
            admin: true,
        })
        .collect()
}

/// One customer's flow; its status is the callback's answer (303 when connected).
async fn flow(sim_url: &str, connect_url: &str, n: usize) -> anyhow::Result<u16> {
    let address = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    // Plain HTTP on loopback: no root certificates to read (reading the system's for every
    // customer cost the benchmark's process more CPU than the flows it drove).
    let customer = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([])
        .build()?;
    let page = customer
        .get(connect_url)
        .header("X-Forwarded-For", &address)
        .send()
        .await?;
    if page.status() != 200 {
        return Ok(page.status().as_u16());
    }
    let tag = ButtonTag::parse(&page.text().await?).context("no button tag")?;
    let account = (FIRST_ACCOUNT + i64::try_from(n).unwrap_or(0)).to_string();
    let decision = customer
        .post(tag.decision_url(sim_url))
        .form(&tag.allow_form(&account))
        .send()
        .await?;
    if decision.status() != 302 {
        bail!("the consent page answered {}", decision.status());
    }
    let callback = decision.headers()["location"].to_str()?.to_owned();
    let answer = customer
        .get(&callback)
        .header("X-Forwarded-For", &address)
        .send()
        .await?;
    Ok(answer.status().as_u16())
}

async fn measure(store: &Store, flows: usize, concurrency: usize) -> anyhow::Result<()> {
    let sim = amocrm_sim::spawn(SimConfig {
        rate_limit_per_sec: 0,
        accounts: accounts(flows),
        demo_data: false,
        ..SimConfig::default()
    })
    .await?;
    let keys = Keys::random();
    let extra = [("AMOLINK_TRUSTED_PROXIES", "127.0.0.1")];
    let instance = Instance::start(&Config {
        database_url: &store.url,
        keys: &keys,
        amocrm_base_url: &sim.base_url(),
        public_url: None,
        keeper: false,
        keeper_interval_ms: 5000,
        extra: &extra,
    })
    .await?;
    let owner = web_client::browser()?;
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    web_client::sign_up(&owner, &instance.base_url, &email).await?;
    let connect_url = web_client::connect_link(&owner, &instance.base_url).await?;
    println!(
        "\n## connect-flows on {}: {flows} flows, {concurrency} at a time\n",
        engine_name(store.engine)
    );
    let sim_url = sim.base_url();
    let started = Instant::now();
    let (samples, failures) = load::closed_loop(concurrency, Until::Count(flows), move |n| {
        let (sim_url, connect_url) = (sim_url.clone(), connect_url.clone());
        async move {
            let began = Instant::now();
            let status = flow(&sim_url, &connect_url, n).await?;
            Ok(Sample {
                elapsed: began.elapsed(),
                status,
            })
        }
    })
    .await;
    let wall = started.elapsed();
    let connected = samples.iter().filter(|s| s.status == 303).count();
    let summary = Summary::of(&load::latencies(&samples)).context("no flow answered")?;
    println!("| flows | answers | failed without an answer | flows/s | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {flows} | {} | {failures} | {:.0} | {} |",
        load::status_counts(&samples),
        connected as f64
            / wall
                .as_secs_f64()
                .max(Duration::from_millis(1).as_secs_f64()),
        summary.cells()
    );
    println!(
        "(a flow's time: connect page, consent with the secrets webhook, callback with the code exchange)"
    );
    drop(instance);
    sim.stop().await;
    Ok(())
}
