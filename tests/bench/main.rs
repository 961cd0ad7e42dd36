//! `bench`: amolink's speed and memory benchmarks.
//!
//! Speed and memory targets live here, never in timed tests: a timed test on a shared 2-core CI
//! box is either flaky or too lax to mean anything, while a benchmark reports what it measured,
//! under which load, with the command that produced it (see `BENCHMARKS.md` at the repository
//! root).
//!
//! ```sh
//! cargo build --release -p web -p amolink-tests   # the `amolink` binary the scenarios spawn
//! cargo run --release -p amolink-tests --bin bench -- <scenario> [--engine sqlite|postgres] [--n N] [--runs R]
//! ```
//!
//! Every scenario drives real `amolink serve` processes (`target/release/amolink`, next to this
//! binary) over loopback HTTP, on a fresh database it drops afterwards, and stops on its own
//! within a bounded number of requests and seconds.

mod args;
mod connect_flows;
mod connections_page;
mod events_burst;
mod instance;
mod load;
mod login_flood;
mod proxy;
mod proxy_activity;
mod refresh;
mod rows;
mod secrets_burst;
mod stats;
mod storage;
mod web_client;

use anyhow::Context as _;

use crate::args::{Args, Scenario};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Two rustls providers are linked in this dependency graph; choose one before any TLS use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench: {e:#}\n\n{}", args::USAGE);
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    println!("# bench {}", args.command_line());
    println!("{}", stats::machine_load().context("reading /proc")?);
    match args.scenario {
        Scenario::ConnectionsPage => connections_page::run(args).await,
        Scenario::RefreshThroughput => refresh::run(args).await,
        Scenario::SecretsBurst => secrets_burst::run(args).await,
        Scenario::ConnectFlows => connect_flows::run(args).await,
        Scenario::LoginFlood => login_flood::run(args).await,
        Scenario::EventsBurst => events_burst::run(args).await,
        Scenario::ProxyActivity => proxy_activity::run(args).await,
        Scenario::Proxy => proxy::run(args).await,
    }?;
    println!("{}", stats::machine_load().context("reading /proc")?);
    Ok(())
}
