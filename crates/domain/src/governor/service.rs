use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{Limit, RateLedgerStore, Reservation};
use crate::{Error, ids::ConnectionId};

/// The governor's limits and patience.
#[derive(Debug, Clone, Copy)]
pub struct GovernorPolicy {
    pub limit: Limit,
    /// The longest a caller waits for a slot before it is told to retry later.
    pub max_wait: Duration,
    /// How long traffic stops after amoCRM blocks an integration (403).
    pub block_cooldown: Duration,
    /// The pause after a 429 that named no `retry_after`.
    pub default_retry_after: Duration,
    /// A caller that wakes later than this after its reserved time gives the slot up and
    /// reserves again: a late send could crowd the next window, and the window's margin
    /// (`limit.window_ms` − 1000) must also cover the trip to amoCRM.
    pub max_lateness: Duration,
}

impl Default for GovernorPolicy {
    fn default() -> Self {
        Self {
            limit: Limit::default(),
            max_wait: Duration::from_secs(10),
            block_cooldown: Duration::from_secs(300),
            default_retry_after: Duration::from_secs(1),
            max_lateness: Duration::from_millis(50),
        }
    }
}

const QUEUE_FULL: &str = "amoCRM accepts at most 7 requests per second per integration, and this \
connection's queue is longer than amolink waits. Retry after the Retry-After interval.";
const PAUSED: &str = "amoCRM asked to pause requests for this connection (rate limit or block). \
Retry after the Retry-After interval.";

/// One connection's local queue.
#[derive(Debug, Default)]
struct Lane {
    /// Held by the caller whose turn it is; tokio's mutex is fair (FIFO).
    turn: tokio::sync::Mutex<()>,
    /// Callers waiting or holding the turn.
    queued: AtomicUsize,
    /// A pause this instance learned of, so a reservation made before it is re-checked.
    paused_until: Mutex<Option<Instant>>,
}

impl Lane {
    fn paused_until(&self) -> Option<Instant> {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|until| *until > Instant::now())
    }

    fn pause(&self, until: Instant) {
        let mut current = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *current = Some(current.map_or(until, |c| c.max(until)));
    }
}

/// Counts a caller in a lane for as long as it lives.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Admits requests to amoCRM at the pace amoCRM allows; see the module documentation.
pub struct Governor {
    store: Arc<dyn RateLedgerStore>,
    policy: GovernorPolicy,
    lanes: Mutex<HashMap<ConnectionId, Arc<Lane>>>,
    /// Average time (µs) from reading the ledger to having committed it: reservations are
    /// made that far ahead, so a commit (an fsync) does not make the send late.
    commit_micros: AtomicU64,
}

/// Reservations are never made less than this far ahead, nor more than the cap.
const MIN_LEAD: Duration = Duration::from_millis(5);
const MAX_LEAD: Duration = Duration::from_millis(250);

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn refused(retry_after: Duration, reason: &'static str) -> Error {
    Error::RateLimited {
        retry_after: retry_after.max(Duration::from_secs(1)),
        reason,
    }
}

impl Governor {
    #[must_use]
    pub fn new(store: Arc<dyn RateLedgerStore>, policy: GovernorPolicy) -> Self {
        Self {
            store,
            policy,
            lanes: Mutex::new(HashMap::new()),
            commit_micros: AtomicU64::new(10_000),
        }
    }

    /// How far ahead to reserve: twice the recent commit time, bounded.
    fn lead(&self) -> Duration {
        Duration::from_micros(self.commit_micros.load(Ordering::Relaxed).saturating_mul(2))
            .clamp(MIN_LEAD, MAX_LEAD)
    }

    fn observe_commit(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // An exponential average; racing updates only lose a sample.
        let old = self.commit_micros.load(Ordering::Relaxed);
        let new = (old.saturating_mul(7).saturating_add(sample)) / 8;
        self.commit_micros.store(new, Ordering::Relaxed);
    }

    #[must_use]
    pub const fn policy(&self) -> &GovernorPolicy {
        &self.policy
    }

    fn lane(&self, id: ConnectionId) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget idle lanes so the map stays as small as the traffic; a pause lives on in the
        // ledger.
        lanes.retain(|_, lane| Arc::strong_count(lane) > 1);
        lanes.entry(id).or_default().clone()
    }

    /// How many callers one lane can serve within `max_wait`; more are refused at once.
    fn lane_capacity(&self) -> usize {
        let limit = self.policy.limit;
        let windows = millis(self.policy.max_wait) / limit.window_ms.max(1);
        limit
            .per_window
            .saturating_mul(usize::try_from(windows).unwrap_or(usize::MAX))
            .saturating_add(limit.per_window)
    }

    /// Roughly how long `ahead` queued callers take to drain.
    fn drain_time(&self, ahead: usize) -> Duration {
        let limit = self.policy.limit;
        let windows = u64::try_from(ahead / limit.per_window.max(1)).unwrap_or(u64::MAX);
        Duration::from_millis(u64::try_from(limit.window_ms).unwrap_or(0))
            .saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX))
    }

    /// Waits for this connection's next send slot, in arrival order, for at most `max_wait`.
    /// Returns when the request may be sent *now*.
    ///
    /// # Errors
    /// [`Error::RateLimited`] with the time until capacity frees when the wait would be longer;
    /// storage failures (the governor fails closed: no slot, no request).
    pub async fn admit(&self, id: ConnectionId) -> Result<(), Error> {
        let deadline = Instant::now() + self.policy.max_wait;
        let lane = self.lane(id);
        if let Some(until) = lane.paused_until().filter(|until| *until > deadline) {
            return Err(refused(until - Instant::now(), PAUSED));
        }
        let ahead = lane.queued.fetch_add(1, Ordering::AcqRel);
        let _in_queue = InQueue(&lane.queued);
        if ahead >= self.lane_capacity() {
            let retry = self.drain_time(ahead).saturating_sub(self.policy.max_wait);
            return Err(refused(retry, QUEUE_FULL));
        }
        let Ok(_turn) = tokio::time::timeout_at(deadline, lane.turn.lock()).await else {
            return Err(refused(self.drain_time(ahead), QUEUE_FULL));
        };
        loop {
            let budget = deadline.saturating_duration_since(Instant::now());
            let slot = self.reserve(id, budget).await?;
            tokio::time::sleep_until(slot).await;
            // A 429 or block seen here while this caller slept voids its reservation: wait the
            // pause out (or give up) and reserve again.
            if let Some(until) = lane.paused_until() {
                if until > deadline {
                    return Err(refused(until - Instant::now(), PAUSED));
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            // Woken too late (a slow commit, a busy machine): sending now could put more than
            // the limit into amoCRM's window. The slot is given up, unused.
            let late = Instant::now().saturating_duration_since(slot);
            if late > self.policy.max_lateness {
                tracing::debug!(connection_id = %id, late_ms = late.as_millis(), "missed a send slot; reserving again");
                continue;
            }
            return Ok(());
        }
    }

    /// Records a send time in the shared ledger; answers the local instant it falls on.
    ///
    /// The database's clock is read under the lock, and this instance's clock right after that
    /// read, so the instant computed here is never *before* the reserved time: a send is never
    /// early, only possibly late (which [`Governor::admit`] bounds).
    async fn reserve(&self, id: ConnectionId, budget: Duration) -> Result<Instant, Error> {
        let limit = self.policy.limit;
        let lead = millis(self.lead());
        let budget = millis(budget);
        let mut outcome = None;
        self.store
            .update_ledger(id, &mut |ledger, now| {
                let read_at = Instant::now();
                let reservation =
                    ledger.reserve(now.saturating_add(lead), limit, now.saturating_add(budget));
                outcome = Some((reservation, now, read_at));
                matches!(reservation, Reservation::At(_))
            })
            .await?;
        let after = |at: i64, now: i64| {
            Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
        };
        match outcome {
            Some((Reservation::At(at), now, read_at)) => {
                self.observe_commit(read_at.elapsed());
                Ok(read_at + after(at, now))
            }
            Some((Reservation::Refused { earliest, paused }, now, _)) => Err(refused(
                after(earliest, now),
                if paused { PAUSED } else { QUEUE_FULL },
            )),
            None => Err(Error::Unexpected(anyhow::anyhow!(
                "the rate ledger was not consulted"
            ))),
        }
    }

    /// Stops every instance from sending for this connection for `duration` (amoCRM's
    /// `retry_after`, or the block cooldown).
    ///
    /// # Errors
    /// Storage failures; the local pause holds regardless.
    pub async fn pause(&self, id: ConnectionId, duration: Duration) -> Result<(), Error> {
        self.lane(id).pause(Instant::now() + duration);
        let span = millis(duration);
        self.store
            .update_ledger(id, &mut |ledger, now| {
                ledger.pause(now.saturating_add(span));
                true
            })
            .await?;
        tracing::warn!(connection_id = %id, pause_ms = span, "amoCRM traffic paused for a connection");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{StoreError, governor::Ledger};

    /// The ledger in memory, on tokio's clock (paused in these tests).
    #[derive(Default)]
    struct MemoryLedger {
        ledgers: Mutex<HashMap<ConnectionId, Ledger>>,
        origin: Mutex<Option<Instant>>,
        /// Times taken to "commit" after the ledger was read (an fsync), in turn.
        commits: Vec<Duration>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl RateLedgerStore for MemoryLedger {
        async fn update_ledger(
            &self,
            connection: ConnectionId,
            change: &mut (dyn for<'l> FnMut(&'l mut Ledger, i64) -> bool + Send),
        ) -> Result<(), StoreError> {
            let origin = *self
                .origin
                .lock()
                .expect("lock")
                .get_or_insert_with(Instant::now);
            let now = millis(Instant::now() - origin);
            {
                let mut ledgers = self.ledgers.lock().expect("lock");
                let mut ledger = ledgers.get(&connection).cloned().unwrap_or_default();
                if change(&mut ledger, now) {
                    ledgers.insert(connection, ledger);
                }
            }
            if !self.commits.is_empty() {
                let call = self.calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.commits[call % self.commits.len()]).await;
            }
            Ok(())
        }
    }

    fn governor() -> Arc<Governor> {
        Arc::new(Governor::new(
            Arc::new(MemoryLedger::default()),
            GovernorPolicy {
                limit: Limit {
                    per_window: 7,
                    window_ms: 1_000,
                },
                ..GovernorPolicy::default()
            },
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn callers_are_paced_in_arrival_order_and_the_excess_is_refused() {
        let governor = governor();
        let id = ConnectionId::random();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for n in 0..100_u64 {
            let governor = governor.clone();
            tasks.push(tokio::spawn(async move {
                let outcome = governor.admit(id).await;
                (n, outcome.map(|()| Instant::now() - start))
            }));
            // Arrive in a known order.
            tokio::task::yield_now().await;
        }
        let mut admitted = Vec::new();
        let mut refusals = 0;
        for task in tasks {
            match task.await.expect("task") {
                (n, Ok(at)) => admitted.push((n, at)),
                (_, Err(Error::RateLimited { retry_after, .. })) => {
                    assert!(retry_after >= Duration::from_secs(1));
                    refusals += 1;
                }
                (_, Err(e)) => panic!("{e}"),
            }
        }
        assert_eq!(admitted.len() + refusals, 100);
        assert!(
            admitted.len() >= 70,
            "ten seconds serve 77: {}",
            admitted.len()
        );
        let times: Vec<Duration> = admitted.iter().map(|(_, at)| *at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "FIFO: {admitted:?}");
        for (i, at) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|t| **t - *at < Duration::from_secs(1))
                .count();
            assert!(in_window <= 7, "{in_window} within a second of {at:?}");
            assert!(*at <= Duration::from_secs(10));
        }
    }

    /// A slow commit (200 ms) for the first of a burst would send it late while the eighth goes
    /// on time, eight within a second; the late caller must give its slot up instead.
    #[tokio::test(start_paused = true)]
    async fn slow_commits_never_make_sends_crowd_a_window() {
        let governor = Arc::new(Governor::new(
            Arc::new(MemoryLedger {
                commits: [200, 0, 0, 0, 0, 0, 0, 0]
                    .map(Duration::from_millis)
                    .to_vec(),
                ..MemoryLedger::default()
            }),
            GovernorPolicy::default(),
        ));
        let id = ConnectionId::random();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let governor = governor.clone();
            tasks.push(tokio::spawn(async move {
                governor
                    .admit(id)
                    .await
                    .ok()
                    .map(|()| Instant::now() - start)
            }));
        }
        let mut sent = Vec::new();
        for task in tasks {
            sent.extend(task.await.expect("task"));
        }
        sent.sort_unstable();
        assert!(sent.len() >= 20, "{}", sent.len());
        for (i, at) in sent.iter().enumerate() {
            let in_second = sent[i..]
                .iter()
                .take_while(|t| **t - *at < Duration::from_millis(1_050))
                .count();
            assert!(
                in_second <= 7,
                "{in_second} within a second of {at:?}: {sent:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_stops_callers_and_refuses_those_it_would_keep_too_long() {
        let governor = governor();
        let id = ConnectionId::random();
        governor
            .pause(id, Duration::from_secs(3))
            .await
            .expect("admitted");
        let start = Instant::now();
        governor.admit(id).await.expect("admitted");
        assert!(Instant::now() - start >= Duration::from_secs(3));

        governor
            .pause(id, Duration::from_secs(60))
            .await
            .expect("admitted");
        match governor.admit(id).await {
            Err(Error::RateLimited {
                retry_after,
                reason,
            }) => {
                assert!(retry_after > Duration::from_secs(50));
                assert_eq!(reason, PAUSED);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn connections_do_not_share_a_budget() {
        let governor = governor();
        let (a, b) = (ConnectionId::random(), ConnectionId::random());
        let start = Instant::now();
        for _ in 0..7 {
            governor.admit(a).await.expect("admitted");
            governor.admit(b).await.expect("admitted");
        }
        // Each burst of seven goes at once (give or take the reservation lead).
        assert!(Instant::now() - start < Duration::from_millis(500));
    }
}
