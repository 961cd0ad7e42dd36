//! Account webhook subscriptions and their rules: keyed by destination URL (posting the same
//! destination again replaces its settings and re-arms it), at most 100 per account, known event
//! codes only, and the disable rule — more than 100 invalid answers within two hours with the
//! latest one invalid switches a subscription off.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::DEMO_USER_ID;

/// Most subscriptions one account may hold.
pub const MAX_PER_ACCOUNT: usize = 100;
/// Invalid answers within [`INVALID_WINDOW`] beyond which a subscription is switched off.
pub const INVALID_LIMIT: usize = 100;
/// The window of the disable rule.
pub const INVALID_WINDOW: Duration = Duration::hours(2);

/// Event codes `settings` may hold (amoCRM's and Kommo's lists, plus the incoming-lead codes
/// field projects use).
pub const EVENT_CODES: &[&str] = &[
    "add_lead",
    "update_lead",
    "delete_lead",
    "restore_lead",
    "status_lead",
    "responsible_lead",
    "note_lead",
    "add_contact",
    "update_contact",
    "delete_contact",
    "restore_contact",
    "responsible_contact",
    "note_contact",
    "add_company",
    "update_company",
    "delete_company",
    "restore_company",
    "responsible_company",
    "note_company",
    "add_customer",
    "update_customer",
    "delete_customer",
    "responsible_customer",
    "note_customer",
    "add_task",
    "update_task",
    "delete_task",
    "responsible_task",
    "add_talk",
    "update_talk",
    "add_message",
    "add_outgoing_message",
    "add_chat_template_review",
    "add_unsorted",
    "update_unsorted",
    "delete_unsorted",
];

/// One subscription.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: i64,
    pub account_id: i64,
    pub destination: String,
    pub settings: Vec<String>,
    pub sort: i64,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Simulator times of invalid answers within the window (at most `INVALID_LIMIT + 1`).
    invalid: VecDeque<DateTime<Utc>>,
}

/// A subscription as the API and the test API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookView {
    pub id: i64,
    pub destination: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub account_id: i64,
    pub created_by: i64,
    pub sort: i64,
    pub disabled: bool,
    pub settings: Vec<String>,
    /// Invalid answers within the last two hours (simulator only, not in amoCRM's JSON).
    #[serde(skip)]
    pub invalid_in_window: usize,
}

impl Webhook {
    pub fn view(&self) -> WebhookView {
        WebhookView {
            id: self.id,
            destination: self.destination.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            account_id: self.account_id,
            created_by: DEMO_USER_ID,
            sort: self.sort,
            disabled: self.disabled,
            settings: self.settings.clone(),
            invalid_in_window: self.invalid.len(),
        }
    }

    /// Whether a change reported under any of `codes` goes to this subscription.
    pub fn wants(&self, codes: &[&str]) -> bool {
        !self.disabled && codes.iter().any(|c| self.settings.iter().any(|s| s == c))
    }

    /// Counts an invalid answer at `at`; true when it switched the subscription off.
    pub fn invalid_answer(&mut self, at: DateTime<Utc>) -> bool {
        self.invalid.push_back(at);
        while self
            .invalid
            .front()
            .is_some_and(|t| at - *t > INVALID_WINDOW)
            || self.invalid.len() > INVALID_LIMIT + 1
        {
            self.invalid.pop_front();
        }
        // The answer just counted is the latest one, and it is invalid.
        if !self.disabled && self.invalid.len() > INVALID_LIMIT {
            self.disabled = true;
            return true;
        }
        false
    }
}

/// What a subscribe request asked for (already checked for shape).
#[derive(Debug, Clone)]
pub struct Subscribe {
    pub destination: String,
    pub settings: Vec<String>,
    pub sort: Option<i64>,
}

/// Why a subscription request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooMany,
    UnknownDestination,
}

/// Every subscription, per account.
#[derive(Debug, Default)]
pub struct Subscriptions {
    by_account: BTreeMap<i64, Vec<Webhook>>,
    next_id: i64,
}

impl Subscriptions {
    /// Adds a subscription, or replaces the settings of the one with the same destination and
    /// re-arms it. Returns it and whether it replaced one.
    pub fn subscribe(
        &mut self,
        account_id: i64,
        request: Subscribe,
        now: i64,
    ) -> Result<(WebhookView, bool), Refusal> {
        let hooks = self.by_account.entry(account_id).or_default();
        if let Some(hook) = hooks
            .iter_mut()
            .find(|h| h.destination == request.destination)
        {
            hook.settings = request.settings;
            hook.sort = request.sort.unwrap_or(hook.sort);
            hook.disabled = false;
            hook.invalid.clear();
            hook.updated_at = now;
            return Ok((hook.view(), true));
        }
        if hooks.len() >= MAX_PER_ACCOUNT {
            return Err(Refusal::TooMany);
        }
        self.next_id += 1;
        let hook = Webhook {
            id: 12_000_000 + self.next_id,
            account_id,
            destination: request.destination,
            settings: request.settings,
            sort: request.sort.unwrap_or(1),
            disabled: false,
            created_at: now,
            updated_at: now,
            invalid: VecDeque::new(),
        };
        let view = hook.view();
        hooks.push(hook);
        Ok((view, false))
    }

    /// Removes the subscription of `destination`; returns its id.
    pub fn unsubscribe(&mut self, account_id: i64, destination: &str) -> Result<i64, Refusal> {
        let hooks = self
            .by_account
            .get_mut(&account_id)
            .ok_or(Refusal::UnknownDestination)?;
        let index = hooks
            .iter()
            .position(|h| h.destination == destination)
            .ok_or(Refusal::UnknownDestination)?;
        Ok(hooks.remove(index).id)
    }

    /// The account's subscriptions, optionally only the one for `destination`.
    pub fn list(&self, account_id: i64, destination: Option<&str>) -> Vec<WebhookView> {
        self.by_account
            .get(&account_id)
            .into_iter()
            .flatten()
            .filter(|h| destination.is_none_or(|d| h.destination == d))
            .map(Webhook::view)
            .collect()
    }

    /// The account's subscriptions.
    pub fn of(&self, account_id: i64) -> &[Webhook] {
        self.by_account.get(&account_id).map_or(&[], Vec::as_slice)
    }

    /// A subscription by id.
    pub fn get_mut(&mut self, account_id: i64, id: i64) -> Option<&mut Webhook> {
        self.by_account
            .get_mut(&account_id)?
            .iter_mut()
            .find(|h| h.id == id)
    }

    /// A subscription by destination.
    pub fn find_mut(&mut self, account_id: i64, destination: &str) -> Option<&mut Webhook> {
        self.by_account
            .get_mut(&account_id)?
            .iter_mut()
            .find(|h| h.destination == destination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(destination: &str, settings: &[&str]) -> Subscribe {
        Subscribe {
            destination: destination.to_owned(),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            sort: None,
        }
    }

    #[test]
    fn keyed_by_destination_and_capped() {
        let mut subs = Subscriptions::default();
        let (first, replaced) = subs
            .subscribe(1, request("https://a/1", &["add_lead"]), 10)
            .expect("ok");
        assert!(!replaced);
        let (again, replaced) = subs
            .subscribe(1, request("https://a/1", &["status_lead"]), 20)
            .expect("ok");
        assert!(replaced);
        assert_eq!(
            (again.id, again.settings.clone()),
            (first.id, vec!["status_lead".into()])
        );
        for n in 2..=MAX_PER_ACCOUNT {
            subs.subscribe(1, request(&format!("https://a/{n}"), &["add_lead"]), 30)
                .expect("under the cap");
        }
        assert_eq!(
            subs.subscribe(1, request("https://a/101", &["add_lead"]), 40),
            Err(Refusal::TooMany)
        );
        assert!(
            subs.subscribe(2, request("https://a/101", &["add_lead"]), 40)
                .is_ok()
        );
        assert_eq!(subs.unsubscribe(1, "https://a/1"), Ok(first.id));
        assert_eq!(
            subs.unsubscribe(1, "https://a/1"),
            Err(Refusal::UnknownDestination)
        );
    }

    #[test]
    fn more_than_100_invalid_answers_in_two_hours_disable() {
        let mut subs = Subscriptions::default();
        let (view, _) = subs
            .subscribe(1, request("https://a", &["add_lead"]), 0)
            .expect("ok");
        let hook = subs.get_mut(1, view.id).expect("hook");
        let start = Utc::now();
        // One every two minutes: never more than 61 within two hours.
        for n in 0..150 {
            assert!(
                !hook.invalid_answer(start + Duration::minutes(2 * n)),
                "{n}"
            );
        }
        // During minute 301 the answers of minutes 182..=298 (59) are still in the window.
        let at = start + Duration::minutes(301);
        for n in 0..41 {
            assert!(!hook.invalid_answer(at + Duration::seconds(n)), "{n}");
        }
        assert!(hook.invalid_answer(at + Duration::seconds(41)), "the 101st");
        assert!(hook.disabled);
        assert!(!hook.wants(&["add_lead"]));
    }
}
