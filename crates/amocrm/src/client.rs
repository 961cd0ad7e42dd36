//! The hardened HTTP client for amoCRM/Kommo (docs/security-requirements.md R17–R20, R28, R39).

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HOST, HeaderValue};
use reqwest::{Method, RequestBuilder, redirect};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::account::{AccountDomain, AccountInfo};
use crate::body::read_limited;
use crate::domains::DomainAllowList;
use crate::errors::{AmoError, BuildError};
use crate::forward::{ForwardRequest, ForwardResponse, into_forward_response};
use crate::host::AccountHost;
use crate::problem::{Endpoint, classify};
use crate::ssrf::{AddressPolicy, GuardedResolver};
use crate::token::{OAuthApp, TokenGrant, TokenRequest, parse_grant};
use crate::upstream::Upstream;

const TOKEN_PATH: &str = "/oauth2/access_token";
const ACCOUNT_PATH: &str = "/api/v4/account";
const SUBDOMAIN_PATH: &str = "/oauth2/account/current/subdomain";
const REFRESH_TOKEN_HEADER: &str = "x-refresh-token";

/// Configuration of an [`AmoClient`]. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `AMOLINK_AMOCRM_BASE_URL`: send every request to this origin instead, with the account host in
    /// `Host`. Meant for the local simulator: plain http is allowed and the DNS guard is off.
    pub base_url_override: Option<Url>,
    /// Time allowed to establish a connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included (default 15 s).
    pub timeout: Duration,
    /// Cap on token/account response bodies (default 64 KiB).
    pub max_body_bytes: usize,
    /// Cap on proxied ([`AmoClient::forward`]) response bodies, which are larger (default 8 MiB).
    pub max_forward_body_bytes: usize,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// `AMOLINK_ACCOUNT_DOMAINS`: suffixes accepted for the `api_domain` of
    /// [`AmoClient::current_subdomain`].
    pub account_domains: DomainAllowList,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            base_url_override: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_body_bytes: 64 * 1024,
            max_forward_body_bytes: 8 * 1024 * 1024,
            user_agent: concat!("amolink/", env!("CARGO_PKG_VERSION")).to_owned(),
            account_domains: DomainAllowList::default(),
        }
    }
}

/// A client for the amoCRM/Kommo OAuth and API endpoints. Cheap to clone (the connection pool is
/// shared).
///
/// Every call takes an already validated [`AccountHost`], builds the URL from it with the `url` crate,
/// and sends secrets only in bodies or headers. Redirects are never followed, bodies are capped, and
/// in production the connection is HTTPS-only and refused for non-public addresses.
#[derive(Debug, Clone)]
pub struct AmoClient {
    http: reqwest::Client,
    upstream: Upstream,
    max_body_bytes: usize,
    max_forward_body_bytes: usize,
    account_domains: DomainAllowList,
}

impl AmoClient {
    /// Builds the client.
    ///
    /// Without `base_url_override`: `https_only`, and a resolver that refuses loopback, private,
    /// link-local, metadata and other non-public addresses at connect time. Always: no redirects, no
    /// proxies (a proxy would resolve names for us and bypass the address check), no automatic
    /// retries (a retried token request can burn a rotated refresh token; callers decide).
    ///
    /// # Errors
    /// [`BuildError::NoCryptoProvider`] if no rustls provider is installed,
    /// [`BuildError::InvalidBaseUrl`] if the override is not a bare origin, [`BuildError::Http`] if
    /// reqwest refuses the configuration.
    pub fn new(settings: ClientSettings) -> Result<Self, BuildError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(BuildError::NoCryptoProvider);
        }
        let upstream = Upstream::new(settings.base_url_override)?;
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(settings.user_agent)
            .https_only(upstream.is_direct());
        if upstream.is_direct() {
            builder = builder.dns_resolver(GuardedResolver::new(AddressPolicy::PublicOnly));
        }
        Ok(Self {
            http: builder.build().map_err(BuildError::Http)?,
            upstream,
            max_body_bytes: settings.max_body_bytes,
            max_forward_body_bytes: settings.max_forward_body_bytes,
            account_domains: settings.account_domains,
        })
    }

    /// Exchanges an authorization code: `POST https://{host}/oauth2/access_token`.
    ///
    /// # Errors
    /// [`AmoError::CodeRejected`], [`AmoError::InvalidClient`], transport and HTTP errors as
    /// classified by [`AmoError`], or [`AmoError::InvalidResponse`].
    pub async fn exchange_code(
        &self,
        host: &AccountHost,
        app: &OAuthApp<'_>,
        code: &SecretString,
    ) -> Result<TokenGrant, AmoError> {
        self.request_token(host, &TokenRequest::authorization_code(app, code))
            .await
    }

    /// Refreshes a token pair: `POST https://{host}/oauth2/access_token`.
    ///
    /// amoCRM rotates the refresh token; persist the returned one before using the access token.
    ///
    /// # Errors
    /// [`AmoError::RefreshTokenRevoked`], [`AmoError::NotLinkedToClient`], [`AmoError::InvalidClient`],
    /// [`AmoError::NotFound`] / [`AmoError::InvalidGrant`] (host possibly renamed: see
    /// [`Self::current_subdomain`]), transport and HTTP errors, or [`AmoError::InvalidResponse`].
    pub async fn refresh(
        &self,
        host: &AccountHost,
        app: &OAuthApp<'_>,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, AmoError> {
        self.request_token(host, &TokenRequest::refresh(app, refresh_token))
            .await
    }

    /// Reads the account the token belongs to: `GET https://{host}/api/v4/account`.
    ///
    /// # Errors
    /// [`AmoError::Unauthorized`] for a refused token, other HTTP and transport errors, or
    /// [`AmoError::InvalidResponse`].
    pub async fn account(
        &self,
        host: &AccountHost,
        access_token: &SecretString,
    ) -> Result<AccountInfo, AmoError> {
        let request = self
            .request(Method::GET, host, ACCOUNT_PATH, None)?
            .bearer_auth(access_token.expose_secret());
        let body = self.send_capped(request, Endpoint::Api).await?;
        parse_json(&body)
    }

    /// Finds where an account lives now, after a rename: `GET
    /// https://{api_domain}/oauth2/account/current/subdomain` with `X-Refresh-Token`.
    ///
    /// `api_domain` comes from the access token's claims (e.g. `api-b.amocrm.ru`) and is validated like
    /// an account host against the configured account domains. Validate the returned
    /// [`AccountDomain::domain`] with [`AccountDomain::host`] before using it.
    ///
    /// # Errors
    /// [`AmoError::InvalidHost`] before any request if `api_domain` is not allow-listed; otherwise the
    /// OAuth errors of [`Self::refresh`].
    pub async fn current_subdomain(
        &self,
        api_domain: &str,
        refresh_token: &SecretString,
    ) -> Result<AccountDomain, AmoError> {
        let api_host = AccountHost::parse(api_domain, &self.account_domains)?;
        let mut token = HeaderValue::from_str(refresh_token.expose_secret()).map_err(|_| {
            AmoError::UnsafeRequest {
                reason: "refresh token is not a valid header value",
            }
        })?;
        token.set_sensitive(true);
        let request = self
            .request(Method::GET, &api_host, SUBDOMAIN_PATH, None)?
            .header(REFRESH_TOKEN_HEADER, token);
        let body = self.send_capped(request, Endpoint::OAuth).await?;
        parse_json(&body)
    }

    /// Forwards a tenant's API call to `https://{host}{path}?{query}` with the access token injected.
    ///
    /// Every non-redirect status is returned as is, so the caller can relay amoCRM's answer (and react
    /// to 401 by refreshing). The body is streamed and capped at `max_forward_body_bytes`.
    ///
    /// # Errors
    /// [`AmoError::UnsafeRequest`] before any request for a disallowed method, path or query;
    /// [`AmoError::RedirectRefused`] for 3xx; transport errors.
    pub async fn forward(
        &self,
        host: &AccountHost,
        access_token: &SecretString,
        req: ForwardRequest,
    ) -> Result<ForwardResponse, AmoError> {
        req.validate()?;
        let request = self
            .request(req.method.clone(), host, &req.path, req.query.as_deref())?
            .headers(req.forwarded_headers())
            .bearer_auth(access_token.expose_secret())
            .body(req.body);
        let response = send(request).await?;
        let status = response.status();
        if status.is_redirection() {
            return Err(classify(Endpoint::Api, status, response.headers(), &[]));
        }
        Ok(into_forward_response(response, self.max_forward_body_bytes))
    }

    async fn request_token(
        &self,
        host: &AccountHost,
        body: &TokenRequest<'_>,
    ) -> Result<TokenGrant, AmoError> {
        let request = self
            .request(Method::POST, host, TOKEN_PATH, None)?
            .json(body);
        let body = self.send_capped(request, Endpoint::OAuth).await?;
        parse_grant(&body)
    }

    /// A request to `path` on `host` (through the upstream), with `Host` set to the account host.
    pub(crate) fn request(
        &self,
        method: Method,
        host: &AccountHost,
        path: &str,
        query: Option<&str>,
    ) -> Result<RequestBuilder, AmoError> {
        let url = self.upstream.url(host, path, query)?;
        Ok(self.http.request(method, url).header(HOST, host.as_str()))
    }

    /// Sends `request` and returns its capped body if the status is 2xx, else the classified error.
    pub(crate) async fn send_capped(
        &self,
        request: RequestBuilder,
        endpoint: Endpoint,
    ) -> Result<Bytes, AmoError> {
        let response = send(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_success() {
            let body = read_limited(response, self.max_body_bytes)
                .await
                .map_err(AmoError::from_transport)?;
            return if body.truncated {
                Err(AmoError::ResponseTooLarge)
            } else {
                Ok(body.bytes)
            };
        }
        // An error body is only a hint: an unreadable or oversized one still yields the status's error.
        let body = read_limited(response, self.max_body_bytes)
            .await
            .map(|body| body.bytes)
            .unwrap_or_default();
        let err = classify(endpoint, status, &headers, &body);
        tracing::debug!(
            status = status.as_u16(),
            kind = err.kind(),
            "amoCRM refused a request"
        );
        Err(err)
    }
}

async fn send(request: RequestBuilder) -> Result<reqwest::Response, AmoError> {
    request.send().await.map_err(AmoError::from_transport)
}

/// Parses a 2xx JSON body; serde's message is dropped because it can quote the body.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AmoError> {
    serde_json::from_slice(body).map_err(|_| AmoError::InvalidResponse)
}
