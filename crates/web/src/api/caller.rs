//! `ApiCaller`: the authenticated API key behind a request, with the route's scope enforced.
//!
//! The scope a route requires is attached to its resource by [`super::configure`] from the
//! route table (the same entry the OpenAPI document is built from), so a handler cannot forget
//! it and the docs cannot promise a different one: every route, token vending and the proxy
//! included, names its scope in its table entry and nowhere else.

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use domain::api_keys::{ApiScope, Caller};
use futures_util::future::LocalBoxFuture;

use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

/// The scope the matched route requires (resource data).
#[derive(Debug, Clone, Copy)]
pub struct RequiredScope(pub ApiScope);

/// A caller whose key is live and carries the route's scope; its workspace is the only one its
/// handlers may touch.
#[derive(Debug, Clone)]
pub struct ApiCaller(pub Caller);

impl ApiCaller {
    /// The key as the audit trail and connection history name it, with the client's address.
    #[must_use]
    pub fn principal(&self, req: &HttpRequest, state: &AppState) -> domain::audit::Principal {
        domain::audit::Principal::api_key(
            &self.0,
            Some(crate::client_ip::client_ip(
                req,
                &state.settings.trusted_proxies,
            )),
        )
    }
}

impl std::ops::Deref for ApiCaller {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// The bearer value, if the header is `Bearer <value>` (scheme case-insensitive, RFC 6750).
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let required = req.app_data::<RequiredScope>().copied();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let Some(token) = token else {
                return Err(AppError::Unauthorized.into());
            };
            let caller = state
                .api
                .keys
                .authenticate(&token)
                .await?
                .ok_or(AppError::Unauthorized)?;
            // A route without a declared scope is a wiring mistake: refuse rather than allow.
            let Some(RequiredScope(scope)) = required else {
                tracing::error!("API route without a required scope");
                return Err(AppError::Forbidden(ApiScope::Read).into());
            };
            if !caller.may(scope) {
                tracing::warn!(event = "api_scope_denied", workspace_id = %caller.workspace, api_key_id = %caller.key, scope = scope.as_str(), "API key lacks the route's scope");
                return Err(AppError::Forbidden(scope).into());
            }
            if let Err(retry_after) = state.api.limiter.check(caller.key) {
                return Err(AppError::RateLimited { retry_after }.into());
            }
            Ok(Self(caller))
        })
    }
}
