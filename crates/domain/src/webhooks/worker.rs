//! The delivery worker: background work as a queue that tests can drain.
//!
//! [`Deliverer::try_deliver_due`] leases what is due at a given time, sends it, and records the
//! outcome; it returns when nothing due is left, so tests drive it with a manual clock instead of
//! sleeping. [`Deliverer::run`] calls it in a loop for `amolink serve`. Any number of instances
//! may run it: deliveries are taken with compare-and-set leases, and an attempt's result is
//! stored only while its lease is still held.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::task::JoinSet;

use super::{
    AttemptOutcome, ClaimedDelivery, DeliveryStatus, EndpointChange, EndpointSecret,
    FinishedAttempt, SecretColumn, WebhookRequest, WebhookStore, WebhookTransport,
    schedule::{self, Verdict},
    signature_header,
};
use crate::{
    Error,
    activity::{ActivityKind, ActivityRecorder, NewActivity},
    clock::Clock,
    crypto::{Binding, Keyring},
};

/// Tuning of the worker.
#[derive(Debug, Clone, Copy)]
pub struct DelivererSettings {
    /// How long a claimed delivery is reserved: longer than one attempt can take (the transport's
    /// timeout), so a live worker never loses it, short enough that a dead worker's deliveries
    /// are picked up soon.
    pub lease: Duration,
    /// How many deliveries one claim takes (and sends concurrently).
    pub batch: u64,
    /// How often [`Deliverer::run`] looks for due deliveries.
    pub poll_every: Duration,
    /// When attempts are due (`AMOLINK_WEBHOOK_RETRY_OFFSETS`).
    pub schedule: schedule::RetrySchedule,
}

impl Default for DelivererSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            batch: 16,
            poll_every: Duration::from_secs(1),
            schedule: schedule::RetrySchedule::default(),
        }
    }
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub attempted: u32,
    pub delivered: u32,
    /// Failed attempts that will be retried.
    pub retrying: u32,
    /// Deliveries that gave up (410, or the schedule ran out).
    pub failed: u32,
}

/// Sends due deliveries.
#[derive(Clone)]
pub struct Deliverer {
    store: Arc<dyn WebhookStore>,
    transport: Arc<dyn WebhookTransport>,
    keyring: Arc<Keyring>,
    settings: DelivererSettings,
    /// Records each attempt in its connection's activity.
    activity: ActivityRecorder,
}

/// A bound on claim rounds per drain, so a store that keeps handing out work cannot trap the
/// caller in an endless loop.
const MAX_ROUNDS: usize = 1000;

impl Deliverer {
    #[must_use]
    pub fn new(
        store: Arc<dyn WebhookStore>,
        transport: Arc<dyn WebhookTransport>,
        keyring: Arc<Keyring>,
        settings: DelivererSettings,
    ) -> Self {
        Self {
            store,
            transport,
            keyring,
            settings,
            activity: ActivityRecorder::disabled(),
        }
    }

    /// Records every attempt in the activity of the connection it is about.
    #[must_use]
    pub fn with_activity(mut self, activity: ActivityRecorder) -> Self {
        self.activity = activity;
        self
    }

    /// Delivers everything due at `now`, batch by batch, until nothing due is left.
    ///
    /// A failed attempt is rescheduled at least a second after `now`, so it is not due again in
    /// the same drain.
    ///
    /// # Errors
    /// When storage fails while claiming (attempt results that cannot be stored are logged and
    /// their leases simply expire).
    pub async fn try_deliver_due(&self, now: DateTime<Utc>) -> Result<DeliveryReport, Error> {
        let mut report = DeliveryReport::default();
        for _ in 0..MAX_ROUNDS {
            let claim = self
                .store
                .claim_due(now, self.settings.lease, self.settings.batch)
                .await?;
            if claim.deliveries.is_empty() {
                break;
            }
            let timestamp = claim.database_now.timestamp();
            let mut attempts = JoinSet::new();
            for delivery in claim.deliveries {
                let this = self.clone();
                attempts.spawn(async move { this.attempt(delivery, now, timestamp).await });
            }
            while let Some(joined) = attempts.join_next().await {
                report.attempted += 1;
                match joined {
                    Ok(Some(DeliveryStatus::Delivered)) => report.delivered += 1,
                    Ok(Some(DeliveryStatus::Pending)) => report.retrying += 1,
                    Ok(Some(DeliveryStatus::Failed)) => report.failed += 1,
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "webhook attempt task failed"),
                }
            }
        }
        Ok(report)
    }

    /// Runs [`Deliverer::try_deliver_due`] forever, every `poll_every`.
    pub async fn run(self, clock: Arc<dyn Clock>) {
        let mut tick = tokio::time::interval(self.settings.poll_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.try_deliver_due(clock.now()).await {
                tracing::warn!(error = %e, "webhook delivery round failed; retrying later");
            }
        }
    }

    fn open(
        &self,
        delivery: &ClaimedDelivery,
        sealed: &str,
        column: SecretColumn,
    ) -> Option<SecretString> {
        let binding = Binding {
            workspace: delivery.endpoint.workspace,
            row: delivery.endpoint.id.as_uuid(),
            column: column.as_str(),
        };
        self.keyring.open(sealed, &binding).ok()
    }

    /// The secrets that sign this attempt: the current one, and the previous one during a
    /// rotation's overlap.
    fn secrets(
        &self,
        delivery: &ClaimedDelivery,
        now: DateTime<Utc>,
    ) -> Option<Vec<EndpointSecret>> {
        let current = self.open(delivery, &delivery.endpoint.secret, SecretColumn::Current)?;
        let mut secrets = vec![EndpointSecret::parse(current.expose_secret()).ok()?];
        if let Some(previous) = delivery
            .endpoint
            .overlapping_secret(now)
            .and_then(|sealed| self.open(delivery, sealed, SecretColumn::Previous))
            .and_then(|text| EndpointSecret::parse(text.expose_secret()).ok())
        {
            secrets.push(previous);
        }
        Some(secrets)
    }

    /// One attempt; answers the delivery's new status, or `None` if it could not be recorded.
    async fn attempt(
        &self,
        delivery: ClaimedDelivery,
        now: DateTime<Utc>,
        timestamp: i64,
    ) -> Option<DeliveryStatus> {
        let started = std::time::Instant::now();
        let outcome = match self.secrets(&delivery, now) {
            Some(secrets) => {
                let signers: Vec<&EndpointSecret> = secrets.iter().collect();
                let request = WebhookRequest {
                    url: delivery.endpoint.url.as_url().clone(),
                    id: delivery.message_id.to_string(),
                    timestamp,
                    signature: signature_header(
                        &signers,
                        delivery.message_id.as_str(),
                        timestamp,
                        delivery.payload.as_bytes(),
                    ),
                    body: delivery.payload.clone(),
                };
                self.transport.send(&request).await
            }
            None => {
                // A key removed from the ring too early, or a corrupted row: nothing can be
                // signed, so nothing is sent; the schedule retries in case keys are restored.
                tracing::error!(
                    event = "webhook_secret_unreadable",
                    workspace_id = %delivery.endpoint.workspace,
                    endpoint_id = %delivery.endpoint.id,
                    "a webhook secret could not be opened"
                );
                AttemptOutcome::Failed {
                    reason: "the endpoint secret could not be read".into(),
                }
            }
        };
        let attempts = delivery.attempts.saturating_add(1);
        let verdict = schedule::verdict_on(
            &self.settings.schedule,
            &outcome,
            attempts,
            now,
            rand::random::<f64>(),
        );
        let finished = finish(&delivery, &outcome, &verdict, attempts, now);
        self.record_activity(&delivery, &finished, started.elapsed(), now);
        tracing::info!(
            event = "webhook_attempt",
            workspace_id = %delivery.endpoint.workspace,
            endpoint_id = %delivery.endpoint.id,
            webhook_id = %delivery.message_id,
            event_type = %delivery.event_type,
            attempt = attempts,
            response_status = finished.response_status,
            status = finished.status.as_str(),
            "webhook attempt"
        );
        if let EndpointChange::Disable(reason) = &finished.endpoint_change {
            tracing::warn!(
                event = "webhook_endpoint_disabled",
                workspace_id = %delivery.endpoint.workspace,
                endpoint_id = %delivery.endpoint.id,
                reason = %reason,
                "webhook endpoint disabled"
            );
        }
        match self.store.finish_attempt(&finished).await {
            Ok(true) => Some(finished.status),
            Ok(false) => {
                tracing::warn!(webhook_id = %delivery.message_id, "webhook lease lost before the attempt was recorded");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, webhook_id = %delivery.message_id, "webhook attempt could not be recorded");
                None
            }
        }
    }
}

impl Deliverer {
    /// The attempt in its connection's activity: the event type, the endpoint's status, how
    /// long it took and the payload's size. Never the URL (it may hold the tenant's secrets).
    fn record_activity(
        &self,
        delivery: &ClaimedDelivery,
        finished: &FinishedAttempt,
        took: Duration,
        now: DateTime<Utc>,
    ) {
        let Some(connection) = delivery.connection else {
            return;
        };
        let outcome = match finished.status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retrying",
            DeliveryStatus::Failed => "failed",
        };
        let mut entry = NewActivity::new(
            delivery.endpoint.workspace,
            connection,
            now,
            ActivityKind::WebhookDelivery,
            outcome,
        );
        entry.path = Some(delivery.event_type.as_str().to_owned());
        entry.status = finished.response_status;
        entry.latency_ms = Some(u32::try_from(took.as_millis()).unwrap_or(u32::MAX));
        entry.request_bytes = Some(delivery.payload.len() as u64);
        self.activity.record(entry);
    }
}

/// Turns a verdict into the row update.
fn finish(
    delivery: &ClaimedDelivery,
    outcome: &AttemptOutcome,
    verdict: &Verdict,
    attempts: u32,
    now: DateTime<Utc>,
) -> FinishedAttempt {
    let (response_status, error) = match outcome {
        AttemptOutcome::Responded { status, .. } if (200..300).contains(status) => {
            (Some(*status), None)
        }
        AttemptOutcome::Responded { status, .. } => (
            Some(*status),
            Some(format!("the endpoint answered {status}")),
        ),
        AttemptOutcome::Failed { reason } => (None, Some(reason.clone())),
    };
    let (status, next_attempt_at, endpoint_change) = match verdict {
        Verdict::Delivered => (DeliveryStatus::Delivered, None, EndpointChange::Succeeded),
        Verdict::RetryAt(at) => (DeliveryStatus::Pending, Some(*at), EndpointChange::None),
        Verdict::Gone => (
            DeliveryStatus::Failed,
            None,
            EndpointChange::Disable("The endpoint answered 410 Gone.".into()),
        ),
        Verdict::Exhausted => {
            // A day of failures with no success since this delivery was queued: the endpoint is
            // dead, so stop spending attempts on it until the tenant turns it back on.
            let silent = delivery
                .endpoint
                .last_success_at
                .is_none_or(|success| success < delivery.created_at);
            let change = if silent {
                EndpointChange::Disable("Every delivery attempt failed for a day.".into())
            } else {
                EndpointChange::None
            };
            (DeliveryStatus::Failed, None, change)
        }
    };
    FinishedAttempt {
        delivery: delivery.id,
        lease: delivery.lease.clone(),
        workspace: delivery.endpoint.workspace,
        endpoint: delivery.endpoint.id,
        status,
        attempts,
        next_attempt_at,
        at: now,
        response_status,
        error,
        endpoint_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::WorkspaceId,
        webhooks::{
            DeliveryId, DestinationPolicy, EndpointId, EndpointRecord, EndpointUrl, EventType,
            EventTypes, MessageId,
        },
    };

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + secs, 0).expect("valid")
    }

    fn delivery(last_success: Option<DateTime<Utc>>) -> ClaimedDelivery {
        ClaimedDelivery {
            id: DeliveryId::random(),
            lease: "lease".into(),
            message_id: MessageId::random(),
            event_type: EventType::Created,
            payload: "{}".into(),
            connection: None,
            attempts: 9,
            created_at: at(0),
            endpoint: EndpointRecord {
                id: EndpointId::random(),
                workspace: WorkspaceId::random(),
                url: EndpointUrl::parse("https://example.com/", DestinationPolicy::PublicHttpsOnly)
                    .expect("valid"),
                events: EventTypes::parse(["connection.created"]).expect("valid"),
                secret: String::new(),
                previous_secret: None,
                previous_secret_until: None,
                enabled: true,
                disabled_reason: None,
                last_success_at: last_success,
                created_at: at(-100),
            },
        }
    }

    fn failed() -> AttemptOutcome {
        AttemptOutcome::Responded {
            status: 500,
            retry_after: None,
        }
    }

    #[test]
    fn an_exhausted_delivery_disables_only_an_endpoint_silent_since_it_was_queued() {
        let now = at(24 * 3600);
        let silent = finish(&delivery(None), &failed(), &Verdict::Exhausted, 10, now);
        assert_eq!(silent.status, DeliveryStatus::Failed);
        assert!(matches!(silent.endpoint_change, EndpointChange::Disable(_)));
        let stale_success = finish(
            &delivery(Some(at(-50))),
            &failed(),
            &Verdict::Exhausted,
            10,
            now,
        );
        assert!(matches!(
            stale_success.endpoint_change,
            EndpointChange::Disable(_)
        ));
        let alive = finish(
            &delivery(Some(at(3600))),
            &failed(),
            &Verdict::Exhausted,
            10,
            now,
        );
        assert_eq!(alive.endpoint_change, EndpointChange::None);
        assert_eq!(alive.error.as_deref(), Some("the endpoint answered 500"));
    }

    #[test]
    fn outcomes_become_row_updates() {
        let d = delivery(None);
        let ok = AttemptOutcome::Responded {
            status: 204,
            retry_after: None,
        };
        let done = finish(&d, &ok, &Verdict::Delivered, 1, at(5));
        assert_eq!(
            (
                done.status,
                done.response_status,
                done.error,
                done.next_attempt_at
            ),
            (DeliveryStatus::Delivered, Some(204), None, None)
        );
        assert_eq!(done.endpoint_change, EndpointChange::Succeeded);
        let timeout = AttemptOutcome::Failed {
            reason: "timed out".into(),
        };
        let retry = finish(&d, &timeout, &Verdict::RetryAt(at(10)), 1, at(5));
        assert_eq!(
            (retry.status, retry.response_status, retry.next_attempt_at),
            (DeliveryStatus::Pending, None, Some(at(10)))
        );
        assert_eq!(retry.error.as_deref(), Some("timed out"));
        assert_eq!(retry.lease, "lease");
    }
}
