//! The journal: an append-only record of what the simulator saw and did.
//!
//! Its purpose is to let a test answer questions a client cannot answer about itself, above all
//! "which refresh token did the client present, and was it the latest?". It never stores secrets:
//! requests are recorded without query values or bodies, tokens only by fingerprint or `jti`.

use std::collections::VecDeque;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::hosts::request_host;
use crate::observe::Presented;
use crate::sim::Sim;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    /// Position in the journal, starting at 1; use it with `?since=`.
    pub seq: u64,
    /// Simulator clock time.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// An HTTP request to a simulated host (admin calls are not recorded).
    Request {
        host: String,
        method: String,
        path: String,
        /// Names (never values) of the query parameters.
        query_keys: Vec<String>,
        /// Route name (see [`crate::Route`]), if the request reached a simulator route.
        route: Option<String>,
        status: u16,
        client_id: Option<String>,
        account_id: Option<i64>,
    },
    /// An integration was created by the metadata button.
    IntegrationCreated { client_id: String, account_id: i64 },
    /// The secrets webhook was delivered (or failed).
    SecretsDelivered {
        client_id: String,
        url: String,
        status: Option<u16>,
        error: Option<String>,
        accepted: bool,
    },
    /// An authorization code was handed to the browser.
    CodeIssued { client_id: String, account_id: i64 },
    /// A token pair was issued.
    TokenIssued {
        client_id: String,
        account_id: i64,
        grant_id: u64,
        rt_fingerprint: String,
        at_jti: String,
        issued_at: DateTime<Utc>,
        /// `authorization_code` or `refresh_token`.
        via: String,
    },
    /// A refresh token was presented at the token endpoint.
    RefreshPresented {
        client_id: String,
        rt_fingerprint: String,
        /// The token is the newest one of its grant.
        latest: bool,
        accepted: bool,
        /// It was an already rotated-out token and got rejected.
        stale_refresh_token: bool,
        /// The error hint, when rejected.
        hint: Option<String>,
    },
    /// The integration was uninstalled; its tokens are dead.
    Uninstalled { client_id: String },
    /// The integration's secret was regenerated; every grant was revoked.
    SecretRegenerated { client_id: String },
    /// The disconnect hook was sent.
    DisconnectHookSent {
        client_id: String,
        account_id: i64,
        status: Option<u16>,
        error: Option<String>,
    },
    /// An account changed its subdomain.
    SubdomainRenamed {
        account_id: i64,
        from: String,
        to: String,
    },
    /// A webhook subscription was created, or re-posted (`replaced`: settings replaced, re-armed).
    WebhookSubscribed {
        account_id: i64,
        webhook_id: i64,
        destination: String,
        settings: Vec<String>,
        replaced: bool,
    },
    /// A webhook subscription was deleted.
    WebhookUnsubscribed {
        account_id: i64,
        webhook_id: i64,
        destination: String,
    },
    /// A subscription was switched off (more than 100 invalid answers in 2 h).
    WebhookDisabled {
        account_id: i64,
        webhook_id: i64,
        destination: String,
        invalid_answers: usize,
    },
    /// One attempt to deliver a webhook, and what follows it.
    WebhookDelivery {
        account_id: i64,
        webhook_id: i64,
        delivery_id: u64,
        destination: String,
        /// The `settings` codes the event answers to.
        events: Vec<String>,
        attempt: u32,
        /// `X-Amocrm-Requestid` of the attempt.
        request_id: String,
        /// `None`: no answer within 2 s, or no connection.
        status: Option<u16>,
        error: Option<String>,
        /// `delivered`, `retry` or `failed`.
        outcome: String,
        next_attempt_at: Option<DateTime<Utc>>,
    },
    /// A delivery the drop knob swallowed.
    WebhookDropped {
        account_id: i64,
        destination: String,
        events: Vec<String>,
    },
}

/// The journal itself: a ring of the latest `capacity` entries. `seq` keeps counting when old
/// entries fall out, so `since` stays meaningful; the witness keeps its own exact tallies.
#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<JournalEntry>,
    capacity: usize,
    last_seq: u64,
}

impl Journal {
    /// An empty journal keeping at most `capacity` entries (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
            last_seq: 0,
        }
    }

    /// Appends an event stamped with the simulator time, dropping the oldest entry when full.
    pub fn push(&mut self, at: DateTime<Utc>, event: Event) {
        self.last_seq += 1;
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(JournalEntry {
            seq: self.last_seq,
            at,
            event,
        });
    }

    /// Retained entries with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<JournalEntry> {
        let first = self.entries.front().map_or(self.last_seq + 1, |e| e.seq);
        let skip = usize::try_from(since.saturating_add(1).saturating_sub(first))
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        self.entries.range(skip..).cloned().collect()
    }

    /// The `seq` of the newest entry ever recorded (retained or not).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Changes the capacity, dropping the oldest entries beyond it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        let excess = self.entries.len().saturating_sub(capacity);
        self.entries.drain(..excess);
    }
}

/// What a handler learned about a request, attached to the request so the journal middleware can
/// record it whatever the outcome.
#[derive(Debug, Clone, Default)]
pub struct Involved {
    pub route: Option<&'static str>,
    pub client_id: Option<String>,
    pub account_id: Option<i64>,
}

/// Records the request's route in its extensions.
pub fn note_route(req: &actix_web::HttpRequest, route: &'static str) {
    update_involved(req, |involved| involved.route = Some(route));
}

/// Records which integration and account a request concerned.
pub fn note_client(req: &actix_web::HttpRequest, client_id: &str, account_id: Option<i64>) {
    update_involved(req, |involved| {
        involved.client_id = Some(client_id.to_owned());
        if account_id.is_some() {
            involved.account_id = account_id;
        }
    });
}

fn update_involved(req: &actix_web::HttpRequest, update: impl FnOnce(&mut Involved)) {
    let mut extensions = req.extensions_mut();
    if extensions.get::<Involved>().is_none() {
        extensions.insert(Involved::default());
    }
    if let Some(involved) = extensions.get_mut::<Involved>() {
        update(involved);
    }
}

/// Middleware that journals every request passing through the simulated hosts.
pub struct RecordRequests {
    pub sim: Sim,
}

impl<S, B> Transform<S, ServiceRequest> for RecordRequests
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RecordRequestsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RecordRequestsService {
            service: Rc::new(service),
            sim: self.sim.clone(),
        }))
    }
}

/// The service [`RecordRequests`] wraps around the simulator's routes.
pub struct RecordRequestsService<S> {
    service: Rc<S>,
    sim: Sim,
}

impl<S, B> Service<ServiceRequest> for RecordRequestsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let host = req
            .match_info()
            .get(crate::site::HOST_SEGMENT)
            .map(str::to_ascii_lowercase)
            .or_else(|| request_host(req.head()))
            .unwrap_or_default();
        let method = req.method().to_string();
        let path = req.path().to_owned();
        let query_keys = url::form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(key, _)| key.into_owned())
            .collect();
        // Counted on arrival, whatever the answer will be.
        let arrival = Presented::of_api_request(&host, &path, req.head()).and_then(|presented| {
            self.sim
                .with_state(|s| s.observe_api_arrival(&presented, &path))
        });
        let service = Rc::clone(&self.service);
        let sim = self.sim.clone();
        Box::pin(async move {
            let res = service.call(req).await?;
            let involved = res
                .request()
                .extensions()
                .get::<Involved>()
                .cloned()
                .unwrap_or_default();
            let status = res.status().as_u16();
            sim.with_state(|s| {
                if status == 401
                    && let Some(client_id) = &arrival
                {
                    s.observe_api_refusal(client_id);
                }
                s.record(Event::Request {
                    host,
                    method,
                    path,
                    query_keys,
                    route: involved.route.map(str::to_owned),
                    status,
                    client_id: involved.client_id.or(arrival),
                    account_id: involved.account_id,
                });
            });
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Event {
        Event::CodeIssued {
            client_id: String::new(),
            account_id: n,
        }
    }

    #[test]
    fn ring_keeps_the_latest_and_seq_keeps_counting() {
        let mut journal = Journal::new(3);
        let now = Utc::now();
        for n in 1..=5 {
            journal.push(now, event(n));
        }
        let seqs = |entries: Vec<JournalEntry>| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(journal.since(0)), vec![3, 4, 5]);
        assert_eq!(seqs(journal.since(3)), vec![4, 5]);
        assert_eq!(seqs(journal.since(5)), Vec::<u64>::new());
        assert_eq!(seqs(journal.since(99)), Vec::<u64>::new());
        journal.set_capacity(1);
        assert_eq!(seqs(journal.since(0)), vec![5]);
        journal.set_capacity(0);
        journal.push(now, event(6));
        assert_eq!((journal.since(0).len(), journal.last_seq()), (0, 6));
    }
}
