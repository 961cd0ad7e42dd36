//! Latency summaries and the machine's state, for reports.

use std::time::Duration;

/// Percentiles of one series of latencies (nearest rank: every reported value was observed).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| {
            // Nearest rank: the smallest value with at least p % of the samples at or below it.
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted.get(index.saturating_sub(1)).copied()
        };
        Some(Self {
            count: sorted.len(),
            p50: rank(50.0)?,
            p95: rank(95.0)?,
            p99: rank(99.0)?,
            max: *sorted.last()?,
        })
    }

    /// The median of each percentile over several runs (the machine is shared, so one run can
    /// be unlucky), and the worst maximum seen in any run.
    pub fn median_of(runs: &[Self]) -> Option<Self> {
        let median =
            |field: fn(&Self) -> Duration| median(&runs.iter().map(field).collect::<Vec<_>>());
        Some(Self {
            count: runs.iter().map(|r| r.count).sum(),
            p50: median(|r| r.p50)?,
            p95: median(|r| r.p95)?,
            p99: median(|r| r.p99)?,
            max: runs.iter().map(|r| r.max).max()?,
        })
    }

    /// `| p50 | p95 | p99 | max |` cells in milliseconds.
    pub fn cells(&self) -> String {
        format!(
            "{} | {} | {} | {}",
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// The median of `values` (the lower middle for an even count).
pub fn median<T: Copy + Ord>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// Milliseconds with one decimal.
pub fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

/// A line describing the machine and how busy it is right now: results from a shared box mean
/// little without it.
pub fn machine_load() -> anyhow::Result<String> {
    let load = std::fs::read_to_string("/proc/loadavg")?;
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(format!(
        "machine: {cores} cores, {} MiB memory ({} MiB available), load average {}",
        field("MemTotal:") / 1024,
        field("MemAvailable:") / 1024,
        load.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let summary = Summary::of(&samples).expect("samples");
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p95, Duration::from_millis(95));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
        assert!(Summary::of(&[]).is_none());
    }
}
