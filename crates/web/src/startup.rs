//! Building and running the server; tests call the same code as `main`.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_session::{SessionMiddleware, config::BrowserSession};
use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer, ResponseError as _,
    cookie::{Key, SameSite},
    dev::Server,
    middleware::from_fn,
    web,
};
use amocrm::{AmoClient, ClientSettings};
use anyhow::Context as _;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use domain::{
    access::{Access, AccessDeps},
    accounts::{
        Accounts, HashingPolicy, LoginThrottle, PasswordHasher, Passwords, PasswordsDeps,
        SignInPolicy, SignInThrottle, ThrottlePolicy,
    },
    activity::{Activity, ActivityRecorder, RecorderSettings},
    audit::Audit,
    buttons::Buttons,
    clock::{Clock, SystemClock},
    connect::{ConnectDeps, ConnectService, ConnectUrls, FlowSettings},
    connections::{CachedConnections, ConnectionCache, Connections},
    crypto::Keyring,
    governor::{Governor, GovernorPolicy},
    keeper::{Keeper, KeeperDeps, RefreshPolicy},
    mail::{MailOutbox, Mailer},
    ports::ConnectionRepository,
    relay::Subscriber,
    teams::{Teams, TeamsDeps},
};
use persistence::Database;
use secrecy::ExposeSecret as _;
use tracing_actix_web::TracingLogger;

use crate::{
    error::{ApiError, AppError, PageError},
    metrics::{self, Metrics},
    routes, security_headers,
    session::{DatabaseSessionStore, Timeouts},
    settings::Settings,
    shutdown::{Draining, StopSignal},
    slow_clients::{self, SlowClientPolicy, SlowClients},
    state::{AppState, ButtonScripts},
    telemetry::AccessLog,
};

/// Knobs that tests turn; production uses the defaults.
#[derive(Clone)]
pub struct Overrides {
    pub clock: Arc<dyn Clock>,
    pub session_timeouts: Timeouts,
    pub throttle: ThrottlePolicy,
    /// Back-off of sign-in attempts per account, address and known device.
    pub sign_in: SignInPolicy,
    /// Limits on password-reset requests (per address and per client).
    pub reset_throttle: ThrottlePolicy,
    pub flows: FlowSettings,
    /// The simulator to mount in demo mode (tests pass their own to inspect it).
    pub simulator: Option<amocrm_sim::Sim>,
    /// Body deadlines and the public endpoints' concurrency bound.
    pub slow_clients: SlowClientPolicy,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            session_timeouts: Timeouts::default(),
            throttle: ThrottlePolicy::default(),
            sign_in: SignInPolicy::default(),
            reset_throttle: RESET_THROTTLE,
            flows: FlowSettings::default(),
            simulator: None,
            slow_clients: SlowClientPolicy::default(),
        }
    }
}

/// Password-reset requests: five per address and twenty per client address an hour. Enough for
/// a person who mistypes; too few to flood an inbox or probe many addresses.
pub const RESET_THROTTLE: ThrottlePolicy = ThrottlePolicy {
    per_account: 5,
    per_client: 20,
    window: Duration::from_secs(3600),
};

/// A bound, not yet running amolink server.
pub struct Application {
    port: u16,
    server: Server,
    keeper: Arc<Keeper>,
    /// Pause between keeper rounds, or `None` when the keeper is off in this instance.
    keeper_interval: Option<Duration>,
    maintenance: Maintenance,
    housekeeping: crate::maintenance::Housekeeping,
    /// The amoCRM events subscriber (tests drive it with `try_run_due`).
    subscriber: Subscriber,
    /// Set on SIGTERM: `/readyz` answers 503 and responses close their connections.
    draining: Draining,
    /// How long to drain before stopping the HTTP server.
    drain: Duration,
}

/// The housekeeping loop, started with the server.
type Maintenance = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Application {
    /// Connects to the database, applies migrations and binds the listener.
    ///
    /// # Errors
    /// When the database is unreachable, a migration fails, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Overrides::default()).await
    }

    /// [`Application::build`] with test overrides.
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(settings: Settings, overrides: Overrides) -> anyhow::Result<Self> {
        let database = Database::connect(settings.database_url.expose_secret()).await?;
        database.migrate().await?;
        Self::build_on(settings, database, overrides)
    }

    /// Binds the server over an already connected and migrated database (tests share the
    /// handle to inspect or break storage).
    ///
    /// # Errors
    /// When the address cannot be bound or a setting is unusable.
    pub fn build_on(
        settings: Settings,
        database: Database,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        // The data directory holds the development keys and, by default, the database.
        if settings.data_dir.is_dir() {
            persistence::owner_only(&settings.data_dir, 0o700)?;
        }
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let keeper_interval = settings.keeper.then_some(settings.keeper_interval);
        let drain = settings.shutdown_drain;
        let draining = Draining::default();
        let (server, keeper, housekeeping, subscriber) =
            serve(listener, settings, database, overrides, draining.clone())?;
        Ok(Self {
            port,
            server,
            keeper,
            keeper_interval,
            maintenance: Box::pin(housekeeping.clone().run()),
            housekeeping,
            subscriber,
            draining,
            drain,
        })
    }

    /// This instance's housekeeping (tests drive it with `run_once`).
    #[must_use]
    pub fn housekeeping(&self) -> crate::maintenance::Housekeeping {
        self.housekeeping.clone()
    }

    /// This instance's amoCRM events subscriber (tests drive it with `try_run_due`).
    #[must_use]
    pub fn subscriber(&self) -> Subscriber {
        self.subscriber.clone()
    }

    /// This instance's token keeper (tests drive it with `run_once`).
    #[must_use]
    pub fn keeper(&self) -> Arc<Keeper> {
        self.keeper.clone()
    }

    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (tests restart an instance on the same port).
    #[must_use]
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop: by SIGTERM (drain, then stop gracefully; see
    /// [`crate::shutdown`]), by SIGINT (stop gracefully), or through [`Self::server_handle`].
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let keeper = self
            .keeper_interval
            .map(|interval| tokio::spawn(self.keeper.clone().run(interval)));
        let maintenance = tokio::spawn(self.maintenance);
        let handle = self.server.handle();
        let mut server = self.server;
        let result = tokio::select! {
            result = &mut server => result,
            signal = crate::shutdown::stop_signal() => {
                if signal == StopSignal::Terminate && !self.drain.is_zero() {
                    tracing::info!(drain_ms = self.drain.as_millis(), "SIGTERM: draining before stopping");
                    self.draining.start();
                    tokio::time::sleep(self.drain).await;
                }
                tracing::info!("stopping: finishing the requests in flight");
                if let Some(keeper) = &keeper {
                    keeper.abort();
                }
                // The server future does the stopping: poll both.
                let ((), result) = tokio::join!(handle.stop(true), server);
                result
            }
        };
        if let Some(keeper) = keeper {
            keeper.abort();
        }
        maintenance.abort();
        // What the last requests recorded is written before the process ends.
        self.housekeeping
            .activity_recorder()
            .shut_down(Duration::from_secs(5))
            .await;
        result
    }
}

fn serve(
    listener: TcpListener,
    settings: Settings,
    database: Database,
    overrides: Overrides,
    draining: Draining,
) -> anyhow::Result<(
    Server,
    Arc<Keeper>,
    crate::maintenance::Housekeeping,
    Subscriber,
)> {
    let session_key = session_key(&settings)?;
    let keyring = Arc::new(Keyring::parse(&settings.master_keys).context("AMOLINK_MASTER_KEYS")?);
    let allowed_domains = settings.account_domains.clone();
    let public = settings.public_base().to_owned();
    let AmoCrmSide {
        amocrm,
        simulator,
        button_scripts,
    } = AmoCrmSide::new(&settings, &overrides, &listener)?;
    let production = settings.is_production();
    let hsts = settings.public_url.scheme() == "https";
    let database = Arc::new(database);
    let clock = overrides.clock.clone();
    let hasher = PasswordHasher::new(
        HashingPolicy::default(),
        std::thread::available_parallelism().map_or(2, usize::from),
    );
    let default_logo = url::Url::parse(&format!("{public}/static/logo.png"))?;
    let audit = Audit::new(database.clone(), clock.clone());
    let recorder = activity_recorder(&settings, &database);
    let activity = Activity::new(
        database.clone(),
        database.clone(),
        clock.clone(),
        recorder.clone(),
    );
    let login_throttle = Arc::new(LoginThrottle::new(overrides.throttle));
    let sign_ins = SignInThrottle::new(database.clone(), clock.clone(), overrides.sign_in);
    let accounts = Accounts::new(
        database.clone(),
        hasher.clone(),
        sign_ins,
        clock.clone(),
        default_logo.clone(),
        audit.clone(),
    );
    let outbox: Arc<dyn MailOutbox> = database.clone();
    let mailer: Arc<dyn Mailer> = Arc::new(crate::mail::WebMailer::from_settings(
        &settings,
        outbox.clone(),
        clock.clone(),
    )?);
    let refresh_policy = RefreshPolicy {
        margin: settings.refresh_margin,
        lease: settings.keeper_lease,
        ..RefreshPolicy::default()
    };
    let redirect_uri = format!("{public}/amocrm/callback");
    // One governor per instance, over the ledger every instance shares: every amoCRM API call
    // amolink makes (connect, keeper, proxy) waits for its slot here.
    let instance = instance_name();
    let governor = Arc::new(Governor::new(
        database.clone(),
        GovernorPolicy::default(),
        &instance,
    ));
    // Every writer of connections on this instance but the keeper goes through the cached
    // repository, which forgets what it changed; the keeper forgets what it refreshed.
    let connection_cache = Arc::new(ConnectionCache::default());
    let cached_connections: Arc<dyn ConnectionRepository> = Arc::new(CachedConnections::new(
        database.clone(),
        connection_cache.clone(),
    ));
    let keeper = Keeper::new(KeeperDeps {
        store: database.clone(),
        connections: database.clone(),
        cache: connection_cache.clone(),
        keyring: keyring.clone(),
        amocrm: amocrm.clone(),
        governor: governor.clone(),
        allowed_domains: allowed_domains.clone(),
        redirect_uri: redirect_uri.clone(),
        policy: refresh_policy,
        clock: clock.clone(),
        owner: instance,
        batch: 100,
        concurrency: 16,
        activity: recorder.clone(),
    });
    // Token vending and the proxy; the database holds the governor's ledger shared by every
    // instance.
    let access = Access::new(AccessDeps {
        keeper: keeper.clone(),
        connections: database.clone(),
        cache: connection_cache,
        health: database.clone(),
        governor: governor.clone(),
        amocrm: amocrm.clone(),
        allowed_domains: allowed_domains.clone(),
        refresh_margin: settings.refresh_margin,
        clock: clock.clone(),
    });
    let connect = ConnectService::new(ConnectDeps {
        buttons: database.clone(),
        flows: database.clone(),
        connections: cached_connections.clone(),
        keyring: keyring.clone(),
        amocrm: amocrm.clone(),
        governor: governor.clone(),
        allowed_domains: allowed_domains.clone(),
        urls: ConnectUrls {
            redirect_uri,
            secrets_uri: format!("{public}/amocrm/secrets"),
            default_logo,
        },
        settings: overrides.flows,
        refresh: refresh_policy,
        clock: clock.clone(),
    });
    let api = crate::api::ApiState::new(
        &database,
        &keyring,
        connect.clone(),
        clock.clone(),
        audit.clone(),
    );
    let webhooks = crate::webhooks::start(
        &settings,
        database.clone(),
        keyring.clone(),
        clock.clone(),
        audit.clone(),
        recorder.clone(),
    )?;
    let relay = crate::relay::start(
        &settings,
        database.clone(),
        clock.clone(),
        crate::relay::AmoCrmParts {
            keeper: keeper.clone(),
            governor: governor.clone(),
            amocrm: amocrm.clone(),
            allowed_domains: allowed_domains.clone(),
        },
    );
    let subscriber = relay.subscriber.clone();
    let connections = Connections::new(
        cached_connections,
        keyring.clone(),
        clock.clone(),
        audit.clone(),
    )
    .with_before_erase(Arc::new(relay.subscriber.clone()));
    let teams = Teams::new(TeamsDeps {
        store: database.clone(),
        deletion: database.clone(),
        accounts: accounts.clone(),
        connections: connections.clone(),
        api_keys: api.keys.clone(),
        hasher: hasher.clone(),
        mailer: mailer.clone(),
        audit: audit.clone(),
        clock: clock.clone(),
        invite_page: url::Url::parse(&format!("{public}/invite"))?,
    });
    let passwords = Passwords::new(PasswordsDeps {
        accounts: database.clone(),
        resets: database.clone(),
        sessions: database.clone(),
        teams: database.clone(),
        hasher,
        login_throttle,
        reset_throttle: Arc::new(LoginThrottle::new(overrides.reset_throttle)),
        mailer,
        audit: audit.clone(),
        clock: clock.clone(),
        reset_page: url::Url::parse(&format!("{public}/password/reset"))?,
    });
    let buttons = Buttons::new(connect.clone(), audit.clone());
    let metrics = web::Data::new(Metrics::default());
    let state = web::Data::new(AppState {
        settings: Arc::new(settings),
        accounts,
        connect,
        connections,
        api,
        keeper: keeper.clone(),
        access,
        webhooks,
        relay,
        health: database.clone(),
        clock: clock.clone(),
        metrics: metrics.clone().into_inner(),
        session_timeouts: overrides.session_timeouts,
        button_scripts,
        teams,
        passwords,
        audit,
        activity,
        buttons,
        outbox,
        keyring,
    });
    let housekeeping =
        crate::maintenance::Housekeeping::new(state.get_ref().clone(), database.clone());
    let server = http_server(
        listener,
        HttpParts {
            sessions: DatabaseSessionStore::new(database, clock),
            session_key,
            timeouts: overrides.session_timeouts,
            slow_clients: SlowClients::new(overrides.slow_clients),
            production,
            hsts,
            simulator,
            state,
            metrics,
            draining,
        },
    )?;
    Ok((server, keeper, housekeeping, subscriber))
}

/// The session cookie's signing key, from `AMOLINK_SESSION_KEY`.
fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    let bytes = STANDARD
        .decode(settings.session_key.expose_secret().trim())
        .context("AMOLINK_SESSION_KEY is not valid base64")?;
    Key::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("AMOLINK_SESSION_KEY must hold at least 64 bytes"))
}

/// Who plays amoCRM: the real one (or the base URL a setting names), or in demo mode the
/// simulator mounted in this very server.
struct AmoCrmSide {
    amocrm: AmoClient,
    simulator: Option<amocrm_sim::Sim>,
    button_scripts: ButtonScripts,
}

impl AmoCrmSide {
    fn new(
        settings: &Settings,
        overrides: &Overrides,
        listener: &TcpListener,
    ) -> anyhow::Result<Self> {
        let own_origin = url::Url::parse(&format!("http://{}", listener.local_addr()?))?;
        let simulator = settings.demo.then(|| {
            overrides
                .simulator
                .clone()
                .unwrap_or_else(|| amocrm_sim::Sim::new(amocrm_sim::SimConfig::default()))
        });
        let amocrm_base = settings
            .amocrm_base_url
            .clone()
            .or_else(|| simulator.as_ref().map(|_| own_origin.clone()));
        let amocrm = AmoClient::new(ClientSettings {
            base_url_override: amocrm_base,
            account_domains: settings.account_domains.clone(),
            ..ClientSettings::default()
        })
        .map_err(|e| anyhow::anyhow!("cannot build the amoCRM client: {e}"))?;
        let button_scripts = match &simulator {
            Some(sim) => ButtonScripts::Simulator(format!(
                "{}{}",
                settings.public_base(),
                sim.config().browser_prefix
            )),
            None => ButtonScripts::Official,
        };
        Ok(Self {
            amocrm,
            simulator,
            button_scripts,
        })
    }
}

/// Activity is written by one background task per instance, in batches, off the hot paths.
fn activity_recorder(settings: &Settings, database: &Arc<Database>) -> ActivityRecorder {
    if !settings.activity_recording {
        return ActivityRecorder::disabled();
    }
    let (recorder, worker) = ActivityRecorder::new(database.clone(), RecorderSettings::default());
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(worker.run());
            recorder
        }
        Err(_) => {
            tracing::warn!("no async runtime: connection activity is not recorded");
            ActivityRecorder::disabled()
        }
    }
}

/// What the HTTP server is made of, besides the routes.
struct HttpParts {
    sessions: DatabaseSessionStore,
    session_key: Key,
    timeouts: Timeouts,
    slow_clients: SlowClients,
    production: bool,
    hsts: bool,
    simulator: Option<amocrm_sim::Sim>,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    draining: Draining,
}

/// The HTTP server: middleware from the outside in — access log, metrics, security headers,
/// session, language, member chrome on error pages, slow-client guard — then the routes.
fn http_server(listener: TcpListener, parts: HttpParts) -> anyhow::Result<Server> {
    let HttpParts {
        sessions,
        session_key,
        timeouts,
        slow_clients,
        production,
        hsts,
        simulator,
        state,
        metrics,
        draining,
    } = parts;
    let draining = web::Data::new(draining);
    let absolute = timeouts.absolute;
    let devices = web::Data::new(crate::device::DeviceCookies::new(
        session_key.master(),
        production,
    ));
    // Anonymous forms' double-submit cookie: `Secure` (and `__Host-`) wherever the session
    // cookie is, or the site is served over https.
    let anonymous_csrf = web::Data::new(crate::csrf::AnonymousCsrf::new(
        session_key.master(),
        production || hsts,
    ));
    Ok(HttpServer::new(move || {
        let session = SessionMiddleware::builder(sessions.clone(), session_key.clone())
            .cookie_name(
                if production {
                    "__Host-sid"
                } else {
                    "amolink_sid"
                }
                .to_owned(),
            )
            .cookie_secure(production)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".to_owned())
            .session_lifecycle(BrowserSession::default().state_ttl(
                actix_web::cookie::time::Duration::seconds(
                    i64::try_from(absolute.as_secs()).unwrap_or(i64::MAX),
                ),
            ))
            .build();
        let simulator = simulator.clone();
        let slow_clients = slow_clients.clone();
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .app_data(devices.clone())
            .app_data(anonymous_csrf.clone())
            .app_data(draining.clone())
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .wrap(from_fn(move |req, next| {
                slow_clients::guard(slow_clients.clone(), req, next)
            }))
            // Inside the language middleware: the re-rendered page speaks the request's language.
            .wrap(from_fn(crate::error_chrome::with_member_chrome))
            .wrap(from_fn(crate::i18n::middleware))
            .wrap(from_fn(crate::csrf::set_cookie))
            .wrap(session)
            .wrap(from_fn(move |req, next| {
                security_headers::add(hsts, req, next)
            }))
            .wrap(from_fn(metrics::track))
            .wrap(from_fn(crate::shutdown::close_while_draining))
            .wrap(TracingLogger::<AccessLog>::new())
            .configure(routes::configure)
            // After amolink's own routes: the simulator's host-addressed scope has an empty
            // prefix, so placed first it would match every path when a response is made before
            // routing (a 429 from the slow-client guard) and the metrics would label the request
            // `unmatched` — actix stops looking at the first scope whose prefix matches. The two
            // never compete for a request: the simulator's paths (`/oauth…`, `/api/v4/…`,
            // `/_sim/…`) are none of amolink's, and its scope only takes amoCRM hosts.
            .configure(move |cfg| {
                if let Some(sim) = simulator {
                    amocrm_sim::configure(sim)(cfg);
                }
            })
            .default_service(web::to(not_found))
    })
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(10)
    // `run_until_stopped` handles SIGTERM and SIGINT itself: it drains first.
    .disable_signals()
    .listen(listener)?
    .run())
}

/// A name for this instance in leases and the refresh journal: host, process and a random
/// suffix, so restarts and siblings on one host never share an identity.
fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "amolink".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("{host}-{}-{}", std::process::id(), &suffix[..8]);
    name.chars().take(64).collect()
}

/// Unknown routes: problem+json under `/api/`, an HTML page elsewhere.
async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        ApiError(AppError::NotFound).error_response()
    } else {
        PageError(AppError::NotFound).error_response()
    }
}

/// What the start-up log tells a person: where to open the service and, in demo mode, that
/// amoCRM is the built-in simulator.
#[must_use]
pub fn banner(public_base: &str, demo: bool) -> Vec<String> {
    let mut lines = vec![format!(
        "open {public_base}/ in a browser (sign up at {public_base}/signup)"
    )];
    if demo {
        lines.push(format!(
            "demo mode is on: amoCRM is amolink's built-in simulator (no amoCRM account needed; \
             its demo account has leads and contacts); connect it from {public_base}/dashboard"
        ));
    }
    lines
}

#[cfg(test)]
mod banner_tests {
    use super::banner;

    #[test]
    fn says_where_to_open_the_service_and_that_demo_mode_is_on() {
        let lines = banner("http://127.0.0.1:8080", true);
        assert!(
            lines[0].contains("open http://127.0.0.1:8080/ in a browser"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("demo mode is on"), "{lines:?}");
        assert_eq!(banner("https://amolink.example", false).len(), 1);
    }
}
