//! The `amolink` command.

use clap::{Parser, Subcommand};
use web::{
    Application,
    settings::{Settings, Sources},
    telemetry,
};

#[derive(Parser)]
#[command(name = "amolink", version, about = "amoCRM / Kommo connections as a service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default); migrations are applied at start.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the amoCRM / Kommo simulator alone.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        bind: String,
    },
}

fn main() -> std::process::ExitCode {
    // Two rustls providers are linked in this dependency graph; choose one before any TLS use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("amolink: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amolink: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let settings = Settings::load(&Sources::gather()?)?;
    telemetry::init(&settings.log_filter, settings.log_format);
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "amolink is listening");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            use secrecy::ExposeSecret as _;
            let database = persistence::Database::connect(settings.database_url.expose_secret()).await?;
            database.migrate().await?;
            tracing::info!("migrations applied");
        }
        Command::Sim { bind } => {
            anyhow::bail!("the simulator is not wired yet (bind {bind})");
        }
    }
    Ok(())
}
