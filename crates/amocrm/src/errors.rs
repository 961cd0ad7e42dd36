//! The error type every client call returns, classified for the refresh worker (docs/security-requirements.md R39).
//!
//! `Display`/`Debug` never contain tokens, secrets, codes or response bodies (R28). The only text taken
//! from amoCRM is its `hint` — a fixed library phrase such as "Authorization code has expired" — and
//! even that is cleaned of control characters and capped.

use std::time::Duration;

use crate::host::RefererError;
use crate::ssrf::NonPublicAddress;

/// Longest amoCRM `hint` we keep; the real ones are short fixed phrases.
const MAX_HINT_CHARS: usize = 200;

/// Why an amoCRM/Kommo call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmoError {
    /// The host is not an allow-listed account host; nothing was sent.
    #[error("invalid account host: {0}")]
    InvalidHost(#[from] RefererError),
    /// The request itself was refused before sending (unsafe proxy path, query, method or header).
    #[error("refused to send the request: {reason}")]
    UnsafeRequest {
        /// Which rule the request broke.
        reason: &'static str,
    },
    /// The refresh token was revoked or already used (amoCRM hint "Token has been revoked").
    #[error("the refresh token has been revoked or already used")]
    RefreshTokenRevoked,
    /// The refresh token belongs to another integration ("Token is not linked to client"): a
    /// credentials mix-up between connections, i.e. a bug on our side.
    #[error("the refresh token is not linked to this client")]
    NotLinkedToClient,
    /// The authorization code was rejected (expired, already used, issued to another client, …).
    #[error("the authorization code was rejected: {hint}")]
    CodeRejected {
        /// amoCRM's explanation, cleaned and capped.
        hint: String,
    },
    /// Any other refusal of the grant by the token endpoint (400/401 without a recognised hint).
    #[error("the grant was rejected ({})", hint.as_deref().unwrap_or("no hint"))]
    InvalidGrant {
        /// amoCRM's explanation, cleaned and capped, if it gave one.
        hint: Option<String>,
    },
    /// Wrong `client_id`/`client_secret` ("Некорректный клиент").
    #[error("the client credentials were rejected")]
    InvalidClient,
    /// The API refused the access token (revoked, expired or uninstalled).
    #[error("the access token was rejected")]
    Unauthorized,
    /// The account has not paid (402).
    #[error("the account requires payment")]
    PaymentRequired,
    /// 403: the account or our IP is blocked (often after rate-limit abuse). Not retryable; alert.
    #[error("access forbidden (account or IP blocked)")]
    Forbidden {
        /// The body was an HTML page (nginx block page) rather than problem+json.
        html: bool,
    },
    /// 429: too many requests.
    #[error("rate limited by amoCRM")]
    RateLimited {
        /// How long amoCRM asked us to wait (body `retry_after` or `Retry-After` header).
        retry_after: Option<Duration>,
    },
    /// 404: the account host is gone (e.g. the subdomain was renamed) or the resource does not exist.
    #[error("not found (account host gone or moved)")]
    NotFound,
    /// 400 from the API, or from the token endpoint without a grant-related hint.
    #[error("amoCRM rejected the request as malformed")]
    BadRequest,
    /// 5xx.
    #[error("amoCRM server error (HTTP {status})")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// A status this client has no rule for.
    #[error("unexpected HTTP status {status}")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
    },
    /// A 3xx answer. Redirects are never followed: they could carry secrets to another host.
    #[error("redirect refused (HTTP {status})")]
    RedirectRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The connect or total timeout elapsed.
    #[error("request to amoCRM timed out")]
    Timeout,
    /// The name resolved to a loopback/private/link-local/… address; no connection was made.
    #[error("refused to connect to a non-public address")]
    NonPublicAddress,
    /// Connection or protocol failure (the source carries no URL).
    #[error("network error talking to amoCRM")]
    Network {
        /// The transport error, with its URL removed.
        source: reqwest::Error,
    },
    /// The response body exceeded the configured cap; reading was aborted.
    #[error("response body exceeds the size limit")]
    ResponseTooLarge,
    /// A success status with a body we could not understand.
    #[error("amoCRM returned an invalid response body")]
    InvalidResponse,
}

impl AmoError {
    /// Whether retrying later may succeed: timeouts, network errors, 5xx and 429.
    ///
    /// Everything else is terminal for this request; retrying would hide it (docs/security-requirements.md R39).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Network { .. } | Self::Server { .. } | Self::RateLimited { .. }
        )
    }

    /// How long amoCRM asked us to wait, if it said.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A stable snake_case label for metrics and logs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidHost(_) => "invalid_host",
            Self::UnsafeRequest { .. } => "unsafe_request",
            Self::RefreshTokenRevoked => "refresh_token_revoked",
            Self::NotLinkedToClient => "not_linked_to_client",
            Self::CodeRejected { .. } => "code_rejected",
            Self::InvalidGrant { .. } => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::Unauthorized => "unauthorized",
            Self::PaymentRequired => "payment_required",
            Self::Forbidden { .. } => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::Server { .. } => "server_error",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::RedirectRefused { .. } => "redirect_refused",
            Self::Timeout => "timeout",
            Self::NonPublicAddress => "non_public_address",
            Self::Network { .. } => "network",
            Self::ResponseTooLarge => "response_too_large",
            Self::InvalidResponse => "invalid_response",
        }
    }

    /// Maps a reqwest failure, dropping the URL so no query string reaches logs.
    pub(crate) fn from_transport(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        if caused_by::<NonPublicAddress>(&err) {
            tracing::warn!("amoCRM request refused: name resolved to a non-public address");
            return Self::NonPublicAddress;
        }
        Self::Network {
            source: err.without_url(),
        }
    }
}

/// Why an [`crate::AmoClient`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No process-wide rustls crypto provider is installed (the binary installs ring at start-up).
    #[error("no rustls crypto provider is installed")]
    NoCryptoProvider,
    /// `base_url_override` is not a bare `http(s)://host[:port]` origin.
    #[error("invalid amoCRM base URL override: {reason}")]
    InvalidBaseUrl {
        /// Which rule the URL broke.
        reason: &'static str,
    },
    /// reqwest refused the configuration (for example an invalid user agent).
    #[error("could not build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Whether `T` appears anywhere in `err`'s source chain.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Makes a server-supplied hint safe to display: control characters become spaces, length is capped.
pub(crate) fn clean_hint(hint: &str) -> String {
    hint.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_HINT_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_exactly_timeout_network_server_and_rate_limit() {
        let transient = [
            AmoError::Timeout,
            AmoError::Server { status: 503 },
            AmoError::RateLimited { retry_after: None },
        ];
        let terminal = [
            AmoError::RefreshTokenRevoked,
            AmoError::NotLinkedToClient,
            AmoError::InvalidClient,
            AmoError::InvalidGrant { hint: None },
            AmoError::Unauthorized,
            AmoError::PaymentRequired,
            AmoError::Forbidden { html: true },
            AmoError::NotFound,
            AmoError::RedirectRefused { status: 302 },
            AmoError::ResponseTooLarge,
            AmoError::InvalidResponse,
            AmoError::NonPublicAddress,
        ];
        assert!(transient.iter().all(AmoError::is_transient));
        assert!(!terminal.iter().any(AmoError::is_transient));
    }

    #[test]
    fn retry_after_only_from_rate_limits() {
        let wait = Duration::from_secs(300);
        assert_eq!(
            AmoError::RateLimited {
                retry_after: Some(wait)
            }
            .retry_after(),
            Some(wait)
        );
        assert_eq!(AmoError::Server { status: 503 }.retry_after(), None);
    }

    #[test]
    fn kinds_are_stable_snake_case() {
        assert_eq!(
            AmoError::RefreshTokenRevoked.kind(),
            "refresh_token_revoked"
        );
        assert_eq!(
            AmoError::RateLimited { retry_after: None }.kind(),
            "rate_limited"
        );
        assert_eq!(AmoError::Timeout.kind(), "timeout");
        assert_eq!(AmoError::Server { status: 500 }.kind(), "server_error");
    }

    #[test]
    fn hints_are_cleaned_and_capped() {
        assert_eq!(
            clean_hint("Token has been revoked"),
            "Token has been revoked"
        );
        assert_eq!(clean_hint("a\r\nb\u{7}"), "a  b");
        assert_eq!(
            clean_hint(&"я".repeat(1000)).chars().count(),
            MAX_HINT_CHARS
        );
    }
}
