//! The command line. Hand-parsed: a handful of options does not justify another dependency in
//! the test crate.

use amolink_tests::Engine;
use anyhow::{Context as _, bail};

pub const USAGE: &str = "\
usage: bench <scenario> [options]

scenarios:
  connections-page    100 000 connections in one workspace: first page, deep pages, filters, search
  refresh-throughput  N due connections with real grants, refreshed by 1, 2 and 4 `amolink serve`
                      processes on one PostgreSQL
  secrets-burst       POST /amocrm/secrets bursts (unknown and valid states)
  connect-flows       whole connect flows (page, consent with secrets, callback) at --concurrency
  login-flood         bad log-ins at high concurrency while GETs and the server's memory are watched
  events-burst        amoCRM event deliveries into POST /amocrm/events/{token} at a fixed pace
  proxy-activity      proxied calls at a fixed pace with activity recording off and on (A/B)
  proxy               GET /api/v4/account through amolink's proxy vs straight to the simulator
                      and through nginx (wrk, 1 and 64 clients over N connections); RSS; on
                      PostgreSQL also 1 vs 2 instances behind haproxy

options:
  --engine E        sqlite | postgres | sqlite,postgres (default depends on the scenario)
  --n N             rows / connections / deliveries / attackers (default depends on the scenario)
  --runs R          repetitions whose medians are reported (default 3)
  --instances LIST  refresh-throughput: process counts, e.g. 1,2,4 (default)
  --secs S          login-flood: flood duration in seconds (default 20);
                    events-burst, proxy-activity: burst duration (default 10); proxy: seconds per row (5)
  --concurrency C   secrets-burst: requests in flight (default 50); connect-flows: flows (20)
  --keep            connections-page: keep the filled database and print its URL (for EXPLAIN)";

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    ConnectionsPage,
    RefreshThroughput,
    SecretsBurst,
    ConnectFlows,
    LoginFlood,
    EventsBurst,
    ProxyActivity,
    Proxy,
}

/// Parsed options; `None` means "the scenario's default".
#[derive(Debug)]
pub struct Args {
    pub scenario: Scenario,
    engines: Vec<Engine>,
    pub n: Option<usize>,
    pub runs: usize,
    pub instances: Vec<usize>,
    pub secs: Option<u64>,
    pub concurrency: Option<usize>,
    pub keep: bool,
    raw: Vec<String>,
}

impl Args {
    /// Parses the arguments after the program name.
    ///
    /// # Errors
    /// An unknown scenario or option, or a value that does not parse.
    pub fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let raw: Vec<String> = args.collect();
        let mut words = raw.iter();
        let scenario = match words.next().map(String::as_str) {
            Some("connections-page") => Scenario::ConnectionsPage,
            Some("refresh-throughput") => Scenario::RefreshThroughput,
            Some("secrets-burst") => Scenario::SecretsBurst,
            Some("connect-flows") => Scenario::ConnectFlows,
            Some("login-flood") => Scenario::LoginFlood,
            Some("events-burst") => Scenario::EventsBurst,
            Some("proxy-activity") => Scenario::ProxyActivity,
            Some("proxy") => Scenario::Proxy,
            Some(other) => bail!("unknown scenario `{other}`"),
            None => bail!("name a scenario"),
        };
        let mut parsed = Self {
            scenario,
            engines: Vec::new(),
            n: None,
            runs: 3,
            instances: vec![1, 2, 4],
            secs: None,
            concurrency: None,
            keep: false,
            raw: raw.clone(),
        };
        while let Some(option) = words.next() {
            if option == "--keep" {
                parsed.keep = true;
                continue;
            }
            let value = words
                .next()
                .with_context(|| format!("`{option}` needs a value"))?;
            match option.as_str() {
                "--engine" => parsed.engines = list(value, engine)?,
                "--n" => parsed.n = Some(number(option, value)?),
                "--runs" => parsed.runs = number::<usize>(option, value)?.max(1),
                "--instances" => parsed.instances = list(value, |v| number("--instances", v))?,
                "--secs" => parsed.secs = Some(number(option, value)?),
                "--concurrency" => {
                    parsed.concurrency = Some(number::<usize>(option, value)?.max(1))
                }
                other => bail!("unknown option `{other}`"),
            }
        }
        Ok(parsed)
    }

    /// The engines asked for, or `default` when none was.
    pub fn engines_or(&self, default: &[Engine]) -> Vec<Engine> {
        if self.engines.is_empty() {
            default.to_vec()
        } else {
            self.engines.clone()
        }
    }

    /// How to run this again, for the report.
    pub fn command_line(&self) -> String {
        self.raw.join(" ")
    }
}

fn engine(raw: &str) -> anyhow::Result<Engine> {
    match raw {
        "sqlite" => Ok(Engine::Sqlite),
        "postgres" | "postgresql" => Ok(Engine::Postgres),
        other => bail!("unknown engine `{other}` (sqlite or postgres)"),
    }
}

fn number<T: std::str::FromStr>(option: &str, raw: &str) -> anyhow::Result<T> {
    raw.replace('_', "")
        .parse()
        .map_err(|_| anyhow::anyhow!("`{option}` expects a number, not `{raw}`"))
}

fn list<T>(raw: &str, item: impl Fn(&str) -> anyhow::Result<T>) -> anyhow::Result<Vec<T>> {
    raw.split(',').map(str::trim).map(item).collect()
}

/// A short name for tables.
pub const fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "SQLite",
        Engine::Postgres => "PostgreSQL",
    }
}
