//! # amocrm-sim
//!
//! An in-memory stand-in for amoCRM's and Kommo's side of the external-integration OAuth flow
//! (the "site button"): the button script, the consent popup, the secrets webhook, the redirect
//! with a code, the token endpoint with refresh rotation, a slice of the account API, rate limits,
//! uninstall and subdomain changes — each shaped after the protocol digest in
//! `shared/spec/amocrm.md`.
//!
//! It is an *independent witness*: it shares no code with the client it tests, and its journal
//! records what the client actually did (which refresh token it presented, whether that was the
//! latest, where secrets went), so tests can assert on behaviour a client cannot report about
//! itself.
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
#![allow(clippy::result_large_err)]

mod admin;
mod api;
mod button;
mod clock;
mod config;
mod consent;
mod faults;
mod grants;
mod hosts;
mod html;
mod journal;
mod limits;
mod oauth;
mod outbound;
mod problem;
mod sim;
mod site;
mod store;
mod tokens;

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::guard::{self, GuardContext};
use actix_web::{App, HttpServer, Scope, web};

pub use admin::ADMIN_PREFIX;
pub use config::{
    AccountSeed, ConfigPatch, DEMO_USER_ID, DEMO_USER_NAME, RefreshGrace, SecretsFormat, SimConfig,
};
pub use faults::{Fault, FaultKind, Route};
pub use hosts::{Platform, SimHost};
pub use journal::{Event, JournalEntry};
pub use outbound::disconnect_signature;
pub use sim::{NewIntegration, SeededInstall, Sim, SimError};
pub use store::{AccountView, Integration, IntegrationKind, Stats};

use api::Collection;
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
            "/api/v4/leads",
            web::get().to(|site| api::list(site, Collection::Leads)),
        )
        .route(
            "/api/v4/leads",
            web::post().to(|site, body| api::create(site, Collection::Leads, body)),
        )
        .route(
            "/api/v4/contacts",
            web::get().to(|site| api::list(site, Collection::Contacts)),
        )
        .route(
            "/api/v4/contacts",
            web::post().to(|site, body| api::create(site, Collection::Contacts, body)),
        )
        .route("/api/v4/users", web::get().to(api::users))
        .default_service(web::to(not_found))
        .wrap(RecordRequests { sim })
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
