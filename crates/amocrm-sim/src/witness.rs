//! The witness: per-integration tallies of what a client did that amoCRM would hold against it —
//! bursts of API calls, token-endpoint calls too close together, rotated refresh tokens presented
//! again, access tokens used after they expired.
//!
//! It is kept apart from the journal and bounded per integration (never per request), so its
//! answers stay exact however long the simulator runs and however small the journal is. Limits
//! are given when asking ([`InvariantLimits`]), so the tallies are kept in a form that answers
//! for any limit: a histogram of window counts rather than "calls over 7".

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The sliding window of the API rate rule.
const WINDOW: Duration = Duration::from_secs(1);
/// Per integration, how many individual occurrences of each kind are kept for reporting (the
/// closest token-call gaps, the latest presentations and uses); the counts stay exact beyond it.
const KEEP: usize = 64;
/// Per integration, how many token-endpoint calls [`crate::Sim::token_calls`] can list.
const KEEP_TOKEN_CALLS: usize = 256;

/// What [`crate::Sim::violations`] judges the traffic against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvariantLimits {
    /// Most API arrivals one integration may have in any one-second window.
    pub api_calls_per_second: usize,
    /// Least simulator time between two token-endpoint calls of one integration, unless the
    /// simulator refused one of its API calls with 401 in between.
    pub min_token_call_gap: Duration,
}

impl Default for InvariantLimits {
    /// amoCRM's 7 calls per second, and 5 s between token calls.
    fn default() -> Self {
        Self {
            api_calls_per_second: 7,
            min_token_call_gap: Duration::from_secs(5),
        }
    }
}

/// A broken rule, with enough detail to find the culprit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// More API arrivals within one second than allowed (one entry per integration).
    ApiBurst {
        client_id: String,
        /// The most arrivals seen in any one-second window.
        count: usize,
        limit: usize,
        /// Arrivals that found more than `limit` arrivals (themselves included) in their window.
        excess_arrivals: u64,
        /// Simulator time the window first held more than `limit` arrivals.
        first_at: DateTime<Utc>,
    },
    /// Two consecutive token-endpoint calls closer than allowed with no 401 in between.
    TokenCallsTooClose {
        client_id: String,
        gap_ms: i64,
        min_gap_ms: i64,
        /// Simulator time of the later call.
        at: DateTime<Utc>,
        /// `grant_type` of the later call.
        grant_type: String,
    },
    /// A refresh token that was no longer the newest of its grant was presented (accepted by a
    /// grace rule or not).
    RotatedRefreshTokenPresented {
        client_id: String,
        rt_fingerprint: String,
        at: DateTime<Utc>,
        accepted: bool,
    },
    /// An API call presented an access token past its real expiry.
    ExpiredAccessTokenUsed {
        client_id: String,
        /// How long after the expiry (simulator clock).
        late_ms: i64,
        at: DateTime<Utc>,
        path: String,
    },
}

/// One call of the token endpoint, as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenCall {
    /// Simulator time of arrival.
    pub at: DateTime<Utc>,
    /// `grant_type` as sent (empty when missing).
    pub grant_type: String,
    /// The status answered; `None` while in flight or when the answer was a broken connection.
    pub status: Option<u16>,
    /// A new token pair was issued (the grant rotated), whether or not the client got it.
    pub issued: bool,
    /// Fingerprint of the presented refresh token.
    pub rt_fingerprint: Option<String>,
    /// Whether the presented refresh token was the newest of its grant (`None` if not judged).
    pub presented_latest: Option<bool>,
    /// The simulator answered 401 to an API call of this integration since its previous call.
    pub after_refusal: bool,
}

/// Names a token call in flight, so its outcome can be filled in.
#[derive(Debug, Clone)]
pub struct CallId {
    client_id: String,
    id: u64,
}

#[derive(Debug, Clone)]
struct Gap {
    ms: i64,
    at: DateTime<Utc>,
    grant_type: String,
}

#[derive(Debug, Clone)]
struct Presentation {
    rt_fingerprint: String,
    at: DateTime<Utc>,
    accepted: bool,
}

#[derive(Debug, Clone)]
struct LateUse {
    late_ms: i64,
    at: DateTime<Utc>,
    path: String,
}

/// Everything remembered about one integration.
#[derive(Debug, Default)]
struct Ledger {
    arrivals: u64,
    /// Arrival instants within the last second.
    window: VecDeque<Instant>,
    /// `found[c - 1]`: arrivals that found `c` arrivals (themselves included) in their window.
    /// A window grows by at most one per arrival, so its length is the largest count seen.
    found: Vec<u64>,
    /// `reached[c - 1]`: simulator time the window first held `c` arrivals.
    reached: Vec<DateTime<Utc>>,
    /// Simulator time of the latest 401 answered to an API call.
    last_refusal: Option<DateTime<Utc>>,
    token_calls: VecDeque<(u64, TokenCall)>,
    /// Simulator time of the latest token call.
    last_token_call: Option<DateTime<Utc>>,
    /// The smallest unexcused gaps between consecutive token calls, ascending.
    closest_gaps: Vec<Gap>,
    rotated: VecDeque<Presentation>,
    rotated_count: u64,
    late: VecDeque<LateUse>,
    late_count: u64,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, keep: usize) {
    if queue.len() == keep {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl Ledger {
    fn arrive(&mut self, now: Instant, at: DateTime<Utc>) {
        self.arrivals += 1;
        while self
            .window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.window.pop_front();
        }
        self.window.push_back(now);
        let count = self.window.len();
        if self.found.len() < count {
            self.found.resize(count, 0);
            self.reached.resize(count, at);
        }
        self.found[count - 1] += 1;
    }

    fn token_call(&mut self, id: u64, at: DateTime<Utc>, call: TokenCall) {
        if let Some(previous) = self.last_token_call {
            let excused = self.last_refusal.is_some_and(|r| r > previous);
            if !excused {
                let gap = Gap {
                    ms: (at - previous).num_milliseconds().max(0),
                    at,
                    grant_type: call.grant_type.clone(),
                };
                let position = self.closest_gaps.partition_point(|g| g.ms <= gap.ms);
                if position < KEEP {
                    self.closest_gaps.insert(position, gap);
                    self.closest_gaps.truncate(KEEP);
                }
            }
        }
        self.last_token_call = Some(at);
        push_bounded(&mut self.token_calls, (id, call), KEEP_TOKEN_CALLS);
    }

    fn call_mut(&mut self, id: u64) -> Option<&mut TokenCall> {
        self.token_calls
            .iter_mut()
            .rev()
            .find(|(call_id, _)| *call_id == id)
            .map(|(_, call)| call)
    }

    fn violations(&self, client_id: &str, limits: &InvariantLimits, out: &mut Vec<Violation>) {
        let limit = limits.api_calls_per_second;
        if self.found.len() > limit {
            out.push(Violation::ApiBurst {
                client_id: client_id.to_owned(),
                count: self.found.len(),
                limit,
                excess_arrivals: self.found[limit..].iter().sum(),
                first_at: self.reached[limit],
            });
        }
        let min_gap_ms = i64::try_from(limits.min_token_call_gap.as_millis()).unwrap_or(i64::MAX);
        out.extend(
            self.closest_gaps
                .iter()
                .take_while(|g| g.ms < min_gap_ms)
                .map(|g| Violation::TokenCallsTooClose {
                    client_id: client_id.to_owned(),
                    gap_ms: g.ms,
                    min_gap_ms,
                    at: g.at,
                    grant_type: g.grant_type.clone(),
                }),
        );
        out.extend(
            self.rotated
                .iter()
                .map(|p| Violation::RotatedRefreshTokenPresented {
                    client_id: client_id.to_owned(),
                    rt_fingerprint: p.rt_fingerprint.clone(),
                    at: p.at,
                    accepted: p.accepted,
                }),
        );
        out.extend(self.late.iter().map(|u| Violation::ExpiredAccessTokenUsed {
            client_id: client_id.to_owned(),
            late_ms: u.late_ms,
            at: u.at,
            path: u.path.clone(),
        }));
    }
}

/// Per-integration tallies (see the module documentation).
#[derive(Debug, Default)]
pub struct Witness {
    ledgers: HashMap<String, Ledger>,
    next_call: u64,
}

/// Exact totals, for the admin API and the stats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WitnessTotals {
    pub api_arrivals: u64,
    pub rotated_refresh_presentations: u64,
    pub expired_access_token_uses: u64,
}

impl Witness {
    fn ledger(&mut self, client_id: &str) -> &mut Ledger {
        self.ledgers.entry(client_id.to_owned()).or_default()
    }

    /// An API request of `client_id` arrived (whatever it will be answered).
    pub fn api_arrival(&mut self, client_id: &str, now: Instant, at: DateTime<Utc>) {
        self.ledger(client_id).arrive(now, at);
    }

    /// The simulator answered 401 to an API call of `client_id`.
    pub fn api_refused(&mut self, client_id: &str, at: DateTime<Utc>) {
        self.ledger(client_id).last_refusal = Some(at);
    }

    /// An API call presented an access token `late_ms` after its expiry.
    pub fn expired_token_used(
        &mut self,
        client_id: &str,
        at: DateTime<Utc>,
        late_ms: i64,
        path: &str,
    ) {
        let ledger = self.ledger(client_id);
        ledger.late_count += 1;
        let late = LateUse {
            late_ms,
            at,
            path: path.to_owned(),
        };
        push_bounded(&mut ledger.late, late, KEEP);
    }

    /// A refresh token that was not the newest of its grant was presented.
    pub fn rotated_presented(
        &mut self,
        client_id: &str,
        at: DateTime<Utc>,
        rt_fingerprint: String,
        accepted: bool,
    ) {
        let ledger = self.ledger(client_id);
        ledger.rotated_count += 1;
        let presentation = Presentation {
            rt_fingerprint,
            at,
            accepted,
        };
        push_bounded(&mut ledger.rotated, presentation, KEEP);
    }

    /// A token-endpoint call of `client_id` arrived; fill in its outcome with the returned id.
    pub fn token_call(
        &mut self,
        client_id: &str,
        at: DateTime<Utc>,
        grant_type: &str,
        rt_fingerprint: Option<String>,
    ) -> CallId {
        self.next_call += 1;
        let id = self.next_call;
        let ledger = self.ledger(client_id);
        let after_refusal = match (ledger.last_token_call, ledger.last_refusal) {
            (Some(previous), Some(refusal)) => refusal > previous,
            _ => false,
        };
        let call = TokenCall {
            at,
            grant_type: grant_type.to_owned(),
            status: None,
            issued: false,
            rt_fingerprint,
            presented_latest: None,
            after_refusal,
        };
        ledger.token_call(id, at, call);
        CallId {
            client_id: client_id.to_owned(),
            id,
        }
    }

    /// Whether the refresh token presented in `call` was the newest of its grant.
    pub fn token_call_judged(&mut self, call: &CallId, latest: bool) {
        if let Some(entry) = self.ledger(&call.client_id).call_mut(call.id) {
            entry.presented_latest = Some(latest);
        }
    }

    /// The outcome of `call`.
    pub fn token_call_finished(&mut self, call: &CallId, status: Option<u16>, issued: bool) {
        if let Some(entry) = self.ledger(&call.client_id).call_mut(call.id) {
            entry.status = status;
            entry.issued = issued;
        }
    }

    /// Every broken rule, per integration.
    pub fn violations(&self, limits: &InvariantLimits) -> Vec<Violation> {
        let mut clients: Vec<&String> = self.ledgers.keys().collect();
        clients.sort();
        let mut out = Vec::new();
        for client_id in clients {
            if let Some(ledger) = self.ledgers.get(client_id) {
                ledger.violations(client_id, limits, &mut out);
            }
        }
        out
    }

    /// The most API arrivals in any one-second window, per integration that made any.
    pub fn max_per_second(&self) -> HashMap<String, usize> {
        self.ledgers
            .iter()
            .filter(|(_, l)| l.arrivals > 0)
            .map(|(client, l)| (client.clone(), l.found.len()))
            .collect()
    }

    /// The latest token-endpoint calls of `client_id`, oldest first.
    pub fn token_calls(&self, client_id: &str) -> Vec<TokenCall> {
        self.ledgers
            .get(client_id)
            .map(|l| l.token_calls.iter().map(|(_, c)| c.clone()).collect())
            .unwrap_or_default()
    }

    /// API arrivals of `client_id`.
    pub fn arrivals(&self, client_id: &str) -> u64 {
        self.ledgers.get(client_id).map_or(0, |l| l.arrivals)
    }

    /// Totals over every integration.
    pub fn totals(&self) -> WitnessTotals {
        self.ledgers
            .values()
            .fold(WitnessTotals::default(), |mut t, l| {
                t.api_arrivals += l.arrivals;
                t.rotated_refresh_presentations += l.rotated_count;
                t.expired_access_token_uses += l.late_count;
                t
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_sec: usize, gap_ms: u64) -> InvariantLimits {
        InvariantLimits {
            api_calls_per_second: per_sec,
            min_token_call_gap: Duration::from_millis(gap_ms),
        }
    }

    #[test]
    fn window_counts_are_exact_for_any_limit() {
        let mut witness = Witness::default();
        let start = Instant::now();
        let at = Utc::now();
        // 3 arrivals, a pause, then 5 within 100 ms.
        for ms in [0, 10, 20, 1500, 1520, 1540, 1560, 1580] {
            witness.api_arrival("c", start + Duration::from_millis(ms), at);
        }
        assert_eq!(witness.max_per_second()["c"], 5);
        assert_eq!(witness.arrivals("c"), 8);
        assert!(witness.violations(&limits(5, 0)).is_empty());
        match witness.violations(&limits(3, 0)).as_slice() {
            [
                Violation::ApiBurst {
                    count: 5,
                    excess_arrivals: 2,
                    ..
                },
            ] => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_excuses_the_next_token_call() {
        let mut witness = Witness::default();
        let t0 = Utc::now();
        let ms = chrono::Duration::milliseconds;
        witness.token_call("c", t0, "authorization_code", None);
        witness.api_refused("c", t0 + ms(100));
        let excused = witness.token_call("c", t0 + ms(200), "refresh_token", None);
        witness.token_call("c", t0 + ms(300), "refresh_token", None);
        witness.token_call_finished(&excused, Some(200), true);
        let calls = witness.token_calls("c");
        assert_eq!(calls.len(), 3);
        assert!(calls[1].after_refusal && !calls[2].after_refusal);
        assert_eq!(calls[1].status, Some(200));
        let found = witness.violations(&limits(7, 1000));
        assert!(
            matches!(
                found.as_slice(),
                [Violation::TokenCallsTooClose { gap_ms: 100, .. }]
            ),
            "{found:?}"
        );
    }
}
