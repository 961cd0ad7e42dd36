//! Account webhooks ("WebHooks"), as `docs/amocrm-protocol.md` §10 describes them: the
//! `/api/v4/webhooks` subscription API, deliveries of entity changes in the real wire format,
//! the 2 s timeout, the retry ladder on the simulator clock, the disable rule, and knobs that
//! duplicate, reorder or drop deliveries.

pub mod admin;
pub mod api;
mod deliveries;
mod sender;
mod subscriptions;
mod wire;

use std::sync::Arc;

use tokio::sync::Notify;

pub use deliveries::{Attempt, Delivery, DeliveryState, HookKnob, HookKnobKind};
pub(crate) use sender::start as start_sender;
pub use subscriptions::WebhookView;

use deliveries::{Deliveries, Dispatch, NewDelivery, Verdict};
use subscriptions::{EVENT_CODES, Refusal, Subscribe, Subscriptions};
use wire::AccountBlock;

use crate::crm::Change;
use crate::journal::Event;
use crate::sim::{Sim, SimError};
use crate::store::State;

/// Subscriptions and deliveries of every account.
#[derive(Debug)]
pub struct Hooks {
    pub subscriptions: Subscriptions,
    pub deliveries: Deliveries,
    /// Wakes the sender when a delivery is queued.
    wake: Arc<Notify>,
}

impl Hooks {
    pub fn new(wake: Arc<Notify>) -> Self {
        Self {
            subscriptions: Subscriptions::default(),
            deliveries: Deliveries::default(),
            wake,
        }
    }
}

/// Why a subscribe request is malformed, per field (`path`, `detail`).
pub type Problems = Vec<(String, String)>;

/// Checks a subscribe request the way the API does.
pub fn check_subscribe(
    destination: &str,
    settings: &[String],
    sort: Option<i64>,
) -> Result<Subscribe, Problems> {
    let mut problems = Vec::new();
    let url_ok = url::Url::parse(destination)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !url_ok {
        problems.push((
            "destination".to_owned(),
            "This value is not a valid URL.".to_owned(),
        ));
    }
    if settings.is_empty() {
        problems.push((
            "settings".to_owned(),
            "This value should not be blank.".to_owned(),
        ));
    }
    let mut unique: Vec<String> = Vec::new();
    for (index, code) in settings.iter().enumerate() {
        if !EVENT_CODES.contains(&code.as_str()) {
            problems.push((
                format!("settings.{index}"),
                "The value you selected is not a valid choice.".to_owned(),
            ));
        } else if !unique.contains(code) {
            unique.push(code.clone());
        }
    }
    if problems.is_empty() {
        Ok(Subscribe {
            destination: destination.to_owned(),
            settings: unique,
            sort,
        })
    } else {
        Err(problems)
    }
}

impl State {
    /// Subscribes `destination` of an account (rights already checked).
    pub fn subscribe_webhook(
        &mut self,
        account_id: i64,
        request: Subscribe,
    ) -> Result<WebhookView, Refusal> {
        let now = self.clock.now().timestamp();
        let (view, replaced) = self
            .hooks
            .subscriptions
            .subscribe(account_id, request, now)?;
        self.record(Event::WebhookSubscribed {
            account_id,
            webhook_id: view.id,
            destination: view.destination.clone(),
            settings: view.settings.clone(),
            replaced,
        });
        Ok(view)
    }

    /// Removes the subscription of `destination`; its pending deliveries are dropped.
    pub fn unsubscribe_webhook(
        &mut self,
        account_id: i64,
        destination: &str,
    ) -> Result<(), Refusal> {
        let webhook_id = self
            .hooks
            .subscriptions
            .unsubscribe(account_id, destination)?;
        self.hooks.deliveries.cancel(webhook_id);
        self.record(Event::WebhookUnsubscribed {
            account_id,
            webhook_id,
            destination: destination.to_owned(),
        });
        Ok(())
    }

    /// Switches a subscription off as the disable rule would.
    fn disable_webhook(&mut self, account_id: i64, webhook_id: i64) {
        let Some(hook) = self.hooks.subscriptions.get_mut(account_id, webhook_id) else {
            return;
        };
        hook.disabled = true;
        let view = hook.view();
        self.hooks.deliveries.cancel(webhook_id);
        self.record(Event::WebhookDisabled {
            account_id,
            webhook_id,
            destination: view.destination,
            invalid_answers: view.invalid_in_window,
        });
    }

    /// Queues a delivery of `changes` to every subscription of the account that wants them.
    pub fn announce_to_hooks(&mut self, account_id: i64, changes: &[Change]) {
        if changes.is_empty() || self.hooks.subscriptions.of(account_id).is_empty() {
            return;
        }
        let Some(account) = self.accounts.get(&account_id) else {
            return;
        };
        let block = AccountBlock {
            id: account.id,
            subdomain: account.subdomain.clone(),
            host: account.host(),
        };
        let events = wire::events(changes, account.crm.catalog(), account_id);
        let now = self.clock.now();
        let mut dropped = Vec::new();
        for event in &events {
            let targets: Vec<(i64, String)> = self
                .hooks
                .subscriptions
                .of(account_id)
                .iter()
                .filter(|h| h.wants(&event.codes))
                .map(|h| (h.id, h.destination.clone()))
                .collect();
            for (webhook_id, destination) in targets {
                let new = NewDelivery {
                    account_id,
                    webhook_id,
                    destination: destination.clone(),
                    events: event.codes.iter().map(|c| (*c).to_owned()).collect(),
                    key: format!("{}[{}]", event.entity, event.action),
                    body: wire::body(&block, event),
                };
                let events = new.events.clone();
                let (_, knob) = self.hooks.deliveries.queue(new, now);
                if let Some(HookKnobKind::Drop { .. }) = knob {
                    dropped.push((destination, events));
                }
            }
        }
        for (destination, events) in dropped {
            self.record(Event::WebhookDropped {
                account_id,
                destination,
                events,
            });
        }
        self.hooks.wake.notify_one();
    }

    /// Records the answer to one attempt: the ladder decides what follows, and an invalid
    /// answer counts toward the disable rule.
    pub fn hook_answered(
        &mut self,
        dispatch: &Dispatch,
        status: Option<u16>,
        error: Option<String>,
    ) {
        let now = self.clock.now();
        let Some((delivery, verdict)) =
            self.hooks
                .deliveries
                .answered(dispatch, status, error.clone(), now)
        else {
            return;
        };
        let (account_id, webhook_id) = (delivery.account_id, delivery.webhook_id);
        let event = Event::WebhookDelivery {
            account_id,
            webhook_id,
            delivery_id: delivery.id,
            destination: delivery.destination.clone(),
            events: delivery.events.clone(),
            attempt: dispatch.attempt,
            request_id: dispatch.request_id.clone(),
            status,
            error,
            outcome: match verdict {
                Verdict::Delivered => "delivered",
                Verdict::Retry(_) => "retry",
                Verdict::Failed => "failed",
            }
            .to_owned(),
            next_attempt_at: delivery.next_attempt_at,
        };
        self.stats.webhook_attempts += 1;
        self.record(event);
        if verdict != Verdict::Delivered
            && self
                .hooks
                .subscriptions
                .get_mut(account_id, webhook_id)
                .is_some_and(|hook| hook.invalid_answer(now))
        {
            self.disable_webhook(account_id, webhook_id);
        }
    }
}

fn refused(refusal: Refusal) -> SimError {
    match refusal {
        Refusal::TooMany => SimError::Rejected("an account holds at most 100 webhooks".into()),
        Refusal::UnknownDestination => {
            SimError::Rejected("no webhook with this destination".into())
        }
    }
}

impl Sim {
    /// The account's webhook subscriptions.
    pub fn webhooks(&self, account_id: i64) -> Vec<WebhookView> {
        self.with_state(|s| s.hooks.subscriptions.list(account_id, None))
    }

    /// Every delivery to the account's subscriptions (the latest 10 000 finished ones and every
    /// unfinished one), oldest first, with their attempts.
    pub fn deliveries(&self, account_id: i64) -> Vec<Delivery> {
        self.with_state(|s| s.hooks.deliveries.of(account_id))
    }

    /// Subscribes `destination` as an administrator would in the interface (no rights or plan
    /// checks; the same validation as the API). Posting a destination again replaces its
    /// settings and re-arms it.
    pub fn subscribe_webhook(
        &self,
        account_id: i64,
        destination: &str,
        settings: &[&str],
    ) -> Result<WebhookView, SimError> {
        let settings: Vec<String> = settings.iter().map(|s| (*s).to_owned()).collect();
        let request = check_subscribe(destination, &settings, None).map_err(|problems| {
            SimError::Rejected(
                problems
                    .iter()
                    .map(|(path, detail)| format!("{path}: {detail}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        self.ensure_hook_sender();
        self.with_state(|s| {
            s.account_mut(account_id)?;
            s.subscribe_webhook(account_id, request).map_err(refused)
        })
    }

    /// Removes a subscription.
    pub fn unsubscribe_webhook(&self, account_id: i64, destination: &str) -> Result<(), SimError> {
        self.with_state(|s| {
            s.account_mut(account_id)?;
            s.unsubscribe_webhook(account_id, destination)
                .map_err(refused)
        })
    }

    /// Switches a subscription off, as amoCRM's disable rule would (re-POST re-arms it).
    pub fn disable_webhook(&self, account_id: i64, destination: &str) -> Result<(), SimError> {
        self.with_state(|s| {
            let id = s
                .hooks
                .subscriptions
                .find_mut(account_id, destination)
                .map(|h| h.id)
                .ok_or_else(|| refused(Refusal::UnknownDestination))?;
            s.disable_webhook(account_id, id);
            Ok(())
        })
    }

    /// Whether the account's plan includes API webhooks (402 on `/api/v4/webhooks` otherwise).
    pub fn set_account_webhooks_plan(
        &self,
        account_id: i64,
        allowed: bool,
    ) -> Result<(), SimError> {
        self.with_state(|s| s.account_mut(account_id).map(|a| a.api_webhooks = allowed))
    }

    /// Makes the next deliveries misbehave.
    pub fn set_hook_knob(&self, knob: HookKnob) {
        self.with_state(|s| s.hooks.deliveries.set_knob(knob));
    }

    /// The knobs still to apply.
    pub fn hook_knobs(&self) -> Vec<HookKnob> {
        self.with_state(|s| s.hooks.deliveries.knobs())
    }

    /// Removes every knob (a held delivery is released).
    pub fn clear_hook_knobs(&self) {
        self.with_state(|s| {
            let now = s.clock.now();
            s.hooks.deliveries.clear_knobs(now);
            s.hooks.wake.notify_one();
        });
    }
}
