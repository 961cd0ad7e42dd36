//! Outgoing webhooks to tenants, signed the Standard Webhooks way (docs/security-requirements.md R42–R45).
//!
//! A tenant registers endpoints (a URL, the event types it wants, a `whsec_…` secret shown once).
//! When a connection event is recorded, storage writes one *message* (its `msg_…` id and the exact
//! JSON bytes) and one *delivery* per subscribed endpoint, in the same transaction as the event:
//! a durable outbox, so an event is never announced without having happened, nor lost because a
//! process died before sending.
//!
//! The [`Deliverer`] drains due deliveries under database-time leases (several instances can run
//! it), signs each attempt with the endpoint's secret (and the previous one during a rotation's
//! overlap), and reschedules failures on [`schedule`] — about a day of retries.
//!
//! This module states what it needs as its own two ports: [`WebhookStore`] (storage) and
//! [`WebhookTransport`] (the HTTP client, with the address policy enforced at connect time).

mod destination;
mod event;
mod model;
mod ports;
pub mod schedule;
mod service;
mod signing;
mod worker;

pub use destination::{DestinationPolicy, EndpointUrl};
pub use event::{ConnectionSnapshot, EventType, EventTypes, MessageId, OutgoingMessage};
pub use model::{
    Claim, ClaimedDelivery, DeliveryId, DeliveryRecord, DeliveryStatus, DeliveryView, Endpoint,
    EndpointChange, EndpointId, EndpointRecord, FinishedAttempt, SecretColumn, SecretRotation,
};
pub use ports::{AttemptOutcome, WebhookRequest, WebhookStore, WebhookTransport};
pub use service::{CreatedEndpoint, MAX_ENDPOINTS_PER_WORKSPACE, WebhookSettings, Webhooks};
pub use signing::{EndpointSecret, SECRET_PREFIX, sign, signature_header};
pub use worker::{Deliverer, DelivererSettings, DeliveryReport};
