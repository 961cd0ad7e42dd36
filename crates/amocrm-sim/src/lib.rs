//! # amocrm-sim
//!
//! An in-memory stand-in for amoCRM's and Kommo's side of the external-integration OAuth flow
//! (the "site button"): the button script, the consent popup, the secrets webhook, the redirect
//! with a code, the token endpoint with refresh rotation, a slice of the account API with demo
//! leads and contacts, account webhooks and their deliveries, rate limits, uninstall and
//! subdomain changes — each shaped after amoCRM's documented behaviour (the protocol digest in
//! `docs/amocrm-protocol.md`).
//!
//! It is an *independent witness*: it shares no code with the client it tests, and its journal
//! records what the client actually did (which refresh token it presented, whether that was the
//! latest, where secrets went), so tests can assert on behaviour a client cannot report about
//! itself. Its per-integration tallies ([`Sim::violations`]) let a harness check global
//! invariants after every test: API bursts, token calls too close together, rotated refresh
//! tokens presented, expired access tokens used.
//!
//! ## Routing
//! - **By `Host`** (server-to-server): `www.amocrm.ru` / `www.kommo.com` serve the button and the
//!   consent page; `{sub}.amocrm.ru` / `{sub}.kommo.com` (and legacy `{sub}.amocrm.com`) serve one
//!   account's token endpoint and API; `api-b.amocrm.ru` / `api-c.kommo.com` serve the domain
//!   lookup. Mounted into another app with [`configure`], these routes only match sim hosts.
//! - **By path** (browsers cannot set `Host`): `{browser_prefix}/{host}/...`, e.g.
//!   `/_sim/site/www.amocrm.ru/auth/button.min.js` — the same handlers, host taken from the path.
//! - **Admin API**: `/_sim/admin/...` (JSON), mirroring [`Sim`]'s methods.
//!
//! ## Use
//! - In tests: [`spawn`] a server on `127.0.0.1:0`, drive it over HTTP, inspect it with
//!   [`SimHandle::sim`].
//! - Inside another actix app: `App::new().configure(amocrm_sim::configure(sim.clone()))`.
//! - Standalone: [`run`].

// Handlers return `Result<HttpResponse, HttpResponse>`: the error *is* the answer to send, made
// once per request, so boxing it would only add noise.
#![expect(
    clippy::result_large_err,
    reason = "actix answers are large error values by design; boxing them buys nothing here"
)]

mod admin;
mod admin_crm;
mod api;
mod button;
mod changes;
mod clock;
mod config;
mod consent;
mod crm;
mod entities;
mod faults;
mod grants;
mod hooks;
mod hosts;
mod html;
mod journal;
mod limits;
mod oauth;
mod observe;
mod outbound;
mod problem;
mod sim;
mod sim_crm;
mod site;
mod store;
mod tokens;
mod witness;

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::guard::{self, GuardContext};
use actix_web::{App, HttpServer, Scope, web};

pub use admin::ADMIN_PREFIX;
pub use config::{
    AccountSeed, ConfigPatch, DEMO_USER_ID, DEMO_USER_NAME, IntegrationTokens, RefreshGrace,
    SecretsFormat, SimConfig, StatedExpiresIn,
};
pub use crm::EntityKind;
pub use faults::{Fault, FaultKind, Route};
pub use hooks::{Attempt, Delivery, DeliveryState, HookKnob, HookKnobKind, WebhookView};
pub use hosts::{Platform, SimHost};
pub use journal::{Event, JournalEntry};
pub use outbound::disconnect_signature;
pub use sim::{NewIntegration, SeededInstall, Sim, SimError};
pub use store::{AccountView, Integration, IntegrationKind, Stats};
pub use witness::{InvariantLimits, TokenCall, Violation, WitnessTotals};

use entities::Collection;
use journal::RecordRequests;

/// Mounts every simulator route (admin API, browser-prefix routes, Host-guarded routes) into an
/// existing actix app. Register it before the app's own catch-all routes:
/// `App::new().configure(amocrm_sim::configure(sim.clone()))`.
pub fn configure(sim: Sim) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let data = web::Data::new(sim.clone());
        let prefix = format!(
            "{}/{{{}}}",
            sim.browser_prefix().trim_end_matches('/'),
            site::HOST_SEGMENT
        );
        cfg.service(admin::scope().app_data(data.clone()))
            .service(site_scope(prefix, sim.clone(), data.clone()))
            .service(site_scope(String::new(), sim, data).guard(guard::fn_guard(addressed_to_sim)));
    }
}

/// True when the request's `Host` is one the simulator serves.
fn addressed_to_sim(ctx: &GuardContext<'_>) -> bool {
    hosts::request_host(ctx.head())
        .and_then(|host| SimHost::parse(&host))
        .is_some()
}

/// The simulated sites' routes under `path`, journaled.
fn site_scope(
    path: String,
    sim: Sim,
    data: web::Data<Sim>,
) -> Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope(&path)
        .app_data(data)
        .route("/auth/button.min.js", web::get().to(button::script))
        .route("/auth/button.js", web::get().to(button::script))
        .route("/oauth", web::get().to(consent::consent_page))
        .route("/oauth/", web::get().to(consent::consent_page))
        .route("/oauth/decision", web::post().to(consent::decision))
        .route("/oauth/complete.js", web::get().to(consent::complete_js))
        .route("/oauth2/access_token", web::post().to(oauth::access_token))
        .route(
            "/oauth2/account/current/subdomain",
            web::get().to(api::current_subdomain),
        )
        .route("/api/v4/account", web::get().to(api::account))
        .route(
            "/api/v4/leads/pipelines",
            web::get().to(entities::pipelines),
        )
        .configure(|cfg| collection_routes(cfg, Collection::Leads))
        .configure(|cfg| collection_routes(cfg, Collection::Contacts))
        .route("/api/v4/users", web::get().to(api::users))
        .route("/api/v4/webhooks", web::get().to(hooks::api::list))
        .route("/api/v4/webhooks", web::post().to(hooks::api::subscribe))
        .route(
            "/api/v4/webhooks",
            web::delete().to(hooks::api::unsubscribe),
        )
        .default_service(web::to(not_found))
        .wrap(RecordRequests { sim })
}

/// `GET`/`POST`/`PATCH /api/v4/{name}` and `GET`/`PATCH /api/v4/{name}/{id}`.
fn collection_routes(cfg: &mut web::ServiceConfig, collection: Collection) {
    let name = match collection {
        Collection::Leads => "leads",
        Collection::Contacts => "contacts",
    };
    cfg.route(
        &format!("/api/v4/{name}"),
        web::get().to(move |site| entities::list(site, collection)),
    )
    .route(
        &format!("/api/v4/{name}"),
        web::post().to(move |site, body| entities::create(site, collection, body)),
    )
    .route(
        &format!("/api/v4/{name}"),
        web::patch().to(move |site, body| entities::update_many(site, collection, body)),
    )
    .route(
        &format!("/api/v4/{name}/{{id}}"),
        web::get().to(move |site| entities::get_one(site, collection)),
    )
    .route(
        &format!("/api/v4/{name}/{{id}}"),
        web::patch().to(move |site, body| entities::update_one(site, collection, body)),
    );
}

async fn not_found() -> actix_web::HttpResponse {
    problem::not_found("Not found")
}

/// The routes of a simulator that owns the whole server: [`configure`] plus a journaled 404 for
/// every other host, so a test can see requests sent to hosts that are not amoCRM's.
fn standalone(sim: Sim) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        configure(sim.clone())(cfg);
        cfg.service(
            web::scope("")
                .default_service(web::to(not_found))
                .wrap(RecordRequests { sim }),
        );
    }
}

/// A running simulator server (see [`spawn`]).
pub struct SimHandle {
    sim: Sim,
    addr: SocketAddr,
    server: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulator behind the server, for in-process inspection.
    pub fn sim(&self) -> Sim {
        self.sim.clone()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.task.await;
    }
}

/// Starts a simulator on `127.0.0.1:<random port>` on the current tokio runtime.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let sim = Sim::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let app_sim = sim.clone();
    let server = HttpServer::new(move || App::new().configure(standalone(app_sim.clone())))
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(SimHandle {
        sim,
        addr,
        server: handle,
        task,
    })
}

/// Runs a standalone simulator on `bind` until the process is interrupted
/// (what `amolink sim --bind ADDR` runs).
pub async fn run(bind: &str, config: SimConfig) -> std::io::Result<()> {
    let sim = Sim::new(config);
    tracing::info!(%bind, "amocrm-sim listening");
    HttpServer::new(move || App::new().configure(standalone(sim.clone())))
        .bind(bind)?
        .run()
        .await
}
