//! The `amolink` command.

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret as _;
use web::{
    Application,
    settings::{Settings, Sources},
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "amolink",
    version,
    about = "amoCRM / Kommo connections as a service"
)]
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
    /// Write a consistent copy of the SQLite database to PATH while amolink keeps serving
    /// (PostgreSQL: use pg_dump or pg_basebackup, see the README).
    Backup {
        /// Where to write the copy; must not exist yet. It is created with mode 0600.
        path: std::path::PathBuf,
    },
    /// Manage the master keys that encrypt secrets and tokens at rest.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Print a new random key entry to put first in AMOLINK_MASTER_KEYS.
    New {
        /// The key id (letters, digits, `-`, `_`).
        #[arg(long, default_value = "k2")]
        id: String,
    },
    /// Re-encrypt every stored secret and token under the first (primary) key. Safe to run
    /// while amolink serves traffic, and to interrupt and run again.
    Rotate,
}

fn main() -> std::process::ExitCode {
    // reqwest is built without a crypto provider (`rustls-no-provider`) and only `ring` is
    // linked: rustls needs it installed as the process default before the first TLS handshake.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
    if let Command::Keys {
        action: KeysAction::New { id },
    } = &command
    {
        println!("{}", domain::crypto::Keyring::generate_entry(id));
        return Ok(());
    }
    let settings = Settings::load(&Sources::gather()?)?;
    telemetry::init(&settings.log_filter, settings.log_format);
    match command {
        Command::Serve => {
            let banner = web::startup::banner(settings.public_base(), settings.demo);
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "amolink is listening");
            for line in banner {
                tracing::info!("{line}");
            }
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let database =
                persistence::Database::connect(settings.database_url.expose_secret()).await?;
            database.migrate().await?;
            tracing::info!("migrations applied");
        }
        Command::Backup { path } => {
            let database =
                persistence::Database::connect(settings.database_url.expose_secret()).await?;
            database.backup_to(&path).await?;
            println!("backed up the database to {}", path.display());
        }
        Command::Sim { bind } => {
            amocrm_sim::run(&bind, amocrm_sim::SimConfig::default()).await?;
        }
        Command::Keys {
            action: KeysAction::Rotate,
        } => {
            let database =
                persistence::Database::connect(settings.database_url.expose_secret()).await?;
            database.migrate().await?;
            let keyring = domain::crypto::Keyring::parse(&settings.master_keys)?;
            let store: std::sync::Arc<dyn domain::key_rotation::SealedValues> =
                std::sync::Arc::new(database);
            let report = domain::key_rotation::rotate(&store, &keyring).await?;
            println!(
                "re-encrypted {} of {} sealed values under key `{}` ({} changed meanwhile, {} unreadable)",
                report.resealed,
                report.examined,
                keyring.primary_id(),
                report.changed_meanwhile,
                report.unreadable
            );
            if report.unreadable > 0 {
                anyhow::bail!(
                    "{} sealed values could not be opened with the configured keys",
                    report.unreadable
                );
            }
        }
        Command::Keys {
            action: KeysAction::New { .. },
        } => {}
    }
    Ok(())
}
