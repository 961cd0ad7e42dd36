use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use persistence::Database;
use sea_orm::ConnectionTrait as _;
use web::{
    Application,
    settings::{Settings, Sources},
    startup::Overrides,
};

use crate::{ManualClock, logs};

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
}

fn postgres_admin_url() -> String {
    std::env::var("AMOLINK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub async fn fresh_database(engine: Engine, dir: &std::path::Path) -> String {
    match engine {
        Engine::Sqlite => format!("sqlite://{}/amolink.db?mode=rwc", dir.display()),
        Engine::Postgres => {
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
            format!("{base}/{name}")
        }
    }
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
    let data_dir = fresh_dir();
    let database_url = fresh_database(engine, &data_dir).await;
    let master_keys = format!("t1:{}", STANDARD.encode(rand::random::<[u8; 32]>()));
    start_instance(
        engine,
        sim.sim(),
        sim.base_url(),
        database_url,
        data_dir,
        master_keys,
        extra,
        tune,
    )
    .await
}

fn fresh_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("amolink-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[allow(clippy::too_many_arguments)]
async fn start_instance(
    engine: Engine,
    sim: amocrm_sim::Sim,
    sim_url: String,
    database_url: String,
    data_dir: std::path::PathBuf,
    master_keys: String,
    extra: &[(&str, &str)],
    tune: impl FnOnce(&mut Overrides),
) -> TestApp {
    let session_key = STANDARD.encode([rand::random::<[u8; 32]>(), rand::random()].concat());
    let data_dir_text = data_dir.display().to_string();
    let port = free_port();
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
    ];
    pairs.extend_from_slice(extra);
    let settings = Settings::load(&Sources::from_pairs(pairs)).expect("test settings");

    let database = Database::connect(&database_url).await.expect("connect");
    database.migrate().await.expect("migrate");
    let clock = ManualClock::default();
    let mut overrides = Overrides {
        clock: Arc::new(clock.clone()),
        ..Overrides::default()
    };
    tune(&mut overrides);
    let app = Application::build_on(settings, database.clone(), overrides).expect("build app");
    let keeper = app.keeper();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        keeper,
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
    /// Another amolink instance over the same database and simulator, with its own master keys
    /// (several instances on one database; key rotation rollouts).
    pub async fn sibling(&self, master_keys: &str) -> TestApp {
        start_instance(
            self.engine,
            self.sim.clone(),
            self.sim_url.clone(),
            self.database_url.clone(),
            self.data_dir.clone(),
            master_keys.to_owned(),
            &[],
            |_| {},
        )
        .await
    }

    /// A new browser: its own cookie jar, redirects not followed (tests assert on them).
    #[must_use]
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
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
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
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
}
