use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{Integration, Lease, Limit, RateBudgetStore};
use crate::Error;

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
    /// How long a share of the budget lasts. A busy integration costs one database write per
    /// share per instance; a longer share means fewer writes and slower rebalancing when a
    /// second instance starts sending for the same integration.
    pub share_term: Duration,
}

impl Default for GovernorPolicy {
    fn default() -> Self {
        Self {
            limit: Limit::default(),
            max_wait: Duration::from_secs(10),
            block_cooldown: Duration::from_secs(300),
            default_retry_after: Duration::from_secs(1),
            share_term: Duration::from_secs(3),
        }
    }
}

const QUEUE_FULL: &str = "amoCRM accepts at most 7 requests per second per integration, and this \
connection's queue is longer than amolink waits. Retry after the Retry-After interval.";
const PAUSED: &str = "amoCRM asked to pause requests for this connection (rate limit or block). \
Retry after the Retry-After interval.";

/// This instance's share of an integration's budget, on the local clock.
#[derive(Debug, Clone, Copy)]
struct LocalShare {
    slots: usize,
    /// No send under this share from here on; never later than the database's end of it.
    until: Instant,
}

/// What the caller holding the turn may look at and change.
#[derive(Debug, Default)]
struct LaneState {
    share: Option<LocalShare>,
    /// This instance's sends of the last window, oldest first.
    sends: VecDeque<Instant>,
    /// When a try to grow the share last got nothing more: no new try for a window after.
    grown_at: Option<Instant>,
}

/// One integration on this instance.
#[derive(Debug, Default)]
struct Lane {
    /// Held by the caller whose turn it is; tokio's mutex is fair (FIFO).
    turn: tokio::sync::Mutex<LaneState>,
    /// Callers waiting or holding the turn.
    queued: AtomicUsize,
    /// A pause this instance learned of.
    paused_until: Mutex<Option<Instant>>,
    /// The lane must outlive its callers until then: its send history and share still matter.
    keep_until: Mutex<Option<Instant>>,
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

    fn keep(&self, until: Instant) {
        let mut current = self
            .keep_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *current = Some(current.map_or(until, |c| c.max(until)));
    }

    /// A lane with no share and no send in the window holds nothing the shared budget does not:
    /// its pause, if any, is there too.
    fn needed(&self, now: Instant) -> bool {
        self.keep_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| until > now)
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
    store: Arc<dyn RateBudgetStore>,
    policy: GovernorPolicy,
    /// This instance's name in the shared budgets.
    owner: String,
    lanes: Mutex<HashMap<Integration, Arc<Lane>>>,
    /// Shares taken from the database (each one write).
    shares_taken: AtomicU64,
    admitted: AtomicU64,
}

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
    pub fn new(store: Arc<dyn RateBudgetStore>, policy: GovernorPolicy, owner: &str) -> Self {
        Self {
            store,
            policy,
            owner: owner.to_owned(),
            lanes: Mutex::new(HashMap::new()),
            shares_taken: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
        }
    }

    #[must_use]
    pub const fn policy(&self) -> &GovernorPolicy {
        &self.policy
    }

    /// Requests admitted, and shares of a budget taken from the database (each one write): the
    /// hot path writes nothing while a share lasts.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        (
            self.admitted.load(Ordering::Relaxed),
            self.shares_taken.load(Ordering::Relaxed),
        )
    }

    fn window(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.policy.limit.window_ms).unwrap_or(0))
    }

    fn lane(&self, id: &Integration) -> Arc<Lane> {
        let now = Instant::now();
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget lanes no caller uses and whose history no longer matters, so the map stays as
        // small as the traffic; a pause lives on in the shared budget.
        lanes.retain(|_, lane| Arc::strong_count(lane) > 1 || lane.needed(now));
        lanes.entry(id.clone()).or_default().clone()
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
        let windows = u32::try_from(ahead / limit.per_window.max(1)).unwrap_or(u32::MAX);
        self.window().saturating_mul(windows)
    }

    /// Waits for this integration's next send slot, in arrival order, for at most `max_wait`.
    /// Returns when the request may be sent *now*. While this instance holds a share of the
    /// integration's budget with a free slot, that is at once and without touching the
    /// database.
    ///
    /// # Errors
    /// [`Error::RateLimited`] with the time until capacity frees when the wait would be longer;
    /// storage failures (the governor fails closed: no slot, no request).
    pub async fn admit(&self, id: &Integration) -> Result<(), Error> {
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
        let Ok(mut state) = tokio::time::timeout_at(deadline, lane.turn.lock()).await else {
            return Err(refused(self.drain_time(ahead), QUEUE_FULL));
        };
        let window = self.window();
        loop {
            let now = Instant::now();
            if let Some(until) = lane.paused_until() {
                if until > deadline {
                    return Err(refused(until - now, PAUSED));
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            while state
                .sends
                .front()
                .is_some_and(|sent| *sent + window <= now)
            {
                state.sends.pop_front();
            }
            let Some(share) = state.share.filter(|share| share.until > now) else {
                // Ask for what the callers need: those in line and the sends of the last
                // window (a busy lane renews with its pace), but at least half the budget, so
                // a quiet connection's calls spend one share per term instead of growing it a
                // write at a time; the rest stays free for others.
                let wanted = lane
                    .queued
                    .load(Ordering::Acquire)
                    .saturating_add(state.sends.len())
                    .max(self.policy.limit.per_window.div_ceil(2));
                match self.take_share(id, wanted).await? {
                    Ok(share) => {
                        lane.keep(share.until + window);
                        state.share = Some(share);
                    }
                    Err((retry_at, paused)) => {
                        let reason = if paused { PAUSED } else { QUEUE_FULL };
                        if retry_at > deadline {
                            return Err(refused(retry_at.saturating_duration_since(now), reason));
                        }
                        tokio::time::sleep_until(retry_at).await;
                    }
                }
                continue;
            };
            if state.sends.len() < share.slots {
                state.sends.push_back(now);
                lane.keep(now + window);
                self.admitted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            // Every slot of the share is in the window. A small share may grow, doubling, while
            // the budget has slots free (after a try that got nothing more, not again for a
            // window: each try is a write) …
            let limit = self.policy.limit.per_window;
            if share.slots < limit && state.grown_at.is_none_or(|at| at + window <= now) {
                let wanted = (share.slots * 2)
                    .max(lane.queued.load(Ordering::Acquire) + state.sends.len())
                    .min(limit);
                // A refusal leaves this share as it is; a grant replaces it, even a smaller one.
                match self.take_share(id, wanted).await? {
                    Ok(renewed) => {
                        if renewed.slots <= share.slots {
                            state.grown_at = Some(now);
                        }
                        lane.keep(renewed.until + window);
                        state.share = Some(renewed);
                        continue;
                    }
                    Err(_) => state.grown_at = Some(now),
                }
            }
            // … otherwise the oldest send frees a slot first, unless the share ends before
            // (then it is renewed).
            let free_at = state
                .sends
                .front()
                .map_or(now, |oldest| *oldest + window)
                .min(share.until);
            if free_at > deadline {
                return Err(refused(free_at - now, QUEUE_FULL));
            }
            tokio::time::sleep_until(free_at).await;
        }
    }

    /// Takes (or renews) this instance's share of the integration's budget: one transaction on
    /// the shared row. Answers the share on the local clock, or when to ask again.
    ///
    /// The local end of the share is computed from an instant taken *before* the transaction,
    /// which is no later than the moment the database read its clock, so this instance stops
    /// sending no later than the database's end of the share.
    async fn take_share(
        &self,
        id: &Integration,
        wanted: usize,
    ) -> Result<Result<LocalShare, (Instant, bool)>, Error> {
        let limit = self.policy.limit;
        let term = millis(self.policy.share_term);
        let before = Instant::now();
        let mut outcome = None;
        self.store
            .update_budget(id, &mut |budget, now| {
                outcome = Some((
                    budget.lease_up_to(&self.owner, now, limit, term, wanted),
                    now,
                ));
                true
            })
            .await?;
        let local = |at: i64, now: i64| {
            before + Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
        };
        match outcome {
            Some((Lease::Granted { slots, until }, now)) => {
                self.shares_taken.fetch_add(1, Ordering::Relaxed);
                Ok(Ok(LocalShare {
                    slots,
                    until: local(until, now),
                }))
            }
            Some((Lease::Refused { retry_at, paused }, now)) => {
                Ok(Err((local(retry_at, now), paused)))
            }
            None => Err(Error::Unexpected(anyhow::anyhow!(
                "the rate budget was not consulted"
            ))),
        }
    }

    /// Stops every instance from sending for this integration for `duration` (amoCRM's
    /// `retry_after`, or the block cooldown): this one at once, the others when they renew
    /// their shares (within [`GovernorPolicy::share_term`]).
    ///
    /// # Errors
    /// Storage failures; the local pause holds regardless.
    pub async fn pause(&self, id: &Integration, duration: Duration) -> Result<(), Error> {
        self.lane(id).pause(Instant::now() + duration);
        let span = millis(duration);
        self.store
            .update_budget(id, &mut |budget, now| {
                budget.pause(now.saturating_add(span));
                true
            })
            .await?;
        tracing::warn!(integration = %id, pause_ms = span, "amoCRM traffic paused for an integration");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{StoreError, governor::Budget};

    /// The shared budgets in memory, on tokio's clock (paused in these tests); several
    /// governors sharing one stand for several instances.
    #[derive(Default)]
    struct MemoryBudgets {
        budgets: Mutex<HashMap<Integration, Budget>>,
        origin: Mutex<Option<Instant>>,
        /// A slow commit: the transaction takes this long after reading the clock.
        commit: Duration,
        writes: AtomicUsize,
    }

    #[async_trait]
    impl RateBudgetStore for MemoryBudgets {
        async fn update_budget(
            &self,
            integration: &Integration,
            change: &mut (dyn for<'l> FnMut(&'l mut Budget, i64) -> bool + Send),
        ) -> Result<(), StoreError> {
            let origin = *self
                .origin
                .lock()
                .expect("lock")
                .get_or_insert_with(Instant::now);
            let now = millis(Instant::now() - origin);
            {
                let mut budgets = self.budgets.lock().expect("lock");
                let mut budget = budgets.get(integration).cloned().unwrap_or_default();
                if change(&mut budget, now) {
                    budgets.insert(integration.clone(), budget);
                }
            }
            self.writes.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.commit).await;
            Ok(())
        }
    }

    fn policy() -> GovernorPolicy {
        GovernorPolicy {
            limit: Limit {
                per_window: 7,
                window_ms: 1_000,
            },
            ..GovernorPolicy::default()
        }
    }

    fn governor(store: &Arc<MemoryBudgets>, owner: &str) -> Arc<Governor> {
        Arc::new(Governor::new(store.clone(), policy(), owner))
    }

    /// The densest `window` of sorted send times.
    fn densest(times: &[Duration], window: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t - times[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn callers_are_paced_in_arrival_order_and_the_excess_is_refused() {
        let store = Arc::new(MemoryBudgets::default());
        let governor = governor(&store, "a");
        let id = Integration::new("cid");
        let start = Instant::now();
        let mut tasks = Vec::new();
        for n in 0..100_u64 {
            let (governor, id) = (governor.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let outcome = governor.admit(&id).await;
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
        assert!(densest(&times, Duration::from_secs(1)) <= 7);
        assert!(times.iter().all(|at| *at <= Duration::from_secs(10)));
        // A few writes while the first share grows to the demand (4, 7 slots), then one
        // per share (every 3 s): not one per request.
        assert!(
            store.writes.load(Ordering::Relaxed) <= 8,
            "{:?}",
            store.writes
        );
    }

    /// The first call of an idle integration goes at once: no reservation ahead, no sleep.
    #[tokio::test(start_paused = true)]
    async fn an_idle_integrations_burst_goes_at_once() {
        let store = Arc::new(MemoryBudgets::default());
        let governor = governor(&store, "a");
        let id = Integration::new("cid");
        let start = Instant::now();
        for _ in 0..7 {
            governor.admit(&id).await.expect("admitted");
        }
        assert_eq!(Instant::now(), start, "seven sends without waiting");
        assert_eq!(
            governor.counts(),
            (7, 2),
            "half the budget for the first call, all of it at the fifth"
        );
    }

    /// Two instances and 200 callers: never more than the limit in any window, however the
    /// shares move between them; a slow commit does not change that.
    #[tokio::test(start_paused = true)]
    async fn two_instances_never_send_more_than_the_limit_together() {
        let store = Arc::new(MemoryBudgets {
            commit: Duration::from_millis(30),
            ..MemoryBudgets::default()
        });
        let instances = [governor(&store, "a"), governor(&store, "b")];
        let id = Integration::new("cid");
        let start = Instant::now();
        let mut tasks = Vec::new();
        for n in 0..200 {
            let (governor, id) = (instances[n % 2].clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((n as u64 * 37) % 8_000)).await;
                governor
                    .admit(&id)
                    .await
                    .ok()
                    .map(|()| (n % 2, Instant::now() - start))
            }));
        }
        let mut sent = Vec::new();
        for task in tasks {
            sent.extend(task.await.expect("task"));
        }
        assert!(
            sent.iter().any(|(who, _)| *who == 0) && sent.iter().any(|(who, _)| *who == 1),
            "both instances sent"
        );
        let mut times: Vec<Duration> = sent.iter().map(|(_, at)| *at).collect();
        times.sort_unstable();
        assert!(times.len() >= 60, "{}", times.len());
        assert!(densest(&times, Duration::from_secs(1)) <= 7, "{times:?}");
    }

    /// Two instances taking turns at a quiet integration (a load balancer's round robin, one
    /// call every 400 ms): no call waits. Before recent holders counted as contenders, every
    /// call waited 3.6 s for the other instance's share to end; before a share was sized to
    /// its callers' need, the first call of the second instance still did.
    #[tokio::test(start_paused = true)]
    async fn instances_taking_turns_never_wait() {
        let store = Arc::new(MemoryBudgets::default());
        let instances = [governor(&store, "a"), governor(&store, "b")];
        let id = Integration::new("cid");
        let mut waits = Vec::new();
        for round in 0..100 {
            let asked = Instant::now();
            instances[round % 2].admit(&id).await.expect("admitted");
            waits.push(Instant::now() - asked);
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert!(waits.iter().all(|wait| wait.is_zero()), "{waits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_stops_callers_and_refuses_those_it_would_keep_too_long() {
        let store = Arc::new(MemoryBudgets::default());
        let governor = governor(&store, "a");
        let id = Integration::new("cid");
        governor
            .pause(&id, Duration::from_secs(3))
            .await
            .expect("paused");
        let start = Instant::now();
        governor.admit(&id).await.expect("admitted");
        assert!(Instant::now() - start >= Duration::from_secs(3));

        governor
            .pause(&id, Duration::from_secs(60))
            .await
            .expect("paused");
        match governor.admit(&id).await {
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

    /// Another instance learns of a pause when it renews its share.
    #[tokio::test(start_paused = true)]
    async fn another_instance_stops_by_its_next_renewal() {
        let store = Arc::new(MemoryBudgets::default());
        let (a, b) = (governor(&store, "a"), governor(&store, "b"));
        let id = Integration::new("cid");
        b.admit(&id).await.expect("b holds a share");
        a.pause(&id, Duration::from_secs(60)).await.expect("paused");
        let start = Instant::now();
        let mut sent_after = Duration::ZERO;
        while b.admit(&id).await.is_ok() {
            sent_after = Instant::now() - start;
        }
        assert!(
            sent_after <= policy().share_term,
            "b sent for {sent_after:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn integrations_do_not_share_a_budget() {
        let store = Arc::new(MemoryBudgets::default());
        let governor = governor(&store, "a");
        let (a, b) = (Integration::new("a"), Integration::new("b"));
        let start = Instant::now();
        for _ in 0..7 {
            governor.admit(&a).await.expect("admitted");
            governor.admit(&b).await.expect("admitted");
        }
        assert_eq!(Instant::now(), start);
    }
}
