//! Managing a workspace's endpoints: add, rotate, enable, disable, delete, inspect, replay.

use std::{sync::Arc, time::Duration};

use secrecy::{ExposeSecret as _, SecretString};

use super::{
    DeliveryId, DeliveryView, DestinationPolicy, Endpoint, EndpointId, EndpointRecord,
    EndpointSecret, EndpointUrl, EventTypes, MessageId, OutgoingMessage, SecretColumn,
    SecretRotation, WebhookStore, WebhookTransport,
};
use crate::{
    Error, Message,
    audit::{Audit, AuditAction, AuditTarget, Principal, detail},
    clock::Clock,
    crypto::{Binding, Keyring},
    ids::WorkspaceId,
};

/// How many deliveries an endpoint's log shows.
const LOG_LIMIT: u64 = 100;

/// The most outgoing-webhook endpoints one workspace may have: a tenant needs one or two per
/// environment; the cap bounds the rows and the deliveries one event can fan out to.
pub const MAX_ENDPOINTS_PER_WORKSPACE: usize = 20;

/// Rules for endpoints.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    pub policy: DestinationPolicy,
    /// How long the previous secret keeps signing after a rotation, so the tenant can deploy the
    /// new one without dropping a webhook.
    pub rotation_overlap: Duration,
    pub max_endpoints: usize,
}

impl WebhookSettings {
    /// Production rules: public `https` destinations only.
    #[must_use]
    pub const fn production() -> Self {
        Self {
            policy: DestinationPolicy::PublicHttpsOnly,
            rotation_overlap: Duration::from_secs(24 * 3600),
            max_endpoints: MAX_ENDPOINTS_PER_WORKSPACE,
        }
    }
}

/// A new endpoint and its secret, which is shown this once and never again.
#[derive(Debug)]
pub struct CreatedEndpoint {
    pub endpoint: Endpoint,
    pub secret: SecretString,
}

/// A workspace's webhook endpoints.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    transport: Arc<dyn WebhookTransport>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    audit: Audit,
}

/// An endpoint as the audit trail names it: its URL without query or fragment, which tenants
/// sometimes use to carry a token of their own.
fn endpoint_target(id: EndpointId, url: &url::Url) -> AuditTarget {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    AuditTarget::new("webhook_endpoint", id, shown.as_str())
}

fn binding(workspace: WorkspaceId, id: EndpointId, column: SecretColumn) -> Binding {
    Binding {
        workspace,
        row: id.as_uuid(),
        column: column.as_str(),
    }
}

impl Webhooks {
    #[must_use]
    pub fn new(
        store: Arc<dyn WebhookStore>,
        transport: Arc<dyn WebhookTransport>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        settings: WebhookSettings,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            transport,
            keyring,
            clock,
            settings,
            audit,
        }
    }

    #[must_use]
    pub const fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// The workspace's endpoints, oldest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list(&self, workspace: WorkspaceId) -> Result<Vec<Endpoint>, Error> {
        let now = self.clock.now();
        Ok(self
            .store
            .endpoints(workspace)
            .await?
            .iter()
            .map(|record| Endpoint::from_record(record, now))
            .collect())
    }

    /// Adds an endpoint with a fresh secret.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad or refused URL or no event type; [`Error::Conflict`] when the
    /// workspace has as many endpoints as allowed.
    pub async fn create(
        &self,
        workspace: WorkspaceId,
        url: &str,
        events: &[&str],
        by: &Principal,
    ) -> Result<CreatedEndpoint, Error> {
        let url = EndpointUrl::parse(url, self.settings.policy)?;
        let events = EventTypes::parse(events.iter().copied())?;
        if self.store.endpoints(workspace).await?.len() >= self.settings.max_endpoints {
            return Err(Error::Conflict(
                Message::new("endpoints-at-cap").with("max", self.settings.max_endpoints),
            ));
        }
        self.transport.check_destination(&url).await?;
        let id = EndpointId::random();
        let secret = EndpointSecret::generate().to_text();
        let now = self.clock.now();
        let record = EndpointRecord {
            id,
            workspace,
            url,
            events,
            secret: self.keyring.seal(
                secret.expose_secret(),
                &binding(workspace, id, SecretColumn::Current),
            ),
            previous_secret: None,
            previous_secret_until: None,
            enabled: true,
            disabled_reason: None,
            last_success_at: None,
            created_at: now,
        };
        self.store.insert_endpoint(&record).await?;
        tracing::info!(event = "webhook_endpoint_created", workspace_id = %workspace, endpoint_id = %id, "webhook endpoint added");
        let events: Vec<&str> = record.events.names().collect();
        self.audit
            .record(
                Some(workspace),
                by,
                AuditAction::WebhookEndpointCreated,
                Some(endpoint_target(id, record.url.as_url())),
                Some(detail([("events", &events.join(","))])),
            )
            .await;
        Ok(CreatedEndpoint {
            endpoint: Endpoint::from_record(&record, now),
            secret,
        })
    }

    async fn record(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
    ) -> Result<EndpointRecord, Error> {
        self.store
            .endpoint(workspace, id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// One endpoint and its newest deliveries.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not an endpoint of this workspace.
    pub async fn detail(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
    ) -> Result<(Endpoint, Vec<DeliveryView>), Error> {
        let record = self.record(workspace, id).await?;
        let deliveries = self.store.deliveries(workspace, id, LOG_LIMIT).await?;
        Ok((Endpoint::from_record(&record, self.clock.now()), deliveries))
    }

    /// Replaces the secret. The old one keeps signing for the overlap, so deliveries carry both
    /// signatures until then and the tenant can switch receivers without losing any.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not an endpoint of this workspace.
    pub async fn rotate(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        by: &Principal,
    ) -> Result<CreatedEndpoint, Error> {
        let record = self.record(workspace, id).await?;
        let current = self
            .keyring
            .open(
                &record.secret,
                &binding(workspace, id, SecretColumn::Current),
            )
            .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("webhook secret")))?;
        let now = self.clock.now();
        let overlap = chrono::Duration::from_std(self.settings.rotation_overlap)
            .unwrap_or(chrono::Duration::hours(24));
        let secret = EndpointSecret::generate().to_text();
        let rotation = SecretRotation {
            secret: self.keyring.seal(
                secret.expose_secret(),
                &binding(workspace, id, SecretColumn::Current),
            ),
            previous_secret: self.keyring.seal(
                current.expose_secret(),
                &binding(workspace, id, SecretColumn::Previous),
            ),
            previous_until: now + overlap,
            at: now,
        };
        if !self.store.rotate_secret(workspace, id, &rotation).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(event = "webhook_secret_rotated", workspace_id = %workspace, endpoint_id = %id, "webhook secret rotated");
        self.audit
            .record(
                Some(workspace),
                by,
                AuditAction::WebhookEndpointRotated,
                Some(endpoint_target(id, record.url.as_url())),
                None,
            )
            .await;
        let record = self.record(workspace, id).await?;
        Ok(CreatedEndpoint {
            endpoint: Endpoint::from_record(&record, now),
            secret,
        })
    }

    /// Turns sending on or off. Pending deliveries wait while the endpoint is disabled.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not an endpoint of this workspace.
    pub async fn set_enabled(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        enabled: bool,
        by: &Principal,
    ) -> Result<(), Error> {
        let record = self.record(workspace, id).await?;
        let reason = (!enabled).then_some("Disabled by a member of the workspace.");
        if !self
            .store
            .set_enabled(workspace, id, enabled, reason, self.clock.now())
            .await?
        {
            return Err(Error::NotFound);
        }
        if record.enabled != enabled {
            self.audit
                .record(
                    Some(workspace),
                    by,
                    AuditAction::WebhookEndpointChanged,
                    Some(endpoint_target(id, record.url.as_url())),
                    Some(detail([(
                        "enabled",
                        if enabled { "true" } else { "false" },
                    )])),
                )
                .await;
        }
        Ok(())
    }

    /// Deletes the endpoint with its delivery log.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not an endpoint of this workspace.
    pub async fn delete(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        by: &Principal,
    ) -> Result<(), Error> {
        let record = self.record(workspace, id).await?;
        if !self.store.delete_endpoint(workspace, id).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(event = "webhook_endpoint_deleted", workspace_id = %workspace, endpoint_id = %id, "webhook endpoint deleted");
        self.audit
            .record(
                Some(workspace),
                by,
                AuditAction::WebhookEndpointDeleted,
                Some(endpoint_target(id, record.url.as_url())),
                None,
            )
            .await;
        Ok(())
    }

    /// Queues a signed `webhook.test` message to the endpoint through the outbox, like any
    /// event: it appears in the endpoint's delivery log and is retried the same way.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the endpoint is not this workspace's; [`Error::Conflict`] while
    /// it is disabled.
    pub async fn send_test(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
    ) -> Result<MessageId, Error> {
        let record = self.record(workspace, endpoint).await?;
        if !record.enabled {
            return Err(Error::Conflict(Message::new("endpoint-disabled-for-test")));
        }
        let now = self.clock.now();
        let message = OutgoingMessage::test(&endpoint.to_string(), now);
        if !self
            .store
            .enqueue_for_endpoint(workspace, endpoint, &message, now)
            .await?
        {
            return Err(Error::NotFound);
        }
        tracing::info!(event = "webhook_test_queued", workspace_id = %workspace, endpoint_id = %endpoint, message_id = %message.id, "test webhook queued");
        Ok(message.id)
    }

    /// Sends a delivery's message to its endpoint again, with the same `webhook-id` (it is the
    /// same event; receivers that deduplicate can tell).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the endpoint or delivery is not this workspace's;
    /// [`Error::Conflict`] while the endpoint is disabled.
    pub async fn replay(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        delivery: DeliveryId,
    ) -> Result<(), Error> {
        let record = self.record(workspace, endpoint).await?;
        if !record.enabled {
            return Err(Error::Conflict(Message::new("endpoint-disabled")));
        }
        if !self
            .store
            .replay(workspace, endpoint, delivery, self.clock.now())
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
