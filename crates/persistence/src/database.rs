use std::{path::Path, time::Duration};

use anyhow::Context as _;
use domain::StoreError;
use migrations::{Migrator, MigratorTrait as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, DatabaseConnection, DbErr, SqlErr,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

/// Which SQL engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A pooled connection to amolink's database; implements the domain's repositories.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) conn: DatabaseConnection,
    engine: Engine,
}

impl Database {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`, because a commit lost to a power cut
    /// here can be a rotated refresh token lost for good, and with a busy timeout so concurrent
    /// writers wait instead of failing. The database file's directory is created if missing.
    ///
    /// # Errors
    /// When the URL names another engine or the database cannot be reached.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else {
            anyhow::bail!("unsupported database URL: use sqlite://… or postgres://…");
        };
        if engine == Engine::Sqlite {
            ensure_sqlite_directory(url)?;
        }
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(if engine == Engine::Sqlite { 8 } else { 16 })
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let conn = sea_orm::Database::connect(options)
            .await
            .context("could not connect to the database")?;
        Ok(Self { conn, engine })
    }

    #[must_use]
    pub const fn engine(&self) -> Engine {
        self.engine
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.conn, None)
            .await
            .context("database migration failed")
    }

    /// Runs one SQL statement that returns nothing, such as a PRAGMA check in tests or
    /// administrative commands.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn execute_raw(&self, sql: &str) -> anyhow::Result<()> {
        self.conn.execute_unprepared(sql).await?;
        Ok(())
    }

    /// Closes the pool (used by tests that simulate the database going away).
    ///
    /// # Errors
    /// When closing fails.
    pub async fn close(self) -> anyhow::Result<()> {
        self.conn.close().await?;
        Ok(())
    }

    /// The raw sea-orm connection, for tests that inspect stored bytes.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }
}

fn ensure_sqlite_directory(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("could not create the database directory {}", dir.display())
        })?;
    }
    Ok(())
}

/// Maps a sea-orm error to the domain's storage error, recognising unique-key violations.
pub(crate) fn store_error(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate("unique key"),
        _ => StoreError::Unavailable(anyhow::Error::new(e)),
    }
}
