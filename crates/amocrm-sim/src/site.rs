//! Resolving the simulated host a request is for, whichever way it arrived: by `Host` header
//! (server-to-server calls, e.g. `Host: acme.amocrm.ru`) or by path prefix
//! (`{browser_prefix}/{host}/...`, because a browser cannot choose the `Host` header).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use crate::faults::{self, Proceed, Route};
use crate::hosts::{SimHost, request_host};
use crate::journal::note_route;
use crate::problem;
use crate::sim::Sim;

/// Name of the path segment carrying the host under the browser prefix.
pub const HOST_SEGMENT: &str = "sim_host";

/// The simulated site a request addresses.
pub struct Site {
    pub sim: Sim,
    pub host: SimHost,
    /// Path prefix for links back to this host: `""` under Host routing,
    /// `{browser_prefix}/{host}` under path routing.
    pub base: String,
    pub req: HttpRequest,
}

impl FromRequest for Site {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::resolve(req).map_err(|response| {
            InternalError::from_response("not a simulated host", response).into()
        }))
    }
}

impl Site {
    fn resolve(req: &HttpRequest) -> Result<Self, HttpResponse> {
        let sim = req
            .app_data::<web::Data<Sim>>()
            .map(|data| data.get_ref().clone())
            .ok_or_else(|| problem::not_found("Simulator not mounted"))?;
        let (host_name, base) = match req.match_info().get(HOST_SEGMENT) {
            Some(host) => {
                let host = host.to_ascii_lowercase();
                let base = format!("{}/{host}", sim.browser_prefix());
                (host, base)
            }
            None => (request_host(req.head()).unwrap_or_default(), String::new()),
        };
        let host = SimHost::parse(&host_name).ok_or_else(|| problem::not_found("Unknown host"))?;
        Ok(Self {
            sim,
            host,
            base,
            req: req.clone(),
        })
    }

    /// Marks the route for the journal and applies its fault, if one fires.
    pub async fn enter(&self, route: Route) -> Result<Proceed, HttpResponse> {
        note_route(&self.req, route.as_str());
        let fault = self.sim.with_state(|s| s.faults.trigger(route));
        faults::apply(fault).await
    }

    /// The id of the account this account host serves; 404 for unknown subdomains (including a
    /// subdomain the account has since renamed away from) and for non-account hosts.
    pub fn account_id(&self) -> Result<i64, HttpResponse> {
        let SimHost::Account {
            platform,
            subdomain,
        } = &self.host
        else {
            return Err(problem::not_found("Not an account host"));
        };
        self.sim
            .with_state(|s| s.account_by_host(*platform, subdomain).map(|a| a.id))
            .ok_or_else(|| problem::not_found("Account not found"))
    }

    /// The platform of a `www.` host; 404 on any other host.
    pub fn require_consent_host(&self) -> Result<crate::hosts::Platform, HttpResponse> {
        match self.host {
            SimHost::Consent(platform) => Ok(platform),
            _ => Err(problem::not_found("Not found on this host")),
        }
    }
}

/// Lets handlers use `?`-style early returns with responses on both sides.
pub fn respond(result: Result<HttpResponse, HttpResponse>) -> HttpResponse {
    result.unwrap_or_else(|response| response)
}
