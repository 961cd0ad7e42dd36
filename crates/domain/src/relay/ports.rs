//! What the relay needs from storage.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ClaimedInbound, ClaimedSubscription, EventCursor, NewInbound, ProcessedInbound, RelaySelection,
    StoredEvent, Subscription, TokenOwner,
};
use crate::{
    StoreError,
    connections::NewEvent,
    ids::{ConnectionId, WorkspaceId},
};

/// Raw deliveries, tenant events, relay settings and subscriptions. Methods taking a
/// [`WorkspaceId`] are confined to it; the claim/finish methods serve the workers.
#[async_trait]
pub trait RelayStore: Send + Sync {
    /// The connection whose subscription carries this token hash, if it is live (not
    /// unsubscribed, and the connection not revoked or disconnected).
    async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>, StoreError>;

    /// Stores a delivery durably (committed when this returns).
    async fn store_inbound(&self, inbound: &NewInbound) -> Result<(), StoreError>;

    /// Leases up to `limit` pending deliveries, oldest first, with a compare-and-set on the
    /// database's clock.
    async fn claim_inbound(
        &self,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<ClaimedInbound>, StoreError>;

    /// In one transaction for the whole batch: for each delivery still under its lease, stores
    /// the events whose `(connection, dedup key)` is new, queues each new one for the workspace's
    /// endpoints subscribed to its type, and marks the delivery done. Answers, per delivery, how
    /// many events were new, or `None` when its lease was lost meanwhile.
    async fn finish_inbound(
        &self,
        done: &[ProcessedInbound],
    ) -> Result<Vec<Option<usize>>, StoreError>;

    /// The workspace's choice, or `None` if it never chose.
    async fn relay_selection(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Option<RelaySelection>, StoreError>;

    /// Saves the choice and marks every subscription of the workspace due now, so each is
    /// subscribed again (or unsubscribed) with the new settings.
    async fn set_relay_selection(
        &self,
        workspace: WorkspaceId,
        selection: &RelaySelection,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Events after `after`, oldest first, stored before `visible_before`.
    async fn events(
        &self,
        workspace: WorkspaceId,
        after: Option<EventCursor>,
        visible_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    async fn subscription(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Creates the subscription row (status pending, due at `at`) or makes an existing one
    /// pending and due again (a reconnect).
    async fn request_subscription(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Leases up to `limit` subscriptions due at `now`.
    async fn claim_subscriptions(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<ClaimedSubscription>, StoreError>;

    /// Writes the subscription back and releases the lease (a compare-and-set on it; `lease`
    /// `None` writes unconditionally, for revoke paths). Answers whether it was written.
    async fn save_subscription(
        &self,
        lease: Option<&str>,
        subscription: &Subscription,
    ) -> Result<bool, StoreError>;

    /// Records a new destination token's hash (status pending) before it is sent to amoCRM, so a
    /// delivery racing the subscription's answer is already recognised. Keeps the lease.
    async fn begin_subscribing(
        &self,
        connection: ConnectionId,
        lease: &str,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Appends events to the connection's history (and announces those that are announced,
    /// such as `connection.events_paused`), in one transaction.
    async fn record_connection_events(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;

    /// Deletes raw deliveries processed before `before`, and events stored before `before`.
    async fn purge_relay(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
