use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Limits on failed log-ins.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per account inside `window`; the next attempt is refused.
    pub per_account: u32,
    /// Failures allowed per client address inside `window`.
    pub per_client: u32,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_account: 10,
            per_client: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Counts failed log-ins per account (the normalised email, known or not) and per client
/// address, in fixed windows.
///
/// The per-account counter stops password guessing against one person even from many addresses;
/// the per-address counter stops one address from spraying many accounts. State is per process:
/// with N instances an attacker gets at most N times the budget, which still keeps guessing far
/// below anything useful.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    accounts: Mutex<Windows<String>>,
    clients: Mutex<Windows<IpAddr>>,
}

impl LoginThrottle {
    #[must_use]
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// `Some(wait)` when an attempt must be refused without checking the password.
    pub fn check(&self, account: &str, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let window = self.policy.window;
        let by_account =
            lock(&self.accounts).blocked(account, self.policy.per_account, window, now);
        let by_client = lock(&self.clients).blocked(&client, self.policy.per_client, window, now);
        by_account.max(by_client)
    }

    pub fn record_failure(&self, account: &str, client: IpAddr) {
        let now = Instant::now();
        lock(&self.accounts).bump(account.to_owned(), self.policy.window, now);
        lock(&self.clients).bump(client, self.policy.window, now);
    }

    pub fn record_success(&self, account: &str) {
        lock(&self.accounts).entries.remove(account);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Windows<K> {
    entries: HashMap<K, (Instant, u32)>,
}

impl<K> Default for Windows<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> Windows<K> {
    /// Above this many tracked keys, expired windows are dropped so memory stays bounded.
    const PRUNE_ABOVE: usize = 10_000;

    fn blocked<Q>(&self, key: &Q, limit: u32, window: Duration, now: Instant) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (started, count) = self.entries.get(key)?;
        let elapsed = now.saturating_duration_since(*started);
        (elapsed < window && *count >= limit).then(|| window - elapsed)
    }

    fn bump(&mut self, key: K, window: Duration, now: Instant) {
        if self.entries.len() > Self::PRUNE_ABOVE {
            self.entries
                .retain(|_, (started, _)| now.saturating_duration_since(*started) < window);
        }
        let entry = self.entries.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn the_eleventh_attempt_on_one_account_is_refused() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        for attempt in 1..=10 {
            assert!(
                throttle.check("ann@example.com", HOME).is_none(),
                "attempt {attempt}"
            );
            throttle.record_failure("ann@example.com", HOME);
        }
        assert!(throttle.check("ann@example.com", HOME).is_some());
        assert!(
            throttle.check("bob@example.com", HOME).is_none(),
            "others unaffected"
        );
    }

    #[test]
    fn an_account_under_attack_stays_locked_from_other_addresses() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        for n in 0..10u8 {
            throttle.record_failure("ann@example.com", IpAddr::from([10, 0, 0, n]));
        }
        assert!(
            throttle
                .check("ann@example.com", IpAddr::from([10, 9, 9, 9]))
                .is_some()
        );
    }

    #[test]
    fn one_address_spraying_many_accounts_is_refused() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        for n in 0..30 {
            throttle.record_failure(&format!("user{n}@example.com"), HOME);
        }
        assert!(throttle.check("fresh@example.com", HOME).is_some());
    }

    #[test]
    fn success_clears_the_account_counter() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        for _ in 0..9 {
            throttle.record_failure("ann@example.com", HOME);
        }
        throttle.record_success("ann@example.com");
        throttle.record_failure("ann@example.com", HOME);
        assert!(throttle.check("ann@example.com", HOME).is_none());
    }
}
