//! What one test creates outside its process — a temporary folder, a PostgreSQL database — and
//! removes again when the guard drops, passed or failed.

use std::path::{Path, PathBuf};

use sea_orm::ConnectionTrait as _;

use crate::Engine;

/// The PostgreSQL server tests create their databases on: `AMOLINK_TEST_POSTGRES_URL` (set by
/// `./test.sh` for its throwaway cluster) or the developer's local server.
pub fn postgres_admin_url() -> String {
    std::env::var("AMOLINK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A temporary folder and, on PostgreSQL, a database named `amolink_test_…`, dropped with the
/// guard. Share it (`Arc`) between instances that use the same storage.
pub struct Scratch {
    dir: PathBuf,
    database_url: String,
    /// The database to drop: (admin URL, name).
    postgres: Option<(String, String)>,
}

impl Scratch {
    /// A fresh folder under the system's temporary directory and a fresh database on `engine`.
    pub async fn new(engine: Engine, purpose: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("amolink-{purpose}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the test's temporary folder");
        let mut scratch = Self {
            database_url: format!("sqlite://{}/amolink.db?mode=rwc", dir.display()),
            dir,
            postgres: None,
        };
        if engine == Engine::Postgres {
            let admin_url = postgres_admin_url();
            let name = format!("amolink_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("PostgreSQL must be reachable for the PostgreSQL suite (see README)");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(base, _)| base);
            scratch.database_url = format!("{base}/{name}");
            scratch.postgres = Some((admin_url, name));
        }
        scratch
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop cannot await and may run on a runtime's worker: the statement runs on a
            // thread with a runtime of its own. FORCE ends the connections the app still holds.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let result = admin.execute_unprepared(&sql).await;
                    admin.close().await.ok();
                    result.ok()
                })
            });
            let _ = dropped.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
