use std::{path::Path, time::Duration};

use anyhow::Context as _;
use domain::StoreError;
use migrations::{Migrator, MigratorTrait as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, DatabaseConnection, DbErr, SqlErr, TransactionTrait as _,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::{files, group_commit::GroupCommit};

/// The PostgreSQL advisory lock key migrations run under (any constant unique to amolink:
/// "amolink" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_6d6f_6c69_6e6b;

/// Which SQL engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A pooled connection to amolink's database; implements the domain's repositories.
///
/// On SQLite, `conn` is the **one writer path**: a pool of a single connection that every
/// query uses unless it is explicitly routed to `reads`. SQLite allows one writer at a time;
/// with several pooled writers, a deferred transaction that reads before it writes cannot
/// upgrade its lock once another connection has committed (`SQLITE_BUSY_SNAPSHOT`, which the
/// busy timeout does not wait out), so requests failed under contention. Queued behind one
/// connection, they wait their turn instead. `reads` (several connections; WAL readers never
/// block the writer) serves read-only queries that may run beside it. On PostgreSQL both are
/// the same pool.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) conn: DatabaseConnection,
    pub(crate) reads: DatabaseConnection,
    /// Small write transactions that may share a commit (the token keeper's).
    pub(crate) group: GroupCommit,
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
        let sqlite_file = match engine {
            Engine::Sqlite => files::sqlite_path(url),
            Engine::Postgres => None,
        };
        if let Some(file) = &sqlite_file {
            files::prepare_sqlite_files(file)?;
        }
        let pool = |connections: u32, acquire: Duration| {
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .max_connections(connections)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(acquire)
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                });
            options
        };
        let (conn, reads) = match engine {
            Engine::Sqlite => {
                // Waiting for the writer is queueing, not unavailability: the timeout only has
                // to catch a database that is really stuck (locked by another process).
                let writer = sea_orm::Database::connect(pool(1, Duration::from_secs(30)))
                    .await
                    .context("could not connect to the database")?;
                let reads = sea_orm::Database::connect(pool(8, Duration::from_secs(5)))
                    .await
                    .context("could not connect to the database")?;
                (writer, reads)
            }
            Engine::Postgres => {
                let conn = sea_orm::Database::connect(pool(16, Duration::from_secs(5)))
                    .await
                    .context("could not connect to the database")?;
                (conn.clone(), conn)
            }
        };
        // The WAL and shared-memory files exist now; they take the database file's mode, but
        // ones left by an older version may not.
        if let Some(file) = &sqlite_file {
            files::restrict_sqlite_files(file)?;
        }
        // SQLite has one writer; PostgreSQL commits a few batches side by side.
        let group = GroupCommit::start(
            conn.clone(),
            match engine {
                Engine::Sqlite => 1,
                Engine::Postgres => 4,
            },
        );
        Ok(Self {
            conn,
            reads,
            group,
            engine,
        })
    }

    /// Writes a consistent copy of a SQLite database to `path` (`VACUUM INTO`), while it keeps
    /// serving: the copy is one read transaction's snapshot, so writes that commit meanwhile are
    /// either wholly in it or wholly absent. The copy is created `0600` and never overwrites a
    /// file. PostgreSQL is backed up with its own tools (`pg_dump`, or base backups with WAL
    /// archiving); see the README.
    ///
    /// # Errors
    /// On PostgreSQL, when `path` exists, or when SQLite cannot write the copy.
    pub async fn backup_to(&self, path: &Path) -> anyhow::Result<()> {
        if self.engine == Engine::Postgres {
            anyhow::bail!(
                "`amolink backup` copies SQLite databases; back PostgreSQL up with pg_dump or \
                 pg_basebackup (see the README)"
            );
        }
        let target = path
            .to_str()
            .context("the backup path must be valid UTF-8")?;
        files::create_backup_file(path)?;
        let quoted = target.replace('\'', "''");
        // The read pool: the copy reads a snapshot and never waits for the writer.
        let copied = self
            .reads
            .execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(path);
            return Err(anyhow::Error::new(e).context("the backup failed"));
        }
        files::owner_only(path, 0o600)?;
        Ok(())
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
        match self.engine {
            // Instances started at the same instant on an empty database take turns: the
            // migrations run in one transaction holding an advisory lock, so the second waits
            // for the first to commit and then finds nothing pending (PostgreSQL's DDL is
            // transactional; sea-orm-migration's own per-migration transactions become
            // savepoints).
            Engine::Postgres => {
                let txn = self
                    .conn
                    .begin()
                    .await
                    .context("database migration failed")?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                    .await
                    .context("could not take the migration lock")?;
                Migrator::up(&txn, None)
                    .await
                    .context("database migration failed")?;
                txn.commit().await.context("database migration failed")
            }
            // One process owns a SQLite database.
            Engine::Sqlite => Migrator::up(&self.conn, None)
                .await
                .context("database migration failed"),
        }
    }

    /// Moves the SQLite write-ahead log into the database file and truncates it, so the WAL
    /// does not grow between SQLite's own automatic checkpoints (every 1 000 pages, which never
    /// truncate). Runs on the writer connection, so it never competes with amolink's own
    /// writes; readers in the middle of a snapshot make it stop short, which is harmless (the
    /// next round finishes). A no-op on PostgreSQL.
    ///
    /// # Errors
    /// When SQLite fails the checkpoint.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        if self.engine == Engine::Sqlite {
            self.conn
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .context("WAL checkpoint")?;
        }
        Ok(())
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
        if self.engine == Engine::Sqlite {
            self.reads.close().await?;
        }
        self.conn.close().await?;
        Ok(())
    }

    /// The raw sea-orm connection, for tests that inspect stored bytes.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }
}

/// Maps a sea-orm error to the domain's storage error, recognising unique-key violations.
pub(crate) fn store_error(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate("unique key"),
        _ => StoreError::Unavailable(anyhow::Error::new(e)),
    }
}
