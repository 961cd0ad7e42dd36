//! The receiver's two steps, the workspace's choice of events, and the event feed.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use super::{
    DestinationToken, EventCursor, NewInbound, RelaySelection, RelayStore, StoredEvent,
    Subscription, TokenOwner, form,
};
use crate::{
    Error,
    clock::Clock,
    ids::{ConnectionId, InboundId, WorkspaceId},
};

/// How long a stored event stays out of the feed, so a poller cannot read past an event whose
/// transaction (with a lower `seq`) is still committing.
pub const FEED_DELAY: Duration = Duration::from_secs(2);
/// The largest page of the feed.
pub const MAX_FEED_PAGE: u64 = 200;
/// How long raw deliveries and events (with their dedup keys) are kept: far beyond amoCRM's
/// retry span (about 95 minutes), so a retry always finds its key.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// What identifies a delivery besides its body.
#[derive(Debug, Clone, Default)]
pub struct DeliveryMeta {
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

/// The relay's tenant- and amoCRM-facing operations.
#[derive(Clone)]
pub struct Relay {
    store: Arc<dyn RelayStore>,
    clock: Arc<dyn Clock>,
    /// Wakes the processor when a delivery was stored.
    stored: Arc<Notify>,
}

fn clip(text: &str, chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(chars)
        .collect()
}

impl Relay {
    #[must_use]
    pub fn new(store: Arc<dyn RelayStore>, clock: Arc<dyn Clock>, stored: Arc<Notify>) -> Self {
        Self {
            store,
            clock,
            stored,
        }
    }

    /// Finds the connection a delivery is for: the token must belong to a live subscription and
    /// the body's `account[id]` must be that connection's account. Every refusal is the same
    /// [`Error::NotFound`], so a caller learns nothing about which check failed.
    ///
    /// # Errors
    /// [`Error::NotFound`] as above; storage failures.
    pub async fn authenticate(&self, token: &str, body: &[u8]) -> Result<TokenOwner, Error> {
        let token = DestinationToken::parse(token).ok_or(Error::NotFound)?;
        let owner = self
            .store
            .token_owner(&token.hash())
            .await?
            .ok_or(Error::NotFound)?;
        let account = form::find(body, "account[id]").and_then(|id| id.trim().parse::<i64>().ok());
        if account != Some(owner.account_id) {
            tracing::warn!(
                event = "amocrm_event_account_mismatch",
                connection_id = %owner.connection,
                "an events delivery named another account; refused"
            );
            return Err(Error::NotFound);
        }
        Ok(owner)
    }

    /// Stores the delivery durably and wakes the processor; parsing happens after the answer.
    ///
    /// # Errors
    /// Storage failures (the receiver answers 503, so amoCRM retries).
    pub async fn accept(
        &self,
        owner: TokenOwner,
        body: &[u8],
        meta: &DeliveryMeta,
    ) -> Result<InboundId, Error> {
        let id = InboundId::random();
        self.store
            .store_inbound(&NewInbound {
                id,
                owner,
                received_at: self.clock.now(),
                body: body.to_vec(),
                request_id: meta.request_id.as_deref().map(|r| clip(r, 64)),
                user_agent: meta.user_agent.as_deref().map(|u| clip(u, 255)),
            })
            .await?;
        self.stored.notify_one();
        Ok(id)
    }

    /// The workspace's choice of events (the default until it chooses).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn selection(&self, workspace: WorkspaceId) -> Result<RelaySelection, Error> {
        Ok(self
            .store
            .relay_selection(workspace)
            .await?
            .unwrap_or_else(RelaySelection::default_selection))
    }

    /// Saves the workspace's choice; its subscriptions are renewed with it shortly.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown name; storage failures.
    pub async fn choose<'a>(
        &self,
        workspace: WorkspaceId,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<RelaySelection, Error> {
        let selection = RelaySelection::parse(names)?;
        self.store
            .set_relay_selection(workspace, &selection, self.clock.now())
            .await?;
        tracing::info!(event = "relay_selection_changed", workspace_id = %workspace, events = %selection.to_stored(), "relayed amoCRM events chosen");
        Ok(selection)
    }

    /// One page of the workspace's events, oldest first, and the cursor for the next page.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed cursor; storage failures.
    pub async fn events(
        &self,
        workspace: WorkspaceId,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<StoredEvent>, Option<EventCursor>), Error> {
        let after = cursor.map(EventCursor::decode).transpose()?;
        let visible_before = self.clock.now()
            - chrono::Duration::from_std(FEED_DELAY).unwrap_or(chrono::Duration::zero());
        let events = self
            .store
            .events(
                workspace,
                after,
                visible_before,
                limit.clamp(1, MAX_FEED_PAGE),
            )
            .await?;
        // The cursor always advances past what was read; an empty page keeps the caller's.
        let next = events.last().map(|e| EventCursor(e.seq)).or(after);
        Ok((events, next))
    }

    /// The connection's subscription, for its page.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn subscription(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
    ) -> Result<Option<Subscription>, Error> {
        Ok(self.store.subscription(workspace, connection).await?)
    }

    /// Deletes raw deliveries and events older than [`RETENTION`].
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let before = self.clock.now()
            - chrono::Duration::from_std(RETENTION).unwrap_or(chrono::Duration::zero());
        Ok(self.store.purge_relay(before).await?)
    }
}
