//! `connections-page`: `/connections` of a workspace holding 100 000 connections (issue 4,
//! acceptance 8), through a real instance over HTTP with a signed-in session.
//!
//! Cases: the first page, ~100 consecutive "next" pages (keyset pagination must not slow down
//! with depth), a common and a rare status filter, searches that match one row, many rows and
//! none (`search_text LIKE '%…%'` cannot seek, so "none" is the worst case: every entry of the
//! workspace is examined), and the tenant API's list with and without an `end_user_id` filter.
//!
//! Baselines in the same run (issue 15): amolink's `/healthz` (the framework and the client,
//! no work) and nginx serving the first page's very bytes as a static file. Each amolink case
//! also reports the instance's CPU time per request (`/proc/{pid}/stat`, user + system, over
//! every run of the case).

use std::time::Instant;

use amolink_tests::Engine;
use anyhow::{Context as _, ensure};
use sea_orm::{ConnectionTrait as _, Statement};
use uuid::Uuid;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys},
    proxy::{Nginx, NginxSite},
    rows,
    stats::Summary,
    storage::{ScratchDir, Store},
    web_client::{self, Timed},
};

/// Requests per case and run.
const REQUESTS: usize = 50;
/// `next` links the deep-page case follows per run (50 rows a page).
const DEEP_PAGES: usize = 100;

/// What one case requests.
enum Case {
    /// Baseline: amolink's `GET /healthz`.
    Healthz,
    /// Baseline: nginx serving the first page's bytes as a file.
    NginxStatic,
    FirstPage,
    DeepPages,
    /// `?status=…`
    Status(&'static str),
    /// `?q=…`, cycling through the terms.
    Search(&'static str, Vec<String>),
    /// `GET /api/v1/connections`, the tenant backend's view.
    ApiFirstPage,
    /// `GET /api/v1/connections?end_user_id=…`, cycling through the end users.
    ApiEndUser(Vec<String>),
}

/// The instance, a signed-in browser and an API key of the same workspace.
struct Target {
    client: reqwest::Client,
    base: String,
    api_key: String,
    /// nginx serving `/connections.html`.
    nginx: String,
}

impl Target {
    /// A timed GET; API paths carry the key, pages the session cookie.
    async fn get(&self, path: &str) -> anyhow::Result<Timed> {
        if path.starts_with("/api/") {
            let answer = web_client::timed(
                self.client
                    .get(format!("{}{path}", self.base))
                    .bearer_auth(&self.api_key),
            )
            .await?;
            ensure!(
                answer.status == 200,
                "GET {path} answered {}",
                answer.status
            );
            Ok(answer)
        } else {
            web_client::timed_page(&self.client, &self.base, path).await
        }
    }
}

fn query_value(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

impl Case {
    fn label(&self) -> String {
        match self {
            Self::Healthz => "baseline: amolink `/healthz`".to_owned(),
            Self::NginxStatic => "baseline: nginx, the first page as a static file".to_owned(),
            Self::FirstPage => "first page".to_owned(),
            Self::DeepPages => format!("next page ×{DEEP_PAGES} (to row {})", DEEP_PAGES * 50),
            Self::Status(status) => format!("status={status}"),
            Self::Search(what, _) => format!("search, {what}"),
            Self::ApiFirstPage => "API: first page".to_owned(),
            Self::ApiEndUser(_) => "API: end_user_id filter".to_owned(),
        }
    }

    /// Runs the case once; answers each request's latency.
    async fn measure(
        &self,
        target: &Target,
        requests: usize,
    ) -> anyhow::Result<Vec<std::time::Duration>> {
        let mut latencies = Vec::with_capacity(requests);
        match self {
            Self::DeepPages => {
                let mut page = target.get("/connections").await?;
                for _ in 0..requests {
                    // A small `--n` simply has fewer pages.
                    let Some(next) = web_client::next_page(&page.body) else {
                        break;
                    };
                    page = target.get(&next).await?;
                    latencies.push(page.elapsed);
                }
            }
            Self::Healthz | Self::NginxStatic => {
                let url = match self {
                    Self::Healthz => format!("{}/healthz", target.base),
                    _ => format!("{}/connections.html", target.nginx),
                };
                for _ in 0..requests {
                    let answer = web_client::timed(target.client.get(&url)).await?;
                    ensure!(answer.status == 200, "GET {url} answered {}", answer.status);
                    latencies.push(answer.elapsed);
                }
            }
            _ => {
                for i in 0..requests {
                    let page = target.get(&self.path(i)).await?;
                    self.check(&page, i)?;
                    latencies.push(page.elapsed);
                }
            }
        }
        Ok(latencies)
    }

    /// Requests per run: the deep-page case follows this many `next` links.
    const fn requests(&self) -> usize {
        match self {
            Self::DeepPages => DEEP_PAGES,
            _ => REQUESTS,
        }
    }

    fn path(&self, i: usize) -> String {
        match self {
            Self::FirstPage | Self::DeepPages | Self::NginxStatic => "/connections".to_owned(),
            Self::Healthz => "/healthz".to_owned(),
            Self::Status(status) => format!("/connections?status={status}"),
            Self::Search(_, terms) => format!("/connections?q={}", query_value(cycle(terms, i))),
            Self::ApiFirstPage => "/api/v1/connections".to_owned(),
            Self::ApiEndUser(users) => format!(
                "/api/v1/connections?end_user_id={}",
                query_value(cycle(users, i))
            ),
        }
    }

    /// A fast answer that shows the wrong rows would be no result.
    fn check(&self, page: &Timed, i: usize) -> anyhow::Result<()> {
        let expected = match self {
            Self::Search(_, terms) => cycle(terms, i),
            Self::ApiEndUser(users) => cycle(users, i),
            _ => return Ok(()),
        };
        ensure!(
            expected.starts_with("zz") || page.body.to_lowercase().contains(expected),
            "the answer for {expected} does not show it"
        );
        Ok(())
    }
}

/// The `i`-th of `values`, round and round.
fn cycle(values: &[String], i: usize) -> &str {
    values
        .get(i % values.len().max(1))
        .map_or("", String::as_str)
}

/// Runs the scenario on each engine asked for (both by default).
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let rows = args.n.unwrap_or(100_000);
    for engine in args.engines_or(&[Engine::Sqlite, Engine::Postgres]) {
        Store::with_fresh(engine, args.keep, async |store| {
            measure(store, rows, args.runs).await
        })
        .await
        .with_context(|| format!("connections-page on {}", engine_name(engine)))?;
    }
    Ok(())
}

async fn measure(store: &Store, rows: usize, runs: usize) -> anyhow::Result<()> {
    let engine = store.engine;
    let keys = Keys::random();
    let instance = Instance::start(&Config::web_only(&store.url, &keys)).await?;
    let client = web_client::browser()?;
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    web_client::sign_up(&client, &instance.base_url, &email).await?;
    let workspace = workspace_of(store, &email).await?;
    let api_key = web_client::api_key(&client, &instance.base_url).await?;
    let mut target = Target {
        client,
        base: instance.base_url.clone(),
        api_key,
        nginx: String::new(),
    };

    let started = Instant::now();
    let inserted = rows::insert_connections(store.database.connection(), workspace, rows).await?;
    println!(
        "\n## connections-page on {}: {rows} connections inserted in {:.1} s",
        engine_name(engine),
        started.elapsed().as_secs_f64()
    );
    if engine == Engine::Postgres {
        // What autovacuum does to a table that grew this much (within a minute, in production;
        // the test server may run with it off): statistics for the planner, and the visibility
        // map that lets the search's id subquery be an index-only scan.
        store
            .database
            .execute_raw("VACUUM ANALYZE connections")
            .await?;
    }

    // The static baseline: nginx serving the first page's bytes.
    let scratch = ScratchDir::new("connections-page")?;
    let files = scratch.path.join("static");
    std::fs::create_dir_all(&files)?;
    std::fs::write(
        files.join("connections.html"),
        target.get("/connections").await?.body,
    )?;
    let nginx = Nginx::start(&scratch, &NginxSite::Static(&files))?;
    target.nginx.clone_from(&nginx.base_url);

    let cases = [
        Case::Healthz,
        Case::NginxStatic,
        Case::FirstPage,
        Case::DeepPages,
        Case::Status("needs_reauth"),
        Case::Status("rate_limited"),
        Case::Search("one match (subdomain)", inserted.sample_subdomains),
        Case::Search("~6 % match (\"trading\")", vec!["trading".to_owned()]),
        Case::Search("no match", vec!["zz-no-such-account".to_owned()]),
        Case::ApiFirstPage,
        Case::ApiEndUser(inserted.sample_end_users),
    ];
    // One unrecorded pass so the first run does not time cold caches and connection set-up.
    for case in &cases {
        case.measure(&target, 3).await?;
    }
    let mut results: Vec<Vec<Summary>> = cases.iter().map(|_| Vec::new()).collect();
    // amolink's CPU time and requests per case, over all runs.
    let mut cpu = vec![(0.0_f64, 0_usize); cases.len()];
    let ticks = clock_ticks_per_second()?;
    for _ in 0..runs {
        for ((case, summaries), spent) in cases.iter().zip(&mut results).zip(&mut cpu) {
            let before = cpu_ms(instance.pid(), ticks)?;
            let latencies = case.measure(&target, case.requests()).await?;
            spent.0 += cpu_ms(instance.pid(), ticks)? - before;
            spent.1 += latencies.len();
            summaries.extend(Summary::of(&latencies));
        }
    }

    println!(
        "\n| case | requests | p50 ms | p95 ms | p99 ms | max ms | amolink CPU ms/request |\n\
         |---|---|---|---|---|---|---|"
    );
    for ((case, summaries), (spent, requests)) in cases.iter().zip(&results).zip(&cpu) {
        let summary = Summary::median_of(summaries).context("no samples")?;
        let per_request = match case {
            Case::NginxStatic => "—".to_owned(),
            #[expect(clippy::cast_precision_loss, reason = "a request count")]
            _ => format!("{:.3}", spent / (*requests).max(1) as f64),
        };
        println!(
            "| {} | {} | {} | {per_request} |",
            case.label(),
            summary.count,
            summary.cells()
        );
    }
    println!("(medians over {runs} runs of each case; max is the worst of all runs)");
    Ok(())
}

/// `getconf CLK_TCK`: the unit of `/proc/{pid}/stat`'s CPU times.
fn clock_ticks_per_second() -> anyhow::Result<f64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("getconf CLK_TCK")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// The CPU time process `pid` has used so far (user + system, every thread), in ms.
fn cpu_ms(pid: u32, ticks_per_second: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After `pid (comm) `: state is the first field, utime the 12th and stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("unexpected /proc/pid/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short /proc/pid/stat")?.parse()?)
    };
    Ok((ticks(11)? + ticks(12)?) * 1000.0 / ticks_per_second)
}

/// The workspace the signed-up owner `email` belongs to.
async fn workspace_of(store: &Store, email: &str) -> anyhow::Result<Uuid> {
    let conn = store.database.connection();
    let row = conn
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
        .context("the signed-up user is not in the database")?;
    Ok(row.try_get_by_index::<Uuid>(0)?)
}
