//! `secrets-burst`: amoCRM's secrets webhook under a burst (docs/security-requirements.md R16: a 1 000-request
//! burst answers with p99 < 500 ms; Kommo gives up after 3 s and never resends).
//!
//! Two kinds of burst, each `n` deliveries at `concurrency` in flight: unknown states (what a
//! prober or a replay sends; refused with the same 4xx as malformed input), and valid ones for
//! `n` connect pages viewed just before (each lookup, seal and conditional update succeeds).

use std::sync::{Arc, Mutex, PoisonError};

use amolink_tests::Engine;
use anyhow::{Context as _, ensure};
use uuid::Uuid;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys},
    load::{self, Sample, Until},
    stats::Summary,
    storage::Store,
    web_client,
};

/// Customers viewing connect pages at once while the states are minted.
const PAGE_VIEWERS: usize = 8;

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let count = args.n.unwrap_or(1_000);
    let concurrency = args.concurrency.unwrap_or(50);
    for engine in args.engines_or(&[Engine::Sqlite, Engine::Postgres]) {
        Store::with_fresh(engine, false, async |store| {
            measure(store, count, concurrency, args.runs).await
        })
        .await
        .with_context(|| format!("secrets-burst on {}", engine_name(engine)))?;
    }
    Ok(())
}

/// One burst's results.
#[derive(Default)]
struct Series {
    summaries: Vec<Summary>,
    statuses: Vec<Sample>,
    failures: usize,
}

impl Series {
    fn add(&mut self, (samples, failures): (Vec<Sample>, usize)) {
        self.summaries
            .extend(Summary::of(&load::latencies(&samples)));
        self.statuses.extend(samples);
        self.failures += failures;
    }

    fn row(&self, label: &str) -> anyhow::Result<String> {
        let summary = Summary::median_of(&self.summaries).context("no samples")?;
        Ok(format!(
            "| {label} | {} | {} | {} |",
            summary.count + self.failures,
            load::status_counts(&self.statuses),
            summary.cells()
        ))
    }
}

async fn measure(
    store: &Store,
    count: usize,
    concurrency: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let engine = store.engine;
    let keys = Keys::random();
    let instance = Instance::start(&Config::web_only(&store.url, &keys)).await?;
    let owner = web_client::browser()?;
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    web_client::sign_up(&owner, &instance.base_url, &email).await?;
    let connect_url = web_client::connect_link(&owner, &instance.base_url).await?;
    let secrets_url = format!("{}/amocrm/secrets", instance.base_url);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;

    let (mut views, mut unknown, mut valid) =
        (Series::default(), Series::default(), Series::default());
    for _ in 0..runs {
        let states = Arc::new(Mutex::new(Vec::with_capacity(count)));
        views.add(view_connect_pages(&client, &connect_url, count, &states).await);
        let states: Vec<String> =
            std::mem::take(&mut *states.lock().unwrap_or_else(PoisonError::into_inner));
        ensure!(
            states.len() == count,
            "only {} of {count} connect pages rendered",
            states.len()
        );
        unknown.add(
            burst(
                &client,
                &secrets_url,
                concurrency,
                (0..count)
                    .map(|_| Uuid::new_v4().simple().to_string())
                    .collect(),
            )
            .await,
        );
        valid.add(burst(&client, &secrets_url, concurrency, states).await);
    }
    ensure!(
        valid.statuses.iter().all(|s| s.status == 200) && valid.failures == 0,
        "a valid delivery was refused: {}",
        load::status_counts(&valid.statuses)
    );

    println!(
        "\n## secrets-burst on {}: {count} deliveries per burst, {concurrency} in flight, {runs} runs\n",
        engine_name(engine)
    );
    println!(
        "| requests | sent | statuses | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|"
    );
    println!(
        "{}",
        views.row(&format!("GET /connect/{{key}} ({PAGE_VIEWERS} viewers)"))?
    );
    println!("{}", unknown.row("POST /amocrm/secrets, unknown state")?);
    println!("{}", valid.row("POST /amocrm/secrets, valid state")?);
    println!("(medians over {runs} runs; max is the worst of all runs)");
    Ok(())
}

/// Views the connect page `count` times, keeping each minted state.
async fn view_connect_pages(
    client: &reqwest::Client,
    connect_url: &str,
    count: usize,
    states: &Arc<Mutex<Vec<String>>>,
) -> (Vec<Sample>, usize) {
    let (client, url, states) = (client.clone(), connect_url.to_owned(), states.clone());
    load::closed_loop(PAGE_VIEWERS, Until::Count(count), move |_| {
        let (client, url, states) = (client.clone(), url.clone(), states.clone());
        async move {
            let page = web_client::timed(client.get(&url)).await?;
            let state = amolink_tests::ButtonTag::parse(&page.body)
                .context("no button on the connect page")?
                .state;
            states
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(state);
            Ok(Sample {
                elapsed: page.elapsed,
                status: page.status,
            })
        }
    })
    .await
}

/// Delivers one secrets webhook per state, as amoCRM does (JSON, a fresh client and secret).
async fn burst(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    states: Vec<String>,
) -> (Vec<Sample>, usize) {
    let (client, url, states) = (client.clone(), url.to_owned(), Arc::new(states));
    let count = states.len();
    load::closed_loop(concurrency, Until::Count(count), move |i| {
        let (client, url, states) = (client.clone(), url.clone(), states.clone());
        async move {
            let body = serde_json::json!({
                "client_id": Uuid::new_v4().to_string(),
                "client_secret": Uuid::new_v4().simple().to_string().repeat(2),
                "state": states.get(i).context("state index")?,
            });
            let answer = web_client::timed(client.post(&url).json(&body)).await?;
            Ok(Sample {
                elapsed: answer.elapsed,
                status: answer.status,
            })
        }
    })
    .await
}
