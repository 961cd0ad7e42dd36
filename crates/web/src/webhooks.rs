//! Outgoing webhooks, network side: the reqwest transport that enforces the destination policy
//! when it connects, and the wiring of the endpoint service and the delivery worker.

use std::{net::IpAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::Utc;
use domain::amo::{GuardedResolver, NonPublicAddress, resolve_checked};
use domain::{
    ValidationError,
    activity::ActivityRecorder,
    audit::Audit,
    clock::Clock,
    crypto::Keyring,
    webhooks::{
        AttemptOutcome, Deliverer, DelivererSettings, DestinationPolicy, EndpointUrl,
        WebhookRequest, WebhookSettings, WebhookTransport, Webhooks,
    },
};
use persistence::Database;
use reqwest::{
    header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER},
    redirect,
};
use url::Host;

use crate::settings::Settings;

/// The whole attempt, connect to last byte of headers (R44 in `docs/security-requirements.md`
/// asks for 15–30 s).
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long saving an endpoint may wait for DNS.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The policy for this deployment: development also reaches `http` and loopback receivers.
#[must_use]
pub fn policy_for(settings: &Settings) -> DestinationPolicy {
    if settings.is_production() {
        DestinationPolicy::PublicHttpsOnly
    } else {
        DestinationPolicy::AllowLoopback
    }
}

/// Builds the endpoint service for handlers and, unless switched off, starts this instance's
/// delivery worker in the background.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn start(
    settings: &Settings,
    database: Arc<Database>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    activity: ActivityRecorder,
) -> anyhow::Result<Webhooks> {
    let policy = policy_for(settings);
    let transport: Arc<dyn WebhookTransport> = Arc::new(HttpTransport::new(policy)?);
    if settings.webhook_worker {
        let deliverer = Deliverer::new(
            database.clone(),
            transport.clone(),
            keyring.clone(),
            DelivererSettings {
                schedule: settings.webhook_retry_offsets,
                ..DelivererSettings::default()
            },
        )
        .with_activity(activity);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(deliverer.run(clock.clone()));
            }
            Err(_) => tracing::warn!("no async runtime: the webhook worker is not running"),
        }
    }
    Ok(Webhooks::new(
        database,
        transport,
        keyring,
        clock,
        WebhookSettings {
            policy,
            ..WebhookSettings::production()
        },
        audit,
    ))
}

/// A delivery worker over `database` (for tests and tools that drain the outbox themselves).
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn deliverer(
    database: Arc<Database>,
    keyring: Arc<Keyring>,
    policy: DestinationPolicy,
) -> anyhow::Result<Deliverer> {
    Ok(Deliverer::new(
        database,
        Arc::new(HttpTransport::new(policy)?),
        keyring,
        DelivererSettings::default(),
    ))
}

/// The webhook HTTP client: no redirects, no proxies, no retries of its own, bounded time.
pub struct HttpTransport {
    http: reqwest::Client,
    policy: DestinationPolicy,
}

impl HttpTransport {
    /// # Errors
    /// When the client cannot be built (no TLS provider).
    pub fn new(policy: DestinationPolicy) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(SEND_TIMEOUT)
            .user_agent(concat!("amolink-webhooks/", env!("CARGO_PKG_VERSION")))
            .https_only(policy == DestinationPolicy::PublicHttpsOnly)
            .dns_resolver(GuardedResolver::new(policy.address_policy()))
            .build()
            .context("cannot build the webhook HTTP client")?;
        Ok(Self { http, policy })
    }

    /// IP literals never reach the resolver, so they are checked here at every send: an
    /// endpoint saved under a laxer policy (development) is refused once the policy tightens.
    fn literal_allowed(&self, request: &WebhookRequest) -> bool {
        match request.url.host() {
            Some(Host::Ipv4(ip)) => self.policy.allows_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.policy.allows_ip(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => true,
            None => false,
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        if cause.is::<NonPublicAddress>() {
            return "refused: the destination is not a public address".into();
        }
        source = cause.source();
    }
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

#[async_trait]
impl WebhookTransport for HttpTransport {
    async fn check_destination(&self, url: &EndpointUrl) -> Result<(), ValidationError> {
        let Some(name) = url.domain() else {
            return Ok(());
        };
        let refused = |code: &'static str| ValidationError::new("url", code);
        let resolved = resolve_checked(self.policy.address_policy(), name);
        match tokio::time::timeout(RESOLVE_TIMEOUT, resolved).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is::<NonPublicAddress>() => Err(refused(
                "This host name resolves to a private, loopback or otherwise non-public address.",
            )),
            Ok(Err(_)) | Err(_) => Err(refused("url-unresolvable")),
        }
    }

    async fn send(&self, request: &WebhookRequest) -> AttemptOutcome {
        if !self.literal_allowed(request) {
            return AttemptOutcome::Failed {
                reason: "refused: the destination is not a public address".into(),
            };
        }
        let sent = self
            .http
            .post(request.url.clone())
            .header("webhook-id", &request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", &request.signature)
            .header(CONTENT_TYPE, "application/json")
            .body(request.body.clone())
            .send()
            .await;
        match sent {
            // Only the status matters; the body is never read or stored.
            Ok(response) => AttemptOutcome::Responded {
                status: response.status().as_u16(),
                retry_after: response.headers().get(RETRY_AFTER).and_then(retry_after),
            },
            Err(e) => AttemptOutcome::Failed {
                reason: describe(&e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            retry_after(&HeaderValue::from_static("120")),
            Some(Duration::from_secs(120))
        );
        let later = (Utc::now() + chrono::Duration::seconds(600)).to_rfc2822();
        let parsed = retry_after(&HeaderValue::from_str(&later).expect("header"));
        assert!(
            parsed.is_some_and(|d| d > Duration::from_secs(590)),
            "{parsed:?}"
        );
        assert_eq!(retry_after(&HeaderValue::from_static("soon")), None);
        assert_eq!(
            retry_after(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")),
            None,
            "a date in the past asks for no wait"
        );
    }

    #[tokio::test]
    async fn production_transport_refuses_internal_literals_without_connecting() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = HttpTransport::new(DestinationPolicy::PublicHttpsOnly).expect("client");
        for url in [
            "https://127.0.0.1:1/",
            "https://[::ffff:10.0.0.1]/",
            "https://169.254.169.254/",
        ] {
            let outcome = transport
                .send(&WebhookRequest {
                    url: url::Url::parse(url).expect("url"),
                    id: "msg_1".into(),
                    timestamp: 1,
                    signature: "v1,x".into(),
                    body: "{}".into(),
                })
                .await;
            assert_eq!(
                outcome,
                AttemptOutcome::Failed {
                    reason: "refused: the destination is not a public address".into()
                },
                "{url}"
            );
        }
    }

    /// `localhost` resolves from the hosts file, so this needs no DNS traffic.
    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_in_production_only() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = EndpointUrl::parse("http://localhost:9/", DestinationPolicy::AllowLoopback)
            .expect("valid in development");
        let production = HttpTransport::new(DestinationPolicy::PublicHttpsOnly).expect("client");
        let development = HttpTransport::new(DestinationPolicy::AllowLoopback).expect("client");
        assert!(production.check_destination(&url).await.is_err());
        assert!(development.check_destination(&url).await.is_ok());
        assert!(
            resolve_checked(
                DestinationPolicy::PublicHttpsOnly.address_policy(),
                "localhost"
            )
            .await
            .is_err()
        );
    }
}
