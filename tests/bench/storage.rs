//! A fresh, migrated database per scenario, removed afterwards.

use amolink_tests::Engine;
use anyhow::Context as _;
use persistence::Database;
use sea_orm::{ConnectionTrait as _, Statement};

/// A database created for one scenario: a SQLite file in a scratch directory, or a PostgreSQL
/// database named `amolink_bench_…` on the suite's server (`AMOLINK_TEST_POSTGRES_URL`).
pub struct Store {
    pub engine: Engine,
    pub url: String,
    /// Our own handle, for seeding and polling.
    pub database: Database,
    /// Holds the SQLite file; removed with the store.
    dir: ScratchDir,
    postgres: Option<(String, String)>,
}

impl Store {
    /// Creates and migrates a fresh database.
    async fn fresh(engine: Engine) -> anyhow::Result<Self> {
        let dir = ScratchDir::new("store")?;
        let (url, postgres) = match engine {
            Engine::Sqlite => (
                format!("sqlite://{}/amolink.db?mode=rwc", dir.path.display()),
                None,
            ),
            Engine::Postgres => {
                let admin_url = std::env::var("AMOLINK_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
                let name = format!("amolink_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .with_context(|| format!("PostgreSQL at {admin_url} (see README)"))?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                admin.close().await?;
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                (format!("{base}/{name}"), Some((admin_url, name)))
            }
        };
        let database = Database::connect(&url).await?;
        database.migrate().await?;
        Ok(Self {
            engine,
            url,
            database,
            dir,
            postgres,
        })
    }

    /// One integer from a query (`COUNT(*)`, `MAX(…)`), 0 for `NULL`.
    pub async fn scalar(&self, sql: &str, values: Vec<sea_orm::Value>) -> anyhow::Result<i64> {
        let conn = self.database.connection();
        let row = conn
            .query_one_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                sql,
                values,
            ))
            .await
            .with_context(|| format!("query `{sql}`"))?;
        Ok(row
            .map(|row| row.try_get_by_index::<Option<i64>>(0))
            .transpose()?
            .flatten()
            .unwrap_or(0))
    }

    /// A placeholder for parameter `n` (1-based) in this engine's SQL dialect.
    pub fn param(&self, n: usize) -> String {
        match self.engine {
            Engine::Sqlite => "?".to_owned(),
            Engine::Postgres => format!("${n}"),
        }
    }

    /// Runs `body` on a fresh database and removes the database afterwards, whether `body`
    /// succeeded or not (a failed run must not leave 100 000 rows behind); with `keep`, a
    /// successful run leaves it in place and prints its URL, for `EXPLAIN` by hand.
    pub async fn with_fresh<T>(
        engine: Engine,
        keep: bool,
        body: impl AsyncFnOnce(&Self) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let store = Self::fresh(engine).await?;
        let outcome = body(&store).await;
        if keep && outcome.is_ok() {
            println!("database kept: {}", store.url);
            std::mem::forget(store.dir);
            return outcome;
        }
        let removed = store.remove().await;
        let value = outcome?;
        removed?;
        Ok(value)
    }

    /// Closes our pool and drops the PostgreSQL database (the scratch directory goes with
    /// `self`). Instances using it must be stopped first.
    async fn remove(self) -> anyhow::Result<()> {
        self.database.close().await?;
        if let Some((admin_url, name)) = &self.postgres {
            let admin = sea_orm::Database::connect(admin_url).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

/// A directory under the system temp dir, deleted with its contents on drop.
pub struct ScratchDir {
    pub path: std::path::PathBuf,
}

impl ScratchDir {
    pub fn new(purpose: &str) -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("amolink-bench-{purpose}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
