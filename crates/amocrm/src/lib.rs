//! amolink's hardened client for the amoCRM / Kommo OAuth 2.0 and API protocol.
//!
//! The crate does three jobs and knows nothing about amolink's database or web framework:
//!
//! 1. **Validate before any byte leaves.** The account host arrives as the attacker-controllable
//!    `referer` of the OAuth callback, yet it names the server that receives the integration's
//!    `client_secret`. [`AccountHost::parse`] accepts only `{one label}.{allow-listed suffix}` in
//!    lowercase ASCII, and every [`AmoClient`] call takes an `AccountHost`, so an unvalidated host
//!    cannot even be expressed. Proxy paths ([`ForwardRequest`]) are validated the same way.
//! 2. **Talk to amoCRM defensively.** No redirects, capped bodies, timeouts, HTTPS only, and a DNS
//!    resolver that refuses non-public addresses at connect time. Secrets travel only in bodies and
//!    headers, never in URLs, and no error message carries a token, secret, code or response body.
//! 3. **Say precisely what went wrong.** [`AmoError`] separates a revoked refresh token from a
//!    rejected client, a rate limit from a blocked account, and knows which failures are transient.
//!
//! `AMOLINK_AMOCRM_BASE_URL` maps to [`ClientSettings::base_url_override`]: requests then go to that
//! origin with the account host in the `Host` header, for the local simulator and tests.

mod account;
mod body;
mod client;
mod domains;
mod errors;
mod forward;
mod host;
mod jwt;
mod platform;
mod problem;
mod seconds;
mod ssrf;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod token;
mod upstream;
mod webhooks;

pub use account::{AccountDomain, AccountInfo};
pub use client::{AmoClient, ClientSettings};
pub use domains::{DomainAllowList, DomainListError};
pub use errors::{AmoError, BuildError};
pub use forward::{BodyStream, FORWARDED_REQUEST_HEADERS, ForwardRequest, ForwardResponse};
pub use host::{AccountHost, RefererError};
pub use jwt::AccessClaims;
pub use platform::{Platform, UnknownPlatform};
pub use ssrf::{AddressPolicy, GuardedResolver, NonPublicAddress, is_public_ip, resolve_checked};
pub use token::{LifetimeSource, OAuthApp, TokenGrant};
pub use webhooks::AccountWebhook;
