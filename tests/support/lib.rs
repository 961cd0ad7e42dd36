//! The end-to-end test harness: spawns amolink (and later the simulator) on random ports over a
//! fresh database, and drives it over real HTTP like a browser or a tenant's backend would.
//!
//! Every storage scenario runs twice, on SQLite and on PostgreSQL (see [`both_engines!`]).
//! PostgreSQL is expected on `127.0.0.1:5432` (override with `AMOLINK_TEST_POSTGRES_URL`); it is
//! never skipped: a missing server fails the suite.

#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::missing_errors_doc
)]

mod app;
mod clock;
mod customer;
mod logs;
mod seed;

pub use app::{
    Browser, Engine, Form, TestApp, csrf_token_in, fresh_database, spawn_app, spawn_app_with,
};
pub use clock::ManualClock;
pub use customer::{ButtonTag, attribute, html_unescape};
pub use logs::captured_logs;
pub use seed::{SEED_PUBLIC_URL, seed_connections};

/// Declares a scenario `async fn(Engine)` as two tests, `sqlite` and `postgres`.
#[macro_export]
macro_rules! both_engines {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::Engine::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::Engine::Postgres).await;
                }
            }
        )+
    };
}
