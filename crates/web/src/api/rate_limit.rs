//! A light per-key rate limit: a token bucket per API key, in process memory.
//!
//! It protects amolink from a runaway client loop, not amoCRM (the proxy's governor does that),
//! so it is generous and per instance.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use domain::ids::ApiKeyId;

/// Burst size and sustained rate per key.
#[derive(Debug, Clone, Copy)]
pub struct RatePolicy {
    pub burst: f64,
    pub per_second: f64,
}

impl Default for RatePolicy {
    fn default() -> Self {
        Self {
            burst: 600.0,
            per_second: 100.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets of every key seen recently.
#[derive(Debug, Default)]
pub struct KeyRateLimiter {
    policy: RatePolicy,
    buckets: Mutex<HashMap<ApiKeyId, Bucket>>,
}

/// Above this many tracked keys, full (idle) buckets are dropped.
const MAX_TRACKED: usize = 10_000;

impl KeyRateLimiter {
    #[must_use]
    pub fn new(policy: RatePolicy) -> Self {
        Self {
            policy,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key`; `Err(wait)` when the bucket is empty.
    ///
    /// # Errors
    /// How long until a token is available.
    pub fn check(&self, key: ApiKeyId) -> Result<(), Duration> {
        let now = Instant::now();
        let policy = self.policy;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > MAX_TRACKED {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * policy.per_second < policy.burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: policy.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * policy.per_second;
        bucket.tokens = (bucket.tokens + refill).min(policy.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / policy.per_second.max(f64::MIN_POSITIVE),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let limiter = KeyRateLimiter::new(RatePolicy {
            burst: 3.0,
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
