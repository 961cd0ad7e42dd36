//! The numbers the charts show, computed from bounded queries.

use chrono::{DateTime, Duration, DurationRound as _, Utc};

use super::{DailyRow, ProxySample};

/// One day of a workspace's activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    /// Midnight UTC that starts the day.
    pub day: DateTime<Utc>,
    pub proxy_calls: u64,
    pub proxy_errors: u64,
    pub refreshes: u64,
}

/// One hour of a connection's proxied calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourStats {
    /// The start of the hour (UTC).
    pub hour: DateTime<Utc>,
    pub calls: u64,
    pub errors: u64,
    /// Latency percentiles in milliseconds, when the hour had calls with a latency.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// `days` consecutive days ending with the one holding `now`, zeros where nothing happened.
#[must_use]
pub fn daily_totals(rows: &[DailyRow], now: DateTime<Utc>, days: u32) -> Vec<DayTotals> {
    let today = now.timestamp_millis().div_euclid(DAY_MS);
    (0..i64::from(days))
        .rev()
        .map(|back| {
            let day = today - back;
            let row = rows.iter().find(|r| r.day == day);
            DayTotals {
                day: DateTime::from_timestamp_millis(day * DAY_MS).unwrap_or(now),
                proxy_calls: row.map_or(0, |r| r.proxy_calls),
                proxy_errors: row.map_or(0, |r| r.proxy_errors),
                refreshes: row.map_or(0, |r| r.refreshes),
            }
        })
        .collect()
}

/// The nearest-rank percentile (`p` in 0..=100) of sorted values.
#[must_use]
pub fn percentile(sorted: &[u32], p: u32) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1);
    let index = usize::try_from(rank - 1).unwrap_or(usize::MAX);
    sorted.get(index.min(sorted.len() - 1)).copied()
}

/// `hours` consecutive hours ending with the one holding `now`: calls, errors and latency
/// percentiles of the samples in each.
#[must_use]
pub fn hourly_stats(samples: &[ProxySample], now: DateTime<Utc>, hours: u32) -> Vec<HourStats> {
    let current = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    (0..i64::from(hours))
        .rev()
        .map(|back| {
            let hour = current - Duration::hours(back);
            let end = hour + Duration::hours(1);
            let within: Vec<&ProxySample> = samples
                .iter()
                .filter(|s| s.at >= hour && s.at < end)
                .collect();
            let mut latencies: Vec<u32> = within.iter().filter_map(|s| s.latency_ms).collect();
            latencies.sort_unstable();
            HourStats {
                hour,
                calls: within.len() as u64,
                errors: within
                    .iter()
                    .filter(|s| s.status.is_none_or(|status| status >= 400))
                    .count() as u64,
                p50_ms: percentile(&latencies, 50),
                p95_ms: percentile(&latencies, 95),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + secs, 0).expect("valid")
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn hours_count_calls_errors_and_latency() {
        let now = at(0);
        let samples = [
            ProxySample {
                at: now,
                status: Some(200),
                latency_ms: Some(10),
            },
            ProxySample {
                at: now,
                status: Some(502),
                latency_ms: Some(30),
            },
            ProxySample {
                at: now - Duration::hours(2),
                status: None,
                latency_ms: None,
            },
        ];
        let hours = hourly_stats(&samples, now, 24);
        assert_eq!(hours.len(), 24);
        let last = hours[23];
        assert_eq!((last.calls, last.errors), (2, 1));
        assert_eq!((last.p50_ms, last.p95_ms), (Some(10), Some(30)));
        assert_eq!((hours[21].calls, hours[21].errors), (1, 1));
        assert_eq!(hours[21].p50_ms, None);
        assert_eq!(hours.iter().map(|h| h.calls).sum::<u64>(), 3);
    }

    #[test]
    fn days_are_filled_with_zeros() {
        let now = at(0);
        let today = now.timestamp_millis().div_euclid(DAY_MS);
        let rows = [DailyRow {
            day: today - 1,
            proxy_calls: 5,
            proxy_errors: 1,
            refreshes: 2,
        }];
        let days = daily_totals(&rows, now, 14);
        assert_eq!(days.len(), 14);
        assert_eq!(days[12].proxy_calls, 5);
        assert_eq!(days[13].proxy_calls, 0);
        assert!(days[13].day <= now && now - days[13].day < Duration::days(1));
    }
}
