//! Deliveries of account webhooks: the queue on the simulator clock, the retry ladder, and the
//! knobs that make delivery misbehave on purpose (duplicates, reordering, drops).
//!
//! The ladder (amoCRM's table): the first attempt at once; after any invalid answer the second
//! 5 min later and the third 15 min after that; a fourth (15 min) and fifth (1 h) only follow a
//! 499 or 5xx. A timeout or a refused connection counts as code 0. Success is 100–299 only.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long amoCRM waits for an answer.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Finished deliveries kept for inspection (pending ones are always kept).
const KEEP_FINISHED: usize = 10_000;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// An attempt is on the wire.
    InFlight,
    /// Held back by the reorder knob until the next delivery has been sent.
    Held,
    /// Answered 100–299.
    Delivered,
    /// The ladder ran out.
    Failed,
    /// Dropped by the drop knob: never sent.
    Dropped,
    /// Its subscription was removed or switched off.
    Cancelled,
}

impl DeliveryState {
    fn finished(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Failed | Self::Dropped | Self::Cancelled
        )
    }
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub number: u32,
    /// Simulator time the attempt was answered (or gave up).
    pub at: DateTime<Utc>,
    /// `X-Amocrm-Requestid` of this attempt (a new one every attempt).
    pub request_id: String,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// One event on its way to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: u64,
    pub account_id: i64,
    pub webhook_id: i64,
    pub destination: String,
    /// The `settings` codes the event answers to, e.g. `["status_lead"]`.
    pub events: Vec<String>,
    /// `leads[status]`-style key of the body.
    pub key: String,
    /// The form body, exactly as sent.
    pub body: String,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// For a held delivery: released once this delivery has had an attempt.
    #[serde(skip)]
    release_after: Option<u64>,
}

/// Misbehaviour to apply to the next deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HookKnobKind {
    /// Send the delivery twice (two independent deliveries, each with its own retries).
    Duplicate,
    /// Hold the delivery back and send it right after the next one.
    Reorder,
    /// Never send the delivery; `event` limits it to deliveries of that code (`status_lead`).
    Drop {
        #[serde(default)]
        event: Option<String>,
    },
}

/// A knob and how many deliveries it still applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookKnob {
    #[serde(flatten)]
    pub kind: HookKnobKind,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Something the sender must do now.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub delivery_id: u64,
    pub attempt: u32,
    pub destination: String,
    pub body: String,
    pub request_id: String,
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Another attempt at this simulator time.
    Retry(DateTime<Utc>),
    Failed,
}

/// The ladder: what follows attempt `number` answered `code` (0 = no answer) at `at`.
pub fn next_step(number: u32, code: u16, at: DateTime<Utc>) -> Verdict {
    if (100..300).contains(&code) {
        return Verdict::Delivered;
    }
    let server_side = code == 499 || (500..600).contains(&code);
    match number {
        1 => Verdict::Retry(at + Duration::minutes(5)),
        2 => Verdict::Retry(at + Duration::minutes(15)),
        3 if server_side => Verdict::Retry(at + Duration::minutes(15)),
        4 if server_side => Verdict::Retry(at + Duration::hours(1)),
        _ => Verdict::Failed,
    }
}

/// A new delivery, before knobs.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub account_id: i64,
    pub webhook_id: i64,
    pub destination: String,
    pub events: Vec<String>,
    pub key: String,
    pub body: String,
}

/// Every delivery and the knobs.
#[derive(Debug, Default)]
pub struct Deliveries {
    all: BTreeMap<u64, Delivery>,
    knobs: Vec<HookKnob>,
    next_id: u64,
    /// The delivery the reorder knob is holding back, waiting for the next one.
    held: Option<u64>,
}

impl Deliveries {
    /// Queues a delivery for now, applying the first knob that fits; returns the ids queued
    /// (none when dropped, two when duplicated).
    pub fn queue(
        &mut self,
        new: NewDelivery,
        now: DateTime<Utc>,
    ) -> (Vec<u64>, Option<HookKnobKind>) {
        let knob = self.take_knob(&new.events);
        let mut make = |state: DeliveryState| {
            self.next_id += 1;
            let delivery = Delivery {
                id: self.next_id,
                account_id: new.account_id,
                webhook_id: new.webhook_id,
                destination: new.destination.clone(),
                events: new.events.clone(),
                key: new.key.clone(),
                body: new.body.clone(),
                state,
                attempts: Vec::new(),
                next_attempt_at: (state == DeliveryState::Pending).then_some(now),
                release_after: None,
            };
            self.all.insert(delivery.id, delivery);
            self.next_id
        };
        let ids = match &knob {
            Some(HookKnobKind::Drop { .. }) => {
                make(DeliveryState::Dropped);
                Vec::new()
            }
            Some(HookKnobKind::Duplicate) => {
                vec![make(DeliveryState::Pending), make(DeliveryState::Pending)]
            }
            Some(HookKnobKind::Reorder) => vec![make(DeliveryState::Held)],
            None => vec![make(DeliveryState::Pending)],
        };
        match (&knob, self.held) {
            (Some(HookKnobKind::Reorder), _) => self.held = ids.first().copied(),
            (_, Some(held)) if !ids.is_empty() => {
                if let Some(delivery) = self.all.get_mut(&held) {
                    delivery.release_after = ids.first().copied();
                }
                self.held = None;
            }
            _ => {}
        }
        self.prune();
        (ids, knob)
    }

    fn take_knob(&mut self, events: &[String]) -> Option<HookKnobKind> {
        let index = self.knobs.iter().position(|k| match &k.kind {
            HookKnobKind::Drop { event: Some(code) } => events.iter().any(|e| e == code),
            _ => true,
        })?;
        let knob = &mut self.knobs[index];
        let kind = knob.kind.clone();
        knob.count = knob.count.saturating_sub(1);
        if knob.count == 0 {
            self.knobs.remove(index);
        }
        Some(kind)
    }

    /// Marks due deliveries in flight and returns what to send. A held delivery becomes due once
    /// the delivery it waits for has had an attempt.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Dispatch> {
        let released: Vec<u64> = self
            .all
            .values()
            .filter(|d| d.state == DeliveryState::Held)
            .filter(|d| {
                d.release_after.is_some_and(|after| {
                    self.all
                        .get(&after)
                        .is_none_or(|a| !a.attempts.is_empty() || a.state.finished())
                })
            })
            .map(|d| d.id)
            .collect();
        for id in released {
            if let Some(delivery) = self.all.get_mut(&id) {
                delivery.state = DeliveryState::Pending;
                delivery.next_attempt_at = Some(now);
            }
        }
        // One attempt in flight per destination, oldest delivery first: a destination receives
        // its deliveries in order, unless a knob or a retry says otherwise.
        let mut busy: HashSet<String> = self
            .all
            .values()
            .filter(|d| d.state == DeliveryState::InFlight)
            .map(|d| d.destination.clone())
            .collect();
        let mut due = Vec::new();
        for d in self.all.values_mut() {
            let ready =
                d.state == DeliveryState::Pending && d.next_attempt_at.is_some_and(|at| at <= now);
            if !ready || busy.contains(&d.destination) {
                continue;
            }
            busy.insert(d.destination.clone());
            d.state = DeliveryState::InFlight;
            due.push(Dispatch {
                delivery_id: d.id,
                attempt: u32::try_from(d.attempts.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1),
                destination: d.destination.clone(),
                body: d.body.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
            });
        }
        due
    }

    /// Records an attempt's answer and applies the ladder; returns the delivery and the verdict.
    pub fn answered(
        &mut self,
        dispatch: &Dispatch,
        status: Option<u16>,
        error: Option<String>,
        at: DateTime<Utc>,
    ) -> Option<(&Delivery, Verdict)> {
        let delivery = self.all.get_mut(&dispatch.delivery_id)?;
        delivery.attempts.push(Attempt {
            number: dispatch.attempt,
            at,
            request_id: dispatch.request_id.clone(),
            status,
            error,
        });
        let verdict = next_step(dispatch.attempt, status.unwrap_or(0), at);
        if delivery.state == DeliveryState::InFlight {
            match verdict {
                Verdict::Delivered => {
                    delivery.state = DeliveryState::Delivered;
                    delivery.next_attempt_at = None;
                }
                Verdict::Retry(next) => {
                    delivery.state = DeliveryState::Pending;
                    delivery.next_attempt_at = Some(next);
                }
                Verdict::Failed => {
                    delivery.state = DeliveryState::Failed;
                    delivery.next_attempt_at = None;
                }
            }
        }
        Some((&*delivery, verdict))
    }

    /// Stops every unfinished delivery of a subscription.
    pub fn cancel(&mut self, webhook_id: i64) {
        for delivery in self.all.values_mut() {
            if delivery.webhook_id == webhook_id && !delivery.state.finished() {
                delivery.state = DeliveryState::Cancelled;
                delivery.next_attempt_at = None;
            }
        }
    }

    /// Deliveries of an account, oldest first.
    pub fn of(&self, account_id: i64) -> Vec<Delivery> {
        self.all
            .values()
            .filter(|d| d.account_id == account_id)
            .cloned()
            .collect()
    }

    pub fn set_knob(&mut self, knob: HookKnob) {
        if knob.count > 0 {
            self.knobs.push(knob);
        }
    }

    pub fn knobs(&self) -> Vec<HookKnob> {
        self.knobs.clone()
    }

    /// Removes every knob and releases a held delivery.
    pub fn clear_knobs(&mut self, now: DateTime<Utc>) {
        self.knobs.clear();
        if let Some(held) = self.held.take()
            && let Some(delivery) = self.all.get_mut(&held)
            && delivery.state == DeliveryState::Held
        {
            delivery.state = DeliveryState::Pending;
            delivery.next_attempt_at = Some(now);
        }
    }

    /// Forgets the oldest finished deliveries beyond the bound.
    fn prune(&mut self) {
        let finished = self.all.values().filter(|d| d.state.finished()).count();
        if finished <= KEEP_FINISHED {
            return;
        }
        let excess = finished - KEEP_FINISHED;
        let old: Vec<u64> = self
            .all
            .values()
            .filter(|d| d.state.finished())
            .take(excess)
            .map(|d| d.id)
            .collect();
        for id in old {
            self.all.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder() {
        let t = Utc::now();
        assert_eq!(next_step(1, 204, t), Verdict::Delivered);
        assert_eq!(next_step(1, 0, t), Verdict::Retry(t + Duration::minutes(5)));
        assert_eq!(
            next_step(1, 302, t),
            Verdict::Retry(t + Duration::minutes(5))
        );
        assert_eq!(
            next_step(2, 404, t),
            Verdict::Retry(t + Duration::minutes(15))
        );
        assert_eq!(next_step(3, 404, t), Verdict::Failed);
        assert_eq!(next_step(3, 0, t), Verdict::Failed);
        assert_eq!(
            next_step(3, 499, t),
            Verdict::Retry(t + Duration::minutes(15))
        );
        assert_eq!(next_step(4, 503, t), Verdict::Retry(t + Duration::hours(1)));
        assert_eq!(next_step(5, 503, t), Verdict::Failed);
    }

    fn new(events: &[&str]) -> NewDelivery {
        NewDelivery {
            account_id: 1,
            webhook_id: 2,
            destination: "http://x".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            key: "leads[add]".into(),
            body: String::new(),
        }
    }

    #[test]
    fn knobs_drop_duplicate_and_reorder() {
        let mut queue = Deliveries::default();
        let now = Utc::now();
        queue.set_knob(HookKnob {
            kind: HookKnobKind::Drop {
                event: Some("status_lead".into()),
            },
            count: 1,
        });
        assert_eq!(
            queue.queue(new(&["update_lead"]), now).0.len(),
            1,
            "not a status hook"
        );
        assert!(queue.queue(new(&["status_lead"]), now).0.is_empty());
        assert_eq!(queue.queue(new(&["status_lead"]), now).0.len(), 1, "spent");
        queue.set_knob(HookKnob {
            kind: HookKnobKind::Duplicate,
            count: 1,
        });
        assert_eq!(queue.queue(new(&["add_lead"]), now).0.len(), 2);
        let mut sent = 0;
        loop {
            let due = queue.take_due(now);
            if due.is_empty() {
                break;
            }
            assert_eq!(due.len(), 1, "one at a time to a destination");
            queue.answered(&due[0], Some(200), None, now);
            sent += 1;
        }
        assert_eq!(sent, 4);

        queue.set_knob(HookKnob {
            kind: HookKnobKind::Reorder,
            count: 1,
        });
        let held = queue.queue(new(&["add_lead"]), now).0[0];
        assert!(queue.take_due(now).is_empty(), "held");
        let next = queue.queue(new(&["add_lead"]), now).0[0];
        let first = queue.take_due(now);
        assert_eq!(
            first.iter().map(|d| d.delivery_id).collect::<Vec<_>>(),
            vec![next]
        );
        queue.answered(&first[0], Some(200), None, now);
        let then = queue.take_due(now);
        assert_eq!(
            then.iter().map(|d| d.delivery_id).collect::<Vec<_>>(),
            vec![held]
        );
    }
}
