use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;

/// When to refresh, how long a lease lasts, and how to back off.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Refresh this long before the access token expires (`AMOLINK_REFRESH_MARGIN_SECS`).
    pub margin: Duration,
    /// How long a claimed connection stays reserved for its claimer; longer than one refresh
    /// call (connect + read timeouts) with room to persist the result.
    pub lease: Duration,
    /// After this long in a failing state, stop retrying and ask for a new connection.
    pub give_up_after: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(7200),
            lease: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl RefreshPolicy {
    /// When a token issued at `now` that expires at `expires_at` should be refreshed: the margin
    /// before expiry (never more than half the token's life, so short-lived tokens do not loop),
    /// minus up to a tenth of that lead as jitter, so connections made together spread out.
    #[must_use]
    pub fn next_refresh_at(&self, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> DateTime<Utc> {
        let life = (expires_at - now).max(chrono::Duration::zero());
        let lead = chrono(self.margin).min(life / 2);
        let jitter_ms = lead.num_milliseconds() / 10;
        let jitter = if jitter_ms > 0 {
            chrono::Duration::milliseconds(rand::thread_rng().gen_range(0..=jitter_ms))
        } else {
            chrono::Duration::zero()
        };
        expires_at - lead - jitter
    }

    /// The wait before retry number `failures` (1-based): exponential from 30 s, capped at an
    /// hour, with ±20 % jitter, and never shorter than what amoCRM asked for. With a small margin
    /// both shrink (to a quarter and a half of it), so retries still land before the token expires.
    #[must_use]
    pub fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(7);
        let floor = Duration::from_millis(200);
        let first = Duration::from_secs(30).min(self.margin / 4).max(floor);
        let cap = Duration::from_secs(3600).min(self.margin / 2).max(floor);
        let base = first.saturating_mul(1 << exponent).min(cap);
        let spread = rand::thread_rng().gen_range(0.8..=1.2);
        base.mul_f64(spread).max(retry_after.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_within_the_margin_before_expiry() {
        let policy = RefreshPolicy::default();
        let now = Utc::now();
        let expires = now + chrono::Duration::hours(24);
        for _ in 0..200 {
            let at = policy.next_refresh_at(now, expires);
            assert!(at <= expires - chrono::Duration::hours(2));
            assert!(at >= expires - chrono::Duration::minutes(132));
        }
    }

    #[test]
    fn short_lived_tokens_are_refreshed_at_half_life_not_in_a_loop() {
        let policy = RefreshPolicy::default();
        let now = Utc::now();
        let at = policy.next_refresh_at(now, now + chrono::Duration::seconds(60));
        assert!(at > now + chrono::Duration::seconds(26), "{at} vs {now}");
        assert!(at <= now + chrono::Duration::seconds(30));
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RefreshPolicy::default();
        assert!(policy.backoff(1, None) <= Duration::from_secs(36));
        assert!(policy.backoff(3, None) >= Duration::from_secs(96));
        assert!(policy.backoff(30, None) <= Duration::from_secs(4320));
        assert!(policy.backoff(1, Some(Duration::from_secs(300))) >= Duration::from_secs(300));
    }
}
