//! What webhooks need from storage and from the network.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use url::Url;

use super::{
    Claim, DeliveryId, DeliveryRecord, EndpointId, EndpointRecord, EndpointUrl, FinishedAttempt,
    OutgoingMessage, SecretRotation,
};
use crate::{StoreError, ValidationError, ids::WorkspaceId};

/// Endpoints and the outbox. Every method that takes a [`WorkspaceId`] is confined to it; the
/// claim and finish methods serve the worker, which works for every workspace.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), StoreError>;

    /// The workspace's endpoints, oldest first.
    async fn endpoints(&self, workspace: WorkspaceId) -> Result<Vec<EndpointRecord>, StoreError>;

    async fn endpoint(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError>;

    /// Installs a new secret and keeps the old one for the overlap. Answers whether the endpoint
    /// exists.
    async fn rotate_secret(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        rotation: &SecretRotation,
    ) -> Result<bool, StoreError>;

    /// Enables or disables the endpoint (a reason is shown while disabled).
    async fn set_enabled(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
        enabled: bool,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Deletes the endpoint and its deliveries.
    async fn delete_endpoint(
        &self,
        workspace: WorkspaceId,
        id: EndpointId,
    ) -> Result<bool, StoreError>;

    /// The newest `limit` deliveries of the endpoint, newest first.
    async fn deliveries(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        limit: u64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Queues the message of `delivery` to the same endpoint again, due at `at`. Answers whether
    /// the delivery exists (on that endpoint of that workspace).
    async fn replay(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        delivery: DeliveryId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores `message` with one pending delivery to the workspace's endpoint `endpoint` (due at
    /// `at`), whatever the endpoint subscribed to. Answers whether the endpoint exists.
    async fn enqueue_for_endpoint(
        &self,
        workspace: WorkspaceId,
        endpoint: EndpointId,
        message: &OutgoingMessage,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Leases up to `limit` pending deliveries of enabled endpoints that are due at `now`.
    ///
    /// The lease is a compare-and-set against the *database's* clock (`lease_until < db now`),
    /// so instances with skewed clocks never hold the same delivery at once.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Claim, StoreError>;

    /// Records an attempt, unless the lease was lost meanwhile (answers `false` then).
    async fn finish_attempt(&self, attempt: &FinishedAttempt) -> Result<bool, StoreError>;
}

/// One signed POST.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub url: Url,
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

/// How an attempt went, as far as the network could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered with this status (a redirect is an answer too; it is not followed).
    Responded {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: refused address, DNS, connect, TLS or timeout. The reason is a few words,
    /// safe for the delivery log.
    Failed { reason: String },
}

/// The HTTP client for webhooks.
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    /// Checks, when an endpoint is saved, that its host name resolves only to addresses the
    /// policy allows (IP literals were checked by [`EndpointUrl::parse`] already).
    ///
    /// # Errors
    /// A message for the tenant when the name does not resolve or resolves to a refused address.
    async fn check_destination(&self, url: &EndpointUrl) -> Result<(), ValidationError>;

    /// POSTs the request: no redirects followed, bounded time, addresses checked at connect time.
    async fn send(&self, request: &WebhookRequest) -> AttemptOutcome;
}
