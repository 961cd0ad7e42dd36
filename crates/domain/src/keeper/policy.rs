use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;

use crate::connections::TokenCall;

/// When to refresh, how long a lease lasts, how often amoCRM's token endpoint may be called, and
/// how to back off.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Refresh this long before the access token expires (`AMOLINK_REFRESH_MARGIN_SECS`).
    pub margin: Duration,
    /// How long a claimed connection stays reserved for its claimer; longer than one refresh
    /// call (connect + read timeouts) with room to persist the result.
    pub lease: Duration,
    /// After this long in a failing state, stop retrying and ask for a new connection.
    pub give_up_after: Duration,
    /// The shortest time between two calls to amoCRM's token endpoint for one connection,
    /// whoever makes them (the background loop, a tenant's request, any instance). The one
    /// exception: when amoCRM refuses the current access token (401), one more call is allowed
    /// in the interval. This rule, not a padded lifetime, is what makes a refresh loop
    /// impossible whatever lifetime amoCRM states.
    pub min_interval: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(7200),
            lease: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            min_interval: Duration::from_secs(5),
        }
    }
}

/// Why amoCRM's token endpoint is about to be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshCause {
    /// The background loop found the connection due.
    Schedule,
    /// A caller needs more validity than the stored token has left.
    Validity,
    /// amoCRM refused the stored access token (401).
    Refusal,
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl RefreshPolicy {
    /// When a token requested at `sent_at` and living `lifetime` (as amoCRM stated it) should
    /// be refreshed: the margin before it expires, but never before half its life, less up to
    /// a tenth of that lead as jitter so connections made together spread out — and never
    /// sooner than the minimum interval allows. A token whose lifetime amoCRM did not state
    /// credibly (zero) is never used, so it is only kept alive: refreshed after a margin, or
    /// sooner when a caller asks.
    #[must_use]
    pub fn next_refresh_at(&self, sent_at: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
        let earliest = sent_at + chrono(self.min_interval);
        if lifetime.is_zero() {
            return earliest.max(sent_at + chrono(self.margin));
        }
        let lead = self.margin.min(lifetime / 2);
        let jitter_ms = u64::try_from(lead.as_millis() / 10).unwrap_or(u64::MAX);
        let jitter = if jitter_ms > 0 {
            Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
        } else {
            Duration::ZERO
        };
        let due = sent_at + chrono(lifetime) - chrono(lead) - chrono(jitter);
        due.max(earliest)
    }

    /// The validity a caller may insist on before the stored token counts as too old: what it
    /// wants, but never more than half the token's stated life (a token asked to outlive its
    /// own life would be refreshed on every call).
    #[must_use]
    pub fn min_validity(wanted: Duration, lifetime: Option<Duration>) -> Duration {
        lifetime.map_or(wanted, |life| wanted.min(life / 2))
    }

    /// Whether amoCRM's token endpoint may be called now for a connection whose latest call
    /// was `last`; otherwise the earliest time it may.
    ///
    /// # Errors
    /// The time before which the call would break the interval rule.
    pub fn may_call(
        &self,
        last: Option<TokenCall>,
        now: DateTime<Utc>,
        cause: RefreshCause,
    ) -> Result<(), DateTime<Utc>> {
        let Some(last) = last else {
            return Ok(());
        };
        let next = last.at + chrono(self.min_interval);
        if now >= next {
            return Ok(());
        }
        // One call per refusal, but not a second refusal-driven call within the interval:
        // amoCRM refusing token after fresh token is a fault to wait out, not to chase.
        if cause == RefreshCause::Refusal && !last.after_refusal {
            return Ok(());
        }
        Err(next)
    }

    /// The wait before retry number `failures` (1-based): exponential from 30 s, capped at an
    /// hour, with ±20 % jitter, and never shorter than what amoCRM asked for. With a small margin
    /// both shrink (to a quarter and a half of it), so retries still land before the token
    /// expires — but never below the minimum interval between token calls.
    #[must_use]
    pub fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(7);
        let floor = self.min_interval;
        let first = Duration::from_secs(30).min(self.margin / 4).max(floor);
        let cap = Duration::from_secs(3600).min(self.margin / 2).max(floor);
        let base = first.saturating_mul(1 << exponent).min(cap);
        let spread = rand::thread_rng().gen_range(0.8..=1.2);
        base.mul_f64(spread)
            .max(floor)
            .max(retry_after.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[test]
    fn refreshes_within_the_margin_before_expiry() {
        let policy = RefreshPolicy::default();
        let now = Utc::now();
        let expires = now + secs(24 * 3600);
        for _ in 0..200 {
            let at = policy.next_refresh_at(now, Duration::from_secs(24 * 3600));
            assert!(at <= expires - secs(2 * 3600));
            assert!(at >= expires - chrono::Duration::minutes(132));
        }
    }

    #[test]
    fn short_lived_tokens_are_refreshed_at_half_life_not_in_a_loop() {
        let policy = RefreshPolicy {
            margin: Duration::from_secs(3600),
            ..RefreshPolicy::default()
        };
        let now = Utc::now();
        for _ in 0..100 {
            let at = policy.next_refresh_at(now, Duration::from_secs(20));
            assert!(at >= now + secs(9), "{at} vs {now}");
            assert!(at <= now + secs(10));
        }
    }

    #[test]
    fn no_lifetime_is_so_short_that_refreshes_come_faster_than_the_interval() {
        let policy = RefreshPolicy::default();
        let now = Utc::now();
        for life in [0, 1, 2, 9] {
            let at = policy.next_refresh_at(now, Duration::from_secs(life));
            assert!(at >= now + secs(5), "{life} s: {at}");
        }
        // A token of unknown life is only kept alive, not chased.
        assert_eq!(
            policy.next_refresh_at(now, Duration::ZERO),
            now + secs(7200)
        );
    }

    #[test]
    fn callers_never_insist_on_more_than_half_a_tokens_life() {
        let wanted = Duration::from_secs(120);
        assert_eq!(
            RefreshPolicy::min_validity(wanted, Some(Duration::from_secs(20))),
            Duration::from_secs(10)
        );
        assert_eq!(
            RefreshPolicy::min_validity(wanted, Some(Duration::from_secs(86_400))),
            wanted
        );
        assert_eq!(RefreshPolicy::min_validity(wanted, None), wanted);
    }

    #[test]
    fn token_calls_keep_the_interval_except_once_per_refusal() {
        let policy = RefreshPolicy::default();
        let now = Utc::now();
        let call = |ago: i64, after_refusal| TokenCall {
            at: now - secs(ago),
            after_refusal,
        };
        assert_eq!(policy.may_call(None, now, RefreshCause::Validity), Ok(()));
        assert_eq!(
            policy.may_call(Some(call(5, false)), now, RefreshCause::Schedule),
            Ok(())
        );
        for cause in [RefreshCause::Schedule, RefreshCause::Validity] {
            assert_eq!(
                policy.may_call(Some(call(2, false)), now, cause),
                Err(now + secs(3))
            );
        }
        assert_eq!(
            policy.may_call(Some(call(2, false)), now, RefreshCause::Refusal),
            Ok(())
        );
        assert_eq!(
            policy.may_call(Some(call(2, true)), now, RefreshCause::Refusal),
            Err(now + secs(3)),
            "a refused fresh token is not chased with a second call"
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RefreshPolicy::default();
        assert!(policy.backoff(1, None) <= Duration::from_secs(36));
        assert!(policy.backoff(3, None) >= Duration::from_secs(96));
        assert!(policy.backoff(30, None) <= Duration::from_secs(4320));
        assert!(policy.backoff(1, Some(Duration::from_secs(300))) >= Duration::from_secs(300));
        let tight = RefreshPolicy {
            margin: Duration::from_secs(2),
            ..RefreshPolicy::default()
        };
        assert!(tight.backoff(1, None) >= tight.min_interval);
    }
}
