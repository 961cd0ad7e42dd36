//! The end-to-end test harness: spawns amolink and its own amoCRM simulator on random ports over
//! a fresh database, and drives them over real HTTP like a browser or a tenant's backend would.
//! Each test's folder and PostgreSQL database are removed when its app is dropped ([`Scratch`]).
//!
//! Every storage scenario runs twice, on SQLite and on PostgreSQL (see [`both_engines!`]).
//! PostgreSQL is the server `AMOLINK_TEST_POSTGRES_URL` names (`./test.sh` starts a throwaway
//! cluster and sets it), else `127.0.0.1:5432`; it is never skipped: a missing server fails the
//! suite.

#![expect(
    clippy::unwrap_used,
    reason = "the harness fails the test loudly on what it did not expect"
)]

mod app;
mod clock;
mod customer;
mod html;
mod logs;
mod scratch;
mod seed;
mod smtp;

pub use app::{
    Browser, Engine, Form, TestApp, Tolerated, csrf_token_in, fresh_database, invariant_limits,
    spawn_app, spawn_app_with, untolerated_violations,
};
pub use clock::ManualClock;
pub use customer::ButtonTag;
pub use html::{Page, html_unescape};
pub use logs::captured_logs;
pub use scratch::{Scratch, postgres_admin_url};
pub use seed::{SEED_PUBLIC_URL, seed_connections, seed_connections_for};
pub use smtp::{ReceivedMail, SmtpSink, link_in};

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
