//! A light per-key rate limit: `governor`'s keyed GCRA limiter, one cell per API key (or other
//! key, such as a connection for amoCRM's event deliveries), in process memory.
//!
//! It protects amolink from a runaway client loop, not amoCRM (the proxy's governor does that),
//! so it is generous and per instance.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use domain::ids::ApiKeyId;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};

/// Burst size and sustained rate per key.
#[derive(Debug, Clone, Copy)]
pub struct RatePolicy {
    pub burst: u32,
    pub per_second: f64,
}

impl Default for RatePolicy {
    fn default() -> Self {
        Self {
            burst: 600,
            per_second: 100.0,
        }
    }
}

impl RatePolicy {
    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(1e-6));
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Above this many tracked keys, the cells of keys that are back to a full burst are dropped.
const MAX_TRACKED: usize = 10_000;

/// Limits of every key seen recently.
#[derive(Debug)]
pub struct KeyRateLimiter<K: Hash + Eq + Clone = ApiKeyId> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Default for KeyRateLimiter<K> {
    fn default() -> Self {
        Self::new(RatePolicy::default())
    }
}

impl<K: Hash + Eq + Clone> KeyRateLimiter<K> {
    #[must_use]
    pub fn new(policy: RatePolicy) -> Self {
        Self {
            limiter: RateLimiter::keyed(policy.quota()),
        }
    }

    /// Takes one request's worth for `key`; `Err(wait)` when its burst is spent.
    ///
    /// # Errors
    /// How long until the key may send again.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        if self.limiter.len() > MAX_TRACKED {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let limiter: KeyRateLimiter = KeyRateLimiter::new(RatePolicy {
            burst: 3,
            per_second: 0.5,
        });
        let key = ApiKeyId::random();
        for _ in 0..3 {
            assert!(limiter.check(key).is_ok());
        }
        let wait = limiter.check(key).expect_err("empty bucket");
        assert!(wait > Duration::from_secs(1));
        assert!(
            limiter.check(ApiKeyId::random()).is_ok(),
            "keys are independent"
        );
    }
}
