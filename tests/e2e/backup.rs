//! Operations (issue 14): the database files are readable by amolink's user only, and
//! `amolink backup` (`Database::backup_to`) makes a consistent copy of a SQLite database while
//! writes continue.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use amolink_tests::{Engine, both_engines, spawn_app};
use persistence::Database;
use sea_orm::{ConnectionTrait as _, Statement};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn database_files_are_owner_only(engine: Engine) {
    let app = spawn_app(engine).await;
    // Something written, so the WAL is in use.
    let _tenant = app.signed_in_browser("ann@example.com", "Acme").await;
    #[cfg(unix)]
    {
        assert_eq!(mode(&app.data_dir), 0o700, "the data directory");
        if engine == Engine::Sqlite {
            // Durable commits (security.md R30): WAL with synchronous=FULL.
            assert_eq!(scalar(&app.database, "PRAGMA journal_mode").await, "wal");
            assert_eq!(scalar(&app.database, "PRAGMA synchronous").await, "2");
            for file in ["amolink.db", "amolink.db-wal", "amolink.db-shm"] {
                let path = app.data_dir.join(file);
                assert!(path.exists(), "{file} exists in WAL mode");
                assert_eq!(mode(&path), 0o600, "{file}");
            }
        }
    }
}

async fn scalar(db: &Database, sql: &str) -> String {
    let conn = db.connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
        .unwrap()
}

/// Sign-ups run without pause while copies are taken; each copy opens, passes SQLite's integrity
/// check, and holds every account acknowledged before it started (and none that was never
/// acknowledged after it finished). On PostgreSQL the command refuses and names the right tools.
async fn backups_are_consistent_under_write_load(engine: Engine) {
    let app = spawn_app(engine).await;
    let target_dir = app.data_dir.join("backups");
    std::fs::create_dir_all(&target_dir).unwrap();
    // A second handle, as the `amolink backup` process opens.
    let other = Database::connect(&app.database_url).await.unwrap();
    if engine == Engine::Postgres {
        let refused = other
            .backup_to(&target_dir.join("copy.db"))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("pg_dump"), "{refused}");
        return;
    }

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let browser_app = app.browser();
        let address = browser_app.address.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 200 {
                let browser = amolink_tests::Browser {
                    client: reqwest::Client::builder()
                        .cookie_store(true)
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .unwrap(),
                    address: address.clone(),
                };
                let res = browser
                    .sign_up(
                        &format!("user{n}@example.com"),
                        "correct horse battery",
                        "Load",
                    )
                    .await;
                if res.status() == 303 {
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
            }
        })
    };

    for copy in 0..3 {
        // Let some writes land between copies.
        while acknowledged.load(Ordering::SeqCst) < (copy + 1) * 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let before = acknowledged.load(Ordering::SeqCst);
        let path = target_dir.join(format!("copy-{copy}.db"));
        other
            .backup_to(&path)
            .await
            .expect("the online backup succeeds");
        let after = acknowledged.load(Ordering::SeqCst);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert!(
            other.backup_to(&path).await.is_err(),
            "a backup never overwrites"
        );

        let copy_db = Database::connect(&format!("sqlite://{}?mode=rw", path.display()))
            .await
            .expect("the copy opens");
        assert_eq!(scalar(&copy_db, "PRAGMA integrity_check").await, "ok");
        let users: usize = scalar(&copy_db, "SELECT count(*) FROM users")
            .await
            .parse()
            .unwrap();
        assert!(
            users >= before && users <= after + 1,
            "copy {copy}: {users} accounts, {before} acknowledged before and {after} after"
        );
        let keys: usize = scalar(&copy_db, "SELECT count(*) FROM seaql_migrations")
            .await
            .parse()
            .unwrap();
        assert!(keys > 0, "the schema is in the copy");
        copy_db.close().await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert!(
        acknowledged.load(Ordering::SeqCst) >= 9,
        "the load kept writing"
    );
}

both_engines!(
    database_files_are_owner_only,
    backups_are_consistent_under_write_load
);
