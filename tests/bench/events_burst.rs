//! `events-burst`: amoCRM's event deliveries into `POST /amocrm/events/{token}` (issue 13,
//! acceptance 3: 1 000 deliveries in 10 s answered with p99 < 200 ms, none lost, the subscription
//! never disabled).
//!
//! amoCRM waits 2 s for an answer and switches a hook off after more than 100 invalid answers in
//! two hours, so what matters is the answer time under a burst and that every answer is a 2xx.
//! The burst is **open loop**: deliveries leave at a fixed pace whatever the server does (as
//! amoCRM's senders do), so a slow answer shows as latency rather than as a slower sender. Each
//! delivery is a distinct lead in amoCRM's wire format. The instance runs its events processor
//! (normalise, dedup, outbox) during the burst, as in production; afterwards the benchmark waits
//! until every stored delivery is processed and counts the events: none may be missing.
//!
//! Baseline, measured in the same run at the same pace: `GET /healthz` (no database).

use std::time::{Duration, Instant};

use amolink_tests::Engine;
use anyhow::{Context as _, bail, ensure};
use domain::{
    clock::{Clock as _, SystemClock},
    relay::{DestinationToken, RelayStore as _, SubscriptionStatus},
};
use sea_orm::{ConnectionTrait as _, Statement};
use uuid::Uuid;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys},
    load::{self, Sample},
    rows,
    stats::Summary,
    storage::Store,
    web_client,
};

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let count = args.n.unwrap_or(1_000);
    let secs = args.secs.unwrap_or(10).max(1);
    for engine in args.engines_or(&[Engine::Sqlite, Engine::Postgres]) {
        Store::with_fresh(engine, false, async |store| {
            measure(store, count, secs, args.runs).await
        })
        .await
        .with_context(|| format!("events-burst on {}", engine_name(engine)))?;
    }
    Ok(())
}

/// A delivery body: lead `i` added, as amoCRM encodes it.
fn body(account: i64, i: usize) -> String {
    let id = 50_000_000 + i;
    let pairs: Vec<(String, String)> = [
        ("account[subdomain]", "bench".to_owned()),
        ("account[id]", account.to_string()),
        (
            "account[_links][self]",
            "https://bench.amocrm.ru".to_owned(),
        ),
        ("leads[add][0][id]", id.to_string()),
        ("leads[add][0][name]", format!("Order #{i}")),
        ("leads[add][0][status_id]", "142".to_owned()),
        ("leads[add][0][price]", "25000".to_owned()),
        ("leads[add][0][responsible_user_id]", "8120331".to_owned()),
        ("leads[add][0][pipeline_id]", "7211390".to_owned()),
        ("leads[add][0][account_id]", account.to_string()),
        ("leads[add][0][created_at]", "1761037455".to_owned()),
        ("leads[add][0][updated_at]", "1761037455".to_owned()),
        ("leads[add][0][custom_fields][0][id]", "1118164".to_owned()),
        ("leads[add][0][custom_fields][0][name]", "Source".to_owned()),
        (
            "leads[add][0][custom_fields][0][values][0][value]",
            "Website".to_owned(),
        ),
        (
            "leads[add][0][custom_fields][0][values][0][enum]",
            "908107".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    domain::relay::form::encode(&pairs)
}

/// Sends `requests.len()` requests at an even pace over `span`, each in its own task.
async fn open_loop(
    requests: Vec<reqwest::RequestBuilder>,
    span: Duration,
) -> anyhow::Result<(Vec<Sample>, usize)> {
    let count = u32::try_from(requests.len()).context("too many requests")?;
    let gap = span / count.max(1);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    for (i, request) in requests.into_iter().enumerate() {
        let at = start + gap * u32::try_from(i).unwrap_or(u32::MAX);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            web_client::timed(request).await.map(|answer| Sample {
                elapsed: answer.elapsed,
                status: answer.status,
            })
        }));
    }
    let (mut samples, mut failures) = (Vec::new(), 0);
    for task in tasks {
        match task.await {
            Ok(Ok(sample)) => samples.push(sample),
            _ => failures += 1,
        }
    }
    Ok((samples, failures))
}

/// Signs up, makes one active connection and arms its subscription with a known token.
async fn armed_connection(store: &Store, instance: &Instance) -> anyhow::Result<(i64, String)> {
    let owner = web_client::browser()?;
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    web_client::sign_up(&owner, &instance.base_url, &email).await?;
    let conn = store.database.connection();
    let workspace: Uuid = conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            format!(
                "SELECT m.workspace_id FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE u.email = {}",
                store.param(1)
            ),
            [email.into()],
        ))
        .await?
        .context("the owner's row")?
        .try_get("", "workspace_id")?;
    rows::insert_connections(conn, workspace, 1).await?;
    store
        .database
        .execute_raw("UPDATE connections SET status = 'active'")
        .await?;
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, account_id FROM connections",
        ))
        .await?
        .context("the connection")?;
    let (id, account): (Uuid, i64) = (row.try_get("", "id")?, row.try_get("", "account_id")?);
    let now = SystemClock.now();
    let connection = domain::ids::ConnectionId::from_uuid(id);
    let workspace = domain::ids::WorkspaceId::from_uuid(workspace);
    store
        .database
        .request_subscription(workspace, connection, now)
        .await?;
    let mut claimed = store
        .database
        .claim_subscriptions(now, Duration::from_secs(60), 1)
        .await?;
    let Some(claim) = claimed.pop() else {
        bail!("the subscription was not due");
    };
    let token = DestinationToken::generate();
    let mut subscription = claim.subscription;
    subscription.status = SubscriptionStatus::Subscribed;
    subscription.token_hash = Some(token.hash());
    subscription.next_check_at = None;
    ensure!(
        store
            .database
            .save_subscription(Some(&claim.lease), &subscription)
            .await?,
        "the subscription could not be armed"
    );
    Ok((account, token.expose().to_owned()))
}

/// Waits (bounded) until the processor has handled every stored delivery.
async fn drained(store: &Store) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let pending = store
            .scalar(
                "SELECT COUNT(*) FROM relay_inbound WHERE status = 'pending'",
                Vec::new(),
            )
            .await?;
        if pending == 0 {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("stored deliveries were still pending after 120 s")
}

fn row(label: &str, summaries: &[Summary], samples: &[Sample], failures: usize) -> String {
    Summary::median_of(summaries).map_or_else(
        || format!("| {label} | no samples |"),
        |summary| {
            format!(
                "| {label} | {} | {} | {} |",
                summary.count + failures,
                load::status_counts(samples),
                summary.cells()
            )
        },
    )
}

async fn measure(store: &Store, count: usize, secs: u64, runs: usize) -> anyhow::Result<()> {
    let keys = Keys::random();
    let instance = Instance::start(&Config::web_only(&store.url, &keys)).await?;
    let (account, token) = armed_connection(store, &instance).await?;
    let url = format!("{}/amocrm/events/{token}", instance.base_url);
    let health = format!("{}/healthz", instance.base_url);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let span = Duration::from_secs(secs);

    let (mut base, mut burst) = ((Vec::new(), Vec::new(), 0), (Vec::new(), Vec::new(), 0));
    let mut drain_times = Vec::new();
    for run in 0..runs {
        let gets = (0..count).map(|_| client.get(&health)).collect();
        let (samples, failures) = open_loop(gets, span).await?;
        base.0.extend(Summary::of(&load::latencies(&samples)));
        base.1.extend(samples);
        base.2 += failures;

        let posts = (0..count)
            .map(|i| {
                client
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("user-agent", "amoCRM-Webhooks/3.0")
                    .header("x-amocrm-requestid", Uuid::new_v4().to_string())
                    .body(body(account, run * count + i))
            })
            .collect();
        let (samples, failures) = open_loop(posts, span).await?;
        burst.0.extend(Summary::of(&load::latencies(&samples)));
        burst.1.extend(samples);
        burst.2 += failures;
        drain_times.push(
            drained(store)
                .await
                .with_context(|| format!("amolink's log: {}", instance.log_tail()))?,
        );
    }
    let invalid = burst
        .1
        .iter()
        .filter(|s| !(200..300).contains(&s.status))
        .count()
        + burst.2;
    let events = store
        .scalar("SELECT COUNT(*) FROM relay_events", Vec::new())
        .await?;
    let expected = i64::try_from(count * runs)?;
    ensure!(
        events == expected,
        "{events} of {expected} events stored: deliveries were lost ({})",
        instance.log_tail()
    );

    println!(
        "\n## events-burst on {}: {count} deliveries in {secs} s (open loop), {runs} runs\n",
        engine_name(store.engine)
    );
    println!(
        "| requests | sent | statuses | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|"
    );
    println!(
        "{}",
        row(
            "GET /healthz (baseline, same pace)",
            &base.0,
            &base.1,
            base.2
        )
    );
    println!(
        "{}",
        row("POST /amocrm/events/{token}", &burst.0, &burst.1, burst.2)
    );
    println!(
        "(medians over {runs} runs; max is the worst of all runs)\n\
events stored: {events} of {expected} (none lost); answers amoCRM would count as invalid: {invalid} \
(it disables a hook only after more than 100 in two hours); processing caught up {} after each \
burst ended (median)",
        crate::stats::ms(crate::stats::median(&drain_times).unwrap_or_default())
    );
    ensure!(invalid == 0, "{invalid} deliveries were not answered 2xx");
    Ok(())
}
