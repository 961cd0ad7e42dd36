//! The processor: stored deliveries to tenant events, after amoCRM has had its answer.
//!
//! [`Processor::try_process_due`] leases pending deliveries, normalises each, and hands the
//! events to storage, which keeps each `(connection, dedup key)` once and queues the new ones in
//! the signed webhook outbox in the same transaction. It returns when nothing is pending, so
//! tests drain it instead of sleeping; [`Processor::run`] loops it, woken by each stored delivery.
//! Any number of instances may run it: deliveries are leased, and event ids are derived from the
//! dedup key, so even a delivery processed twice yields each event once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::{
    ClaimedInbound, InboundOutcome, Normalised, NormalisedEvent, ProcessedInbound, RelayRecord,
    RelayReport, RelaySelection, RelayStore, normalise,
};
use crate::{
    Error,
    clock::Clock,
    ids::{ConnectionId, WorkspaceId},
};

/// Tuning of the processor.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorSettings {
    /// How long a claimed delivery is reserved (processing one takes milliseconds).
    pub lease: Duration,
    pub batch: u64,
    /// The longest [`Processor::run`] sleeps without being woken.
    pub poll_every: Duration,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            batch: 25,
            poll_every: Duration::from_secs(2),
        }
    }
}

/// Turns stored deliveries into tenant events.
#[derive(Clone)]
pub struct Processor {
    store: Arc<dyn RelayStore>,
    clock: Arc<dyn Clock>,
    settings: ProcessorSettings,
    stored: Arc<Notify>,
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The tenant-facing JSON of one event of a delivery `connection` received at `received_at`.
#[must_use]
pub fn tenant_payload(
    connection: ConnectionId,
    received_at: DateTime<Utc>,
    normalised: &Normalised,
    event: &NormalisedEvent,
) -> String {
    let data = json!({
        "connection_id": connection.to_string(),
        "account_id": normalised.account.id,
        "account_subdomain": normalised.account.subdomain,
        "host": normalised.account.host,
        "entity": event.event.entity.as_str(),
        "action": event.event.action.as_str(),
        "entity_id": event.entity_id,
        "fields": Value::Object(event.fields.clone()),
        "custom_fields": event.custom_fields,
    });
    let mut envelope = Map::new();
    envelope.insert("type".into(), Value::from(event.event.as_str()));
    envelope.insert("timestamp".into(), Value::from(timestamp(received_at)));
    envelope.insert("data".into(), data);
    Value::Object(envelope).to_string()
}

/// What one delivery comes to. Events the workspace does not relay are dropped here (its
/// subscription may still carry them until it is renewed).
fn outcome(inbound: &ClaimedInbound, selection: &RelaySelection) -> InboundOutcome {
    let normalised = match normalise(&inbound.body) {
        Ok(normalised) => normalised,
        Err(e) => return InboundOutcome::Rejected(e.to_string()),
    };
    if normalised.account.id != inbound.owner.account_id {
        return InboundOutcome::Rejected("the body names another account".into());
    }
    let records = normalised
        .events
        .iter()
        .filter(|event| selection.contains(event.event))
        .map(|event| RelayRecord {
            id: RelayRecord::id_for(inbound.owner.connection, &event.dedup_key),
            event: event.event,
            entity_id: event.entity_id,
            dedup_key: event.dedup_key.clone(),
            payload: tenant_payload(
                inbound.owner.connection,
                inbound.received_at,
                &normalised,
                event,
            ),
            raw_item: event.raw_item.to_string(),
        })
        .collect();
    InboundOutcome::Processed(records)
}

impl Processor {
    #[must_use]
    pub fn new(
        store: Arc<dyn RelayStore>,
        clock: Arc<dyn Clock>,
        settings: ProcessorSettings,
        stored: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            stored,
        }
    }

    async fn selection(&self, workspace: WorkspaceId) -> Result<RelaySelection, Error> {
        Ok(self
            .store
            .relay_selection(workspace)
            .await?
            .unwrap_or_else(RelaySelection::default_selection))
    }

    /// Processes every pending delivery; returns when none is left.
    ///
    /// # Errors
    /// Storage failures (what was not finished is processed again after its lease).
    pub async fn try_process_due(&self) -> Result<RelayReport, Error> {
        let mut report = RelayReport::default();
        loop {
            let claimed = self
                .store
                .claim_inbound(self.settings.lease, self.settings.batch)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            let mut selections: HashMap<WorkspaceId, RelaySelection> = HashMap::new();
            let mut batch = Vec::with_capacity(claimed.len());
            for inbound in &claimed {
                let workspace = inbound.owner.workspace;
                let selection = match selections.get(&workspace) {
                    Some(known) => known.clone(),
                    None => {
                        let fresh = self.selection(workspace).await?;
                        selections.insert(workspace, fresh.clone());
                        fresh
                    }
                };
                let outcome = outcome(inbound, &selection);
                if let InboundOutcome::Rejected(reason) = &outcome {
                    tracing::warn!(event = "amocrm_event_rejected", connection_id = %inbound.owner.connection, inbound_id = %inbound.id, reason = %reason, "a stored events delivery is not an event body");
                }
                batch.push(ProcessedInbound {
                    id: inbound.id,
                    lease: inbound.lease.clone(),
                    owner: inbound.owner,
                    received_at: inbound.received_at,
                    at: self.clock.now(),
                    outcome,
                });
            }
            let results = self.store.finish_inbound(&batch).await?;
            for (done, result) in batch.iter().zip(results) {
                match result {
                    Some(new) => {
                        report.handled += 1;
                        report.events += new;
                        report.rejected +=
                            usize::from(matches!(done.outcome, InboundOutcome::Rejected(_)));
                        if new > 0 {
                            tracing::info!(event = "amocrm_events_relayed", connection_id = %done.owner.connection, inbound_id = %done.id, new, "amoCRM events relayed");
                        }
                    }
                    None => {
                        tracing::warn!(inbound_id = %done.id, "events delivery lease lost before it was recorded");
                    }
                }
            }
        }
    }

    /// Processes deliveries as they are stored, forever.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.try_process_due().await {
                tracing::error!(error = %e, "amoCRM events processing failed; retrying");
            }
            let _ = tokio::time::timeout(self.settings.poll_every, self.stored.notified()).await;
        }
    }
}
