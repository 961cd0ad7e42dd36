//! `connections-page`: `/connections` of a workspace holding 100 000 connections (issue 4,
//! acceptance 8), through a real instance over HTTP with a signed-in session.
//!
//! Cases: the first page, ~100 consecutive "next" pages (keyset pagination must not slow down
//! with depth), a common and a rare status filter, searches that match one row, many rows and
//! none (`search_text LIKE '%…%'` cannot seek, so "none" is the worst case: every entry of the
//! workspace is examined), and the tenant API's list with and without an `end_user_id` filter.

use std::time::Instant;

use amolink_tests::Engine;
use anyhow::{Context as _, ensure};
use sea_orm::{ConnectionTrait as _, Statement};
use uuid::Uuid;

use crate::{
    args::{Args, engine_name},
    instance::{Config, Instance, Keys},
    rows,
    stats::Summary,
    storage::Store,
    web_client::{self, Timed},
};

/// Requests per case and run.
const REQUESTS: usize = 50;
/// `next` links the deep-page case follows per run (50 rows a page).
const DEEP_PAGES: usize = 100;

/// What one case requests.
enum Case {
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
            Self::FirstPage | Self::DeepPages => "/connections".to_owned(),
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
    let target = Target {
        client,
        base: instance.base_url.clone(),
        api_key,
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

    let cases = [
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
    for _ in 0..runs {
        for (case, summaries) in cases.iter().zip(&mut results) {
            let latencies = case.measure(&target, case.requests()).await?;
            summaries.extend(Summary::of(&latencies));
        }
    }

    println!(
        "\n| case | requests | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|"
    );
    for (case, summaries) in cases.iter().zip(&results) {
        let summary = Summary::median_of(summaries).context("no samples")?;
        println!(
            "| {} | {} | {} |",
            case.label(),
            summary.count,
            summary.cells()
        );
    }
    println!("(medians over {runs} runs of each case; max is the worst of all runs)");
    Ok(())
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
