//! Per-integration rate limiting with escalation to a block, as amoCRM does: more than N requests
//! in any one-second window earn 429; after enough 429s every request earns 403 for a while.
//!
//! Windows use real time (`Instant`), not the virtual clock: advancing the clock by days must not
//! make a burst legal, and a burst in a test really happens within real milliseconds.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

/// Outcome of admitting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; the client may retry after this many seconds.
    TooMany {
        retry_after: u64,
    },
    /// Blocked after repeated violations.
    Blocked,
}

/// The limits in force (copied from the live config on every check).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub per_sec: u32,
    pub violations_before_block: u32,
    pub block: Duration,
}

#[derive(Debug, Default)]
struct Window {
    admitted: VecDeque<Instant>,
    violations: u32,
    last_violation: Option<Instant>,
    blocked_until: Option<Instant>,
}

/// Windows of every integration seen.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<String, Window>,
}

impl RateLimiter {
    /// Whether `client_id` is currently blocked (does not count as a request).
    pub fn is_blocked(&self, client_id: &str) -> bool {
        self.windows
            .get(client_id)
            .and_then(|w| w.blocked_until)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Admits or refuses one request of `client_id`; a policy of 0 per second admits everything.
    pub fn admit(&mut self, client_id: &str, policy: Policy) -> Verdict {
        if policy.per_sec == 0 {
            return Verdict::Allowed;
        }
        let now = Instant::now();
        let window = self.windows.entry(client_id.to_owned()).or_default();
        if window.blocked_until.is_some_and(|until| now < until) {
            return Verdict::Blocked;
        }
        while window
            .admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.admitted.pop_front();
        }
        if window.admitted.len() < policy.per_sec as usize {
            window.admitted.push_back(now);
            return Verdict::Allowed;
        }
        // Violations long ago are forgiven: only a sustained abuse earns a block.
        if window
            .last_violation
            .is_some_and(|t| now.duration_since(t) > policy.block)
        {
            window.violations = 0;
        }
        window.violations += 1;
        window.last_violation = Some(now);
        if window.violations >= policy.violations_before_block {
            window.violations = 0;
            window.blocked_until = Some(now + policy.block);
        }
        Verdict::TooMany { retry_after: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalates_from_429_to_403() {
        let policy = Policy {
            per_sec: 2,
            violations_before_block: 2,
            block: Duration::from_secs(60),
        };
        let mut limiter = RateLimiter::default();
        assert_eq!(limiter.admit("c", policy), Verdict::Allowed);
        assert_eq!(limiter.admit("c", policy), Verdict::Allowed);
        assert!(matches!(
            limiter.admit("c", policy),
            Verdict::TooMany { .. }
        ));
        assert!(matches!(
            limiter.admit("c", policy),
            Verdict::TooMany { .. }
        ));
        assert_eq!(limiter.admit("c", policy), Verdict::Blocked);
        assert!(limiter.is_blocked("c"));
        assert_eq!(limiter.admit("other", policy), Verdict::Allowed);
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let policy = Policy {
            per_sec: 0,
            violations_before_block: 1,
            block: Duration::from_secs(60),
        };
        let mut limiter = RateLimiter::default();
        assert!((0..1000).all(|_| limiter.admit("c", policy) == Verdict::Allowed));
        assert!(!limiter.is_blocked("c"));
    }
}
