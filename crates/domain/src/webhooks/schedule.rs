//! When to try again (docs/security-requirements.md R44).
//!
//! Attempts are due at these offsets from the first one: immediately, 5 s, 5 min, 30 min, 2 h,
//! 5 h, 10 h, 14 h, 20 h and 24 h — ten attempts over a day, long enough to ride out a tenant's
//! deploy or outage, short enough that a dead endpoint stops costing anything. Each wait is
//! measured from the attempt actually made (so a worker outage does not cause a burst) and
//! stretched by up to 10 % of random jitter (so endpoints that failed together do not retry in
//! lockstep).
//!
//! An answer of 2xx delivers; 410 Gone gives up and disables the endpoint; 429, 502, 503 and 504
//! are throttling, and a `Retry-After` longer than the schedule's wait is honoured (up to a day).
//! Everything else — other statuses, redirects, timeouts, refused connections — is retried.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::AttemptOutcome;

/// Offsets of the attempts from the first one.
pub const ATTEMPT_OFFSETS: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// How many attempts a delivery gets.
pub const MAX_ATTEMPTS: u32 = ATTEMPT_OFFSETS.len() as u32;

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The most a wait is stretched by jitter.
const JITTER: f64 = 0.10;

/// The attempts' offsets from the first one, in seconds (`AMOLINK_WEBHOOK_RETRY_OFFSETS`): the
/// default is [`ATTEMPT_OFFSETS`]; a tenant's CI may want `0,1,2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    offsets: [u64; Self::MAX_LEN],
    len: usize,
}

impl RetrySchedule {
    /// The most attempts a schedule may have.
    pub const MAX_LEN: usize = 32;

    /// Offsets from the first attempt: they start at 0, grow strictly and end within a week.
    ///
    /// # Errors
    /// A sentence saying which rule the list breaks.
    pub fn from_secs(offsets: &[u64]) -> Result<Self, String> {
        if offsets.first() != Some(&0) {
            return Err("the first offset must be 0 (the first attempt is immediate)".into());
        }
        if offsets.len() > Self::MAX_LEN {
            return Err(format!("at most {} attempts", Self::MAX_LEN));
        }
        if offsets.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err("offsets must grow strictly".into());
        }
        if offsets.iter().any(|secs| *secs > 7 * 24 * 3600) {
            return Err("offsets must stay within a week (604800 seconds)".into());
        }
        let mut schedule = Self {
            offsets: [0; Self::MAX_LEN],
            len: offsets.len(),
        };
        schedule.offsets[..offsets.len()].copy_from_slice(offsets);
        Ok(schedule)
    }

    /// How many attempts a delivery gets.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.len).unwrap_or(u32::MAX)
    }

    /// The wait after `attempts_made` attempts (1-based), before jitter; `None` when none is left.
    #[must_use]
    pub fn wait_after(&self, attempts_made: u32) -> Option<Duration> {
        let next = usize::try_from(attempts_made).ok()?;
        let offsets = &self.offsets[..self.len];
        let (Some(previous), Some(due)) = (offsets.get(next.checked_sub(1)?), offsets.get(next))
        else {
            return None;
        };
        Some(Duration::from_secs(due.saturating_sub(*previous)))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let secs = ATTEMPT_OFFSETS.map(|d| d.as_secs());
        Self::from_secs(&secs).unwrap_or(Self {
            offsets: [0; Self::MAX_LEN],
            len: 1,
        })
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = String;

    /// Comma-separated seconds, e.g. `0,5,300`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let offsets = text
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("`{}` is not a number of seconds", part.trim()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_secs(&offsets)
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The last attempt failed.
    Exhausted,
    /// 410 Gone: the receiver says the endpoint no longer exists.
    Gone,
}

/// The wait after `attempts_made` attempts (1-based) on the default schedule, before jitter;
/// `None` when none is left.
#[must_use]
pub fn wait_after(attempts_made: u32) -> Option<Duration> {
    RetrySchedule::default().wait_after(attempts_made)
}

fn is_throttling(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Judges an attempt on the default schedule. `attempts_made` counts it; `jitter` is uniform
/// in `[0, 1)`.
#[must_use]
pub fn verdict(
    outcome: &AttemptOutcome,
    attempts_made: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> Verdict {
    verdict_on(
        &RetrySchedule::default(),
        outcome,
        attempts_made,
        now,
        jitter,
    )
}

/// Judges an attempt on `schedule`.
#[must_use]
pub fn verdict_on(
    schedule: &RetrySchedule,
    outcome: &AttemptOutcome,
    attempts_made: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> Verdict {
    let retry_after = match outcome {
        AttemptOutcome::Responded { status, .. } if (200..300).contains(status) => {
            return Verdict::Delivered;
        }
        AttemptOutcome::Responded { status: 410, .. } => return Verdict::Gone,
        AttemptOutcome::Responded {
            status,
            retry_after,
        } if is_throttling(*status) => *retry_after,
        _ => None,
    };
    let Some(wait) = schedule.wait_after(attempts_made) else {
        return Verdict::Exhausted;
    };
    let wait = wait.mul_f64(1.0 + JITTER * jitter.clamp(0.0, 1.0));
    let wait = retry_after
        .map_or(wait, |asked| asked.min(MAX_RETRY_AFTER).max(wait))
        .max(Duration::from_secs(1));
    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    Verdict::RetryAt(
        now.checked_add_signed(wait)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> AttemptOutcome {
        AttemptOutcome::Responded {
            status,
            retry_after: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000, 0).expect("valid")
    }

    #[test]
    fn the_schedule_spans_a_day_in_ten_attempts() {
        let total: Duration = (1..MAX_ATTEMPTS).filter_map(wait_after).sum();
        assert_eq!(total, Duration::from_secs(24 * 3600));
        assert_eq!(MAX_ATTEMPTS, 10);
        assert_eq!(wait_after(1), Some(Duration::from_secs(5)));
        assert_eq!(wait_after(2), Some(Duration::from_secs(295)));
        assert_eq!(wait_after(MAX_ATTEMPTS), None);
        assert_eq!(wait_after(0), None);
    }

    #[test]
    fn successes_failures_and_gone() {
        for status in [200, 201, 204, 299] {
            assert_eq!(
                verdict(&answered(status), 1, now(), 0.0),
                Verdict::Delivered
            );
        }
        assert_eq!(verdict(&answered(410), 1, now(), 0.0), Verdict::Gone);
        for status in [301, 302, 307, 400, 401, 404, 500] {
            assert_eq!(
                verdict(&answered(status), 1, now(), 0.0),
                Verdict::RetryAt(now() + chrono::Duration::seconds(5)),
                "{status}"
            );
        }
        let timeout = AttemptOutcome::Failed {
            reason: "timeout".into(),
        };
        assert_eq!(
            verdict(&timeout, 3, now(), 0.0),
            Verdict::RetryAt(now() + chrono::Duration::minutes(25))
        );
        assert_eq!(
            verdict(&answered(500), MAX_ATTEMPTS, now(), 0.0),
            Verdict::Exhausted
        );
    }

    #[test]
    fn jitter_stretches_by_at_most_a_tenth() {
        let Verdict::RetryAt(at) = verdict(&answered(500), 4, now(), 0.999) else {
            panic!("retries");
        };
        let wait = at - now();
        assert!(wait >= chrono::Duration::minutes(90), "{wait}");
        assert!(wait <= chrono::Duration::minutes(99), "{wait}");
    }

    #[test]
    fn throttling_honours_a_longer_retry_after_up_to_a_day() {
        let throttled = |status, secs| AttemptOutcome::Responded {
            status,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            verdict(&throttled(429, 120), 1, now(), 0.0),
            Verdict::RetryAt(now() + chrono::Duration::seconds(120))
        );
        assert_eq!(
            verdict(&throttled(503, 1), 2, now(), 0.0),
            Verdict::RetryAt(now() + chrono::Duration::seconds(295)),
            "a shorter Retry-After does not speed up the schedule"
        );
        assert_eq!(
            verdict(&throttled(429, 10 * 24 * 3600), 1, now(), 0.0),
            Verdict::RetryAt(now() + chrono::Duration::hours(24))
        );
        assert_eq!(
            verdict(&throttled(500, 600), 1, now(), 0.0),
            Verdict::RetryAt(now() + chrono::Duration::seconds(5)),
            "Retry-After only counts on throttling statuses"
        );
    }

    #[test]
    fn a_schedule_parses_from_seconds_and_refuses_nonsense() {
        let short: RetrySchedule = "0, 1,2".parse().expect("valid");
        assert_eq!(short.attempts(), 3);
        assert_eq!(short.wait_after(1), Some(Duration::from_secs(1)));
        assert_eq!(short.wait_after(3), None);
        assert_eq!(
            verdict_on(&short, &answered(500), 3, now(), 0.0),
            Verdict::Exhausted
        );
        assert_eq!(
            "0,5,300,1800,7200,18000,36000,50400,72000,86400"
                .parse::<RetrySchedule>()
                .expect("the default"),
            RetrySchedule::default()
        );
        for bad in ["", "5,10", "0,10,10", "0,x", "0,-1", "0,999999999"] {
            assert!(bad.parse::<RetrySchedule>().is_err(), "{bad}");
        }
    }
}
