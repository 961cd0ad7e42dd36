//! The suite cleans up after itself: a test's folder and PostgreSQL database are gone once its
//! app is dropped, so repeated runs do not fill the disk or the server.

use amolink_tests::{Engine, both_engines, postgres_admin_url, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement};

async fn postgres_has(name: &str) -> bool {
    let admin = sea_orm::Database::connect(&postgres_admin_url())
        .await
        .unwrap();
    let found = admin
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .unwrap()
        .is_some();
    admin.close().await.ok();
    found
}

async fn a_dropped_app_leaves_no_folder_or_database(engine: Engine) {
    let app = spawn_app(engine).await;
    let res = app.browser().get("/healthz").await;
    assert_eq!(res.status(), 200);
    let dir = app.data_dir.clone();
    let database = app
        .database_url
        .rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .unwrap();
    assert!(dir.exists());
    if engine == Engine::Postgres {
        assert!(
            postgres_has(&database).await,
            "{database} exists while in use"
        );
    }
    drop(app);
    assert!(!dir.exists(), "{} is removed", dir.display());
    if engine == Engine::Postgres {
        assert!(!postgres_has(&database).await, "{database} is dropped");
    }
}

both_engines!(a_dropped_app_leaves_no_folder_or_database);
