//! amoCRM's account events, relayed to tenants (issue 13; amocrm-webhooks.md).
//!
//! amoCRM posts unsigned, form-encoded, v2-shaped bodies to a URL, waits 2 s, retries a few times
//! and switches the hook off after too many bad answers. amolink subscribes each connected
//! account with a destination unique to its connection, stores every delivery raw before
//! answering, and later expands ([`form`]), normalises ([`normalise`]) and deduplicates it into
//! one tenant event per (entity, action, item), delivered through the signed webhook outbox.

pub mod form;
pub mod kinds;
pub mod normalise;

pub use kinds::{Action, AmoEvent, Entity, RelaySelection};
pub use normalise::{AccountBlock, NormaliseError, Normalised, NormalisedEvent, normalise};
mod model;
mod ports;
mod processor;
mod service;

pub use model::{
    ClaimedInbound, ClaimedSubscription, DestinationToken, EventCursor, InboundOutcome, NewInbound,
    ProcessedInbound, RelayRecord, RelayReport, StoredEvent, Subscription, SubscriptionStatus,
    TokenOwner, token_hash,
};
pub use ports::RelayStore;
pub use processor::{Processor, ProcessorSettings, tenant_payload};
pub use service::{DeliveryMeta, FEED_DELAY, MAX_FEED_PAGE, RETENTION, Relay};
mod subscriber;

pub use subscriber::{BeforeErase, Subscriber, SubscriberDeps, SubscriberPolicy};
