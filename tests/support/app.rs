use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use persistence::Database;
use web::{
    Application,
    settings::{Settings, Sources},
    startup::Overrides,
};

use crate::{ManualClock, Scratch, logs};

/// The storage engine a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Form fields for a POST.
pub type Form<'a> = &'a [(&'a str, &'a str)];

/// A running amolink on a random port over its own fresh database, talking to its own
/// standalone simulator (every outgoing amoCRM request lands in the simulator's journal).
pub struct TestApp {
    pub sim: amocrm_sim::Sim,
    pub sim_url: String,
    pub address: String,
    pub port: u16,
    pub database: Database,
    pub engine: Engine,
    pub clock: ManualClock,
    /// The database URL (for tests that open a second handle or dump it).
    pub database_url: String,
    pub data_dir: std::path::PathBuf,
    /// `AMOLINK_MASTER_KEYS` of this app, so tests can open what it sealed.
    pub master_keys: String,
    /// The token keeper; its background loop is off in tests, which drive it with `run_once`.
    pub keeper: std::sync::Arc<domain::keeper::Keeper>,
    /// This instance's housekeeping; tests run a round with `run_once` instead of waiting.
    pub housekeeping: web::maintenance::Housekeeping,
    /// The amoCRM events subscriber; tests drive it with `try_run_due`.
    pub subscriber: domain::relay::Subscriber,
    /// Stops this instance's server ([`TestApp::restart`]).
    pub server: actix_web::dev::ServerHandle,
    /// The settings it was started with beyond the defaults, for a restart.
    pub extra: Vec<(String, String)>,
    /// The folder and database, removed when the last instance using them is dropped.
    scratch: Arc<Scratch>,
    /// What the simulator's witness may report for this test (see [`TestApp::tolerate`]).
    tolerated: Arc<std::sync::Mutex<Vec<Tolerated>>>,
}

/// A kind of simulator-witness violation a test provokes on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerated {
    /// The test loses a refresh response on purpose: the only refresh token amolink holds was
    /// rotated without its knowledge.
    RotatedRefreshToken,
    /// The test makes amoCRM's clock disagree with amolink's, so amoCRM considers a token expired
    /// that amolink cannot know is.
    ExpiredAccessToken,
    /// The test sends API calls itself, beside amolink (a misused vended token).
    ApiBurst,
}

/// The global invariants every test must keep at the simulator, whatever it tests: at most 7
/// API calls per integration in any second, token-endpoint calls no closer than the keeper's
/// interval unless amoCRM refused a token in between (less 200 ms for the trip of each call),
/// no rotated refresh token presented, no expired access token used.
pub fn invariant_limits() -> amocrm_sim::InvariantLimits {
    amocrm_sim::InvariantLimits {
        api_calls_per_second: 7,
        min_token_call_gap: domain::keeper::RefreshPolicy::default().min_interval
            - std::time::Duration::from_millis(200),
    }
}

/// The violations of [`invariant_limits`] the simulator saw, less the tolerated kinds.
#[must_use]
pub fn untolerated_violations(
    sim: &amocrm_sim::Sim,
    tolerated: &[Tolerated],
) -> Vec<amocrm_sim::Violation> {
    use amocrm_sim::Violation as V;
    sim.violations(&invariant_limits())
        .into_iter()
        .filter(|violation| {
            let kind = match violation {
                V::RotatedRefreshTokenPresented { .. } => Tolerated::RotatedRefreshToken,
                V::ExpiredAccessTokenUsed { .. } => Tolerated::ExpiredAccessToken,
                V::ApiBurst { .. } => Tolerated::ApiBurst,
                V::TokenCallsTooClose { .. } => return true,
            };
            !tolerated.contains(&kind)
        })
        .collect()
}

impl Drop for TestApp {
    /// Checks the global invariants after every test (a test that already failed reports its
    /// own failure instead).
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let tolerated = self.tolerated.lock().map(|t| t.clone()).unwrap_or_default();
        let violations = untolerated_violations(&self.sim, &tolerated);
        assert!(
            violations.is_empty(),
            "the simulator saw amolink break a global invariant: {violations:#?}"
        );
    }
}

/// A fresh database on `engine` whose folder and (PostgreSQL) database are removed when the
/// returned guard drops; its URL is [`Scratch::database_url`].
pub async fn fresh_database(engine: Engine, purpose: &str) -> Scratch {
    Scratch::new(engine, purpose).await
}

/// Spawns amolink with default test settings.
pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_app_with(engine, &[], |_| {}).await
}

/// Spawns amolink; `extra` adds settings and `tune` adjusts the overrides (clock, timeouts…).
pub async fn spawn_app_with(
    engine: Engine,
    extra: &[(&str, &str)],
    tune: impl FnOnce(&mut Overrides),
) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    logs::init();
    let sim = amocrm_sim::spawn(amocrm_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let scratch = Arc::new(Scratch::new(engine, "test").await);
    let master_keys = format!("t1:{}", STANDARD.encode(rand::random::<[u8; 32]>()));
    start_instance(
        Shared {
            engine,
            sim: sim.sim(),
            sim_url: sim.base_url(),
            scratch,
            master_keys,
        },
        extra,
        tune,
        None,
    )
    .await
}

/// What instances of one test share: the engine, the simulator, the database and folder, and
/// (unless a rollout test says otherwise) the master keys.
struct Shared {
    engine: Engine,
    sim: amocrm_sim::Sim,
    sim_url: String,
    scratch: Arc<Scratch>,
    master_keys: String,
}

async fn start_instance(
    Shared {
        engine,
        sim,
        sim_url,
        scratch,
        master_keys,
    }: Shared,
    extra: &[(&str, &str)],
    tune: impl FnOnce(&mut Overrides),
    port: Option<u16>,
) -> TestApp {
    let session_key = STANDARD.encode([rand::random::<[u8; 32]>(), rand::random()].concat());
    let database_url = scratch.database_url().to_owned();
    let data_dir = scratch.dir().to_path_buf();
    let data_dir_text = data_dir.display().to_string();
    let database = Database::connect(&database_url).await.expect("connect");
    database.migrate().await.expect("migrate");
    let clock = ManualClock::default();
    let mut overrides = Overrides {
        clock: Arc::new(clock.clone()),
        ..Overrides::default()
    };
    // Every test talks from 127.0.0.1: the per-address limits are lifted unless a test sets
    // them (tests/e2e/storage_bounds.rs does).
    let unlimited = web::api::RatePolicy {
        burst: 1_000_000,
        per_second: 1_000_000.0,
    };
    overrides.slow_clients.pages_per_address = unlimited;
    overrides.slow_clients.amocrm_per_address = unlimited;
    overrides.slow_clients.connect_per_button = unlimited;
    tune(&mut overrides);
    // The public URL must name the real port before binding (amoCRM — the simulator — posts to
    // URLs built from it), so a port is picked free and may be taken by another test before
    // the server binds it: then another one is picked.
    let mut attempts = 0;
    let (app, port, public_url) = loop {
        let port = port.unwrap_or_else(free_port);
        let bind = format!("127.0.0.1:{port}");
        let public_url = format!("http://127.0.0.1:{port}");
        let mut pairs: Vec<(&str, &str)> = vec![
            ("bind", &bind),
            ("public_url", &public_url),
            ("amocrm_base_url", &sim_url),
            ("database_url", &database_url),
            ("data_dir", &data_dir_text),
            ("master_keys", &master_keys),
            ("session_key", &session_key),
            ("demo", "false"),
            ("keeper", "false"),
            // Tests drain the webhook outbox themselves (`Deliverer::try_deliver_due`).
            ("webhook_worker", "false"),
            // …and the stored amoCRM event deliveries (`Processor::try_process_due`).
            ("events_worker", "false"),
        ];
        pairs.extend_from_slice(extra);
        let settings = Settings::load(&Sources::from_pairs(pairs)).expect("test settings");
        match Application::build_on(settings, database.clone(), overrides.clone()) {
            Ok(app) => break (app, port, public_url),
            Err(e) if attempts < 5 => {
                attempts += 1;
                tracing::warn!(error = %e, "a test instance could not bind; trying another port");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("build app: {e:#}"),
        }
    };
    let keeper = app.keeper();
    let housekeeping = app.housekeeping();
    let server = app.server_handle();
    let subscriber = app.subscriber();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        keeper,
        housekeeping,
        subscriber,
        server,
        extra: extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        tolerated: Arc::default(),
        sim,
        sim_url,
        address: public_url,
        port,
        database,
        engine,
        clock,
        database_url,
        data_dir,
        master_keys,
        scratch,
    }
}

/// A port that was free a moment ago: the public URL must name the real port before binding,
/// because amoCRM (the simulator) posts to URLs built from it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl TestApp {
    /// Lets this test provoke one kind of witness violation on purpose (the simulator's journal
    /// still records it); every other invariant is still checked when the app is dropped.
    pub fn tolerate(&self, kind: Tolerated) {
        if let Ok(mut tolerated) = self.tolerated.lock() {
            tolerated.push(kind);
        }
    }

    fn shared(&self, master_keys: &str) -> Shared {
        Shared {
            engine: self.engine,
            sim: self.sim.clone(),
            sim_url: self.sim_url.clone(),
            scratch: self.scratch.clone(),
            master_keys: master_keys.to_owned(),
        }
    }

    /// Another amolink instance over the same database and simulator, with its own master keys
    /// (several instances on one database; key rotation rollouts).
    pub async fn sibling(&self, master_keys: &str) -> TestApp {
        self.sibling_with(master_keys, &[], |_| {}).await
    }

    /// [`TestApp::sibling`] with extra settings and overrides, as for [`spawn_app_with`]. It
    /// has its own public URL unless `extra` names one: instances behind one load balancer share
    /// it (amoCRM checks the redirect URI built from it on every refresh).
    pub async fn sibling_with(
        &self,
        master_keys: &str,
        extra: &[(&str, &str)],
        tune: impl FnOnce(&mut Overrides),
    ) -> TestApp {
        start_instance(self.shared(master_keys), extra, tune, None).await
    }

    /// Stops this instance and starts a new one on the same port, database, keys, clock and
    /// simulator: what amoCRM (the simulator) and tenants see as a restart.
    pub async fn restart(self) -> TestApp {
        self.server.stop(true).await;
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let clock = self.clock.clone();
        let mut restarted = start_instance(
            self.shared(&self.master_keys),
            &extra,
            |overrides| overrides.clock = Arc::new(clock.clone()),
            Some(self.port),
        )
        .await;
        restarted.clock = clock;
        restarted
    }

    /// A new browser: its own cookie jar, redirects not followed (tests assert on them).
    #[must_use]
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                // Well under the server's keep-alive (5 s): a connection the server is closing
                // is never reused, which a browser would retry but reqwest reports as an error.
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .unwrap(),
            address: self.address.clone(),
        }
    }

    /// A fresh account signed in in a fresh browser.
    pub async fn signed_in_browser(&self, email: &str, workspace: &str) -> Browser {
        let browser = self.browser();
        let res = browser
            .sign_up(email, "correct horse battery", workspace)
            .await;
        assert_eq!(res.status(), 303, "sign-up failed for {email}");
        browser
    }
}

/// A client with a cookie jar, acting like one person's browser.
pub struct Browser {
    pub client: reqwest::Client,
    pub address: String,
}

/// The `csrf_token` hidden field of the first form in `html`.
#[must_use]
pub fn csrf_token_in(html: &str) -> Option<String> {
    crate::Page::parse(html).attr("form input[name=\"csrf_token\"]", "value")
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// The CSRF token of the form on `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        csrf_token_in(&self.get_html(path).await).expect("page has a CSRF token")
    }

    pub async fn post_form(&self, path: &str, form: Form<'_>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with the token taken from `token_page`.
    pub async fn submit(&self, token_page: &str, path: &str, form: Form<'_>) -> reqwest::Response {
        let token = self.csrf_token(token_page).await;
        let mut fields = form.to_vec();
        fields.push(("csrf_token", &token));
        self.post_form(path, &fields).await
    }

    pub async fn sign_up(&self, email: &str, password: &str, workspace: &str) -> reqwest::Response {
        self.submit(
            "/signup",
            "/signup",
            &[
                ("email", email),
                ("password", password),
                ("workspace", workspace),
            ],
        )
        .await
    }

    pub async fn log_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn log_out(&self) -> reqwest::Response {
        self.submit("/dashboard", "/logout", &[]).await
    }

    /// Revokes connection `id` with the button on its page.
    pub async fn revoke(&self, id: &str) -> reqwest::Response {
        self.submit(
            &format!("/connections/{id}"),
            &format!("/connections/{id}/revoke"),
            &[],
        )
        .await
    }
}
