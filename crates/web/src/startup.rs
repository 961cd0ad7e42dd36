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
use amocrm::{AmoClient, ClientSettings, DomainAllowList};
use anyhow::Context as _;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use domain::{
    accounts::{Accounts, HashingPolicy, LoginThrottle, PasswordHasher, ThrottlePolicy},
    clock::{Clock, SystemClock},
    connect::{ConnectDeps, ConnectService, ConnectUrls, FlowSettings},
    connections::Connections,
    crypto::Keyring,
    keeper::{Keeper, KeeperDeps, RefreshPolicy},
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
    state::{AppState, ButtonScripts},
    telemetry::AccessLog,
};

/// Knobs that tests turn; production uses the defaults.
#[derive(Clone)]
pub struct Overrides {
    pub clock: Arc<dyn Clock>,
    pub session_timeouts: Timeouts,
    pub throttle: ThrottlePolicy,
    pub flows: FlowSettings,
    /// The simulator to mount in demo mode (tests pass their own to inspect it).
    pub simulator: Option<amocrm_sim::Sim>,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            session_timeouts: Timeouts::default(),
            throttle: ThrottlePolicy::default(),
            flows: FlowSettings::default(),
            simulator: None,
        }
    }
}

/// A bound, not yet running amolink server.
pub struct Application {
    port: u16,
    server: Server,
    keeper: Arc<Keeper>,
    /// Pause between keeper rounds, or `None` when the keeper is off in this instance.
    keeper_interval: Option<Duration>,
    maintenance: Maintenance,
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
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let keeper_interval = settings
            .keeper
            .then(|| Duration::from_millis(settings.keeper_interval_ms));
        let (server, keeper, maintenance) = serve(listener, settings, database, overrides)?;
        Ok(Self {
            port,
            server,
            keeper,
            keeper_interval,
            maintenance,
        })
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

    /// Serves until the process is told to stop.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let keeper = self
            .keeper_interval
            .map(|interval| tokio::spawn(self.keeper.clone().run(interval)));
        let maintenance = tokio::spawn(self.maintenance);
        let result = self.server.await;
        if let Some(keeper) = keeper {
            keeper.abort();
        }
        maintenance.abort();
        result
    }
}

fn serve(
    listener: TcpListener,
    settings: Settings,
    database: Database,
    overrides: Overrides,
) -> anyhow::Result<(Server, Arc<Keeper>, Maintenance)> {
    let session_key = STANDARD
        .decode(settings.session_key.expose_secret().trim())
        .context("AMOLINK_SESSION_KEY is not valid base64")?;
    let session_key = Key::try_from(session_key.as_slice())
        .map_err(|_| anyhow::anyhow!("AMOLINK_SESSION_KEY must hold at least 64 bytes"))?;
    let keyring = Arc::new(Keyring::parse(&settings.master_keys).context("AMOLINK_MASTER_KEYS")?);
    let allowed_domains: DomainAllowList = settings
        .account_domains
        .parse()
        .map_err(|e| anyhow::anyhow!("AMOLINK_ACCOUNT_DOMAINS: {e}"))?;
    let own_origin = url::Url::parse(&format!("http://{}", listener.local_addr()?))?;
    let simulator = settings.demo.then(|| {
        overrides
            .simulator
            .clone()
            .unwrap_or_else(|| amocrm_sim::Sim::new(amocrm_sim::SimConfig::default()))
    });
    // In demo mode amoCRM is the simulator mounted in this very server.
    let amocrm_base = settings
        .amocrm_base_url
        .clone()
        .or_else(|| simulator.as_ref().map(|_| own_origin.clone()));
    let amocrm = AmoClient::new(ClientSettings {
        base_url_override: amocrm_base,
        account_domains: allowed_domains.clone(),
        ..ClientSettings::default()
    })
    .map_err(|e| anyhow::anyhow!("cannot build the amoCRM client: {e}"))?;
    let public = settings.public_base().to_owned();
    let button_scripts = match &simulator {
        Some(sim) => ButtonScripts::Simulator(format!("{public}{}", sim.config().browser_prefix)),
        None => ButtonScripts::Official,
    };
    let production = settings.is_production();
    let hsts = settings.public_url.scheme() == "https";
    let database = Arc::new(database);
    let clock = overrides.clock.clone();
    let hasher = PasswordHasher::new(
        HashingPolicy::default(),
        std::thread::available_parallelism().map_or(2, usize::from),
    );
    let default_logo = url::Url::parse(&format!("{public}/static/logo.png"))?;
    let accounts = Accounts::new(
        database.clone(),
        hasher,
        Arc::new(LoginThrottle::new(overrides.throttle)),
        clock.clone(),
        default_logo.clone(),
    );
    let refresh_policy = RefreshPolicy {
        margin: Duration::from_secs(settings.refresh_margin_secs),
        lease: Duration::from_secs(settings.keeper_lease_secs),
        ..RefreshPolicy::default()
    };
    let redirect_uri = format!("{public}/amocrm/callback");
    let keeper = Keeper::new(KeeperDeps {
        store: database.clone(),
        connections: database.clone(),
        keyring: keyring.clone(),
        amocrm: amocrm.clone(),
        allowed_domains: allowed_domains.clone(),
        redirect_uri: redirect_uri.clone(),
        policy: refresh_policy,
        clock: clock.clone(),
        owner: instance_name(),
        batch: 100,
        concurrency: 16,
    });
    let access = crate::api::access_services(
        &database,
        keeper.clone(),
        amocrm.clone(),
        allowed_domains.clone(),
        Duration::from_secs(settings.refresh_margin_secs),
        clock.clone(),
    );
    let connect = ConnectService::new(ConnectDeps {
        buttons: database.clone(),
        flows: database.clone(),
        connections: database.clone(),
        keyring: keyring.clone(),
        amocrm,
        allowed_domains,
        urls: ConnectUrls {
            redirect_uri,
            secrets_uri: format!("{public}/amocrm/secrets"),
            default_logo,
        },
        settings: overrides.flows,
        refresh: refresh_policy,
        clock: clock.clone(),
    });
    let api = crate::api::ApiState::new(&database, &keyring, connect.clone(), clock.clone());
    let webhooks =
        crate::webhooks::start(&settings, database.clone(), keyring.clone(), clock.clone())?;
    let connections = Connections::new(database.clone(), keyring, clock.clone());
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
        health: database.clone(),
        clock: clock.clone(),
        metrics: metrics.clone().into_inner(),
        session_timeouts: overrides.session_timeouts,
        button_scripts,
    });
    let maintenance: Maintenance = Box::pin(crate::maintenance::run(
        state.get_ref().clone(),
        database.clone(),
    ));
    let sessions = DatabaseSessionStore::new(database, clock);
    let absolute = overrides.session_timeouts.absolute;

    let server = HttpServer::new(move || {
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
        App::new()
            .configure(move |cfg| {
                if let Some(sim) = simulator {
                    amocrm_sim::configure(sim)(cfg);
                }
            })
            .app_data(state.clone())
            .app_data(metrics.clone())
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .wrap(session)
            .wrap(from_fn(move |req, next| {
                security_headers::add(hsts, req, next)
            }))
            .wrap(from_fn(metrics::track))
            .wrap(TracingLogger::<AccessLog>::new())
            .configure(routes::configure)
            .default_service(web::to(not_found))
    })
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok((server, keeper, maintenance))
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
