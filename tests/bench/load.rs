//! Closed-loop load: a fixed number of workers, each sending its next request as soon as the
//! previous one is answered. This is how a burst from one sender (amoCRM, an attacker's pool)
//! behaves, and it never queues more than `concurrency` requests, so a slow server shows up as
//! latency, not as an ever-growing backlog in the driver.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::task::JoinSet;

/// One answered request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub elapsed: Duration,
    pub status: u16,
}

/// When the workers stop.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many requests in total (numbered `0..n` for the job).
    Count(usize),
    /// When this moment has passed (requests in flight finish).
    Deadline(Instant),
}

/// Runs `job(i)` for i = 0, 1, … with `concurrency` in flight until `until`; answers every
/// sample and the number of requests that failed without an HTTP answer.
pub async fn closed_loop<F, Fut>(concurrency: usize, until: Until, job: F) -> (Vec<Sample>, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Sample>> + Send + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (job, next) = (job.clone(), next.clone());
        workers.spawn(async move {
            let mut samples = Vec::new();
            let mut failures = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let go_on = match until {
                    Until::Count(n) => i < n,
                    Until::Deadline(at) => Instant::now() < at,
                };
                if !go_on {
                    return (samples, failures);
                }
                match job(i).await {
                    Ok(sample) => samples.push(sample),
                    Err(_) => failures += 1,
                }
            }
        });
    }
    let mut samples = Vec::new();
    let mut failures = 0;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((mut some, failed)) => {
                samples.append(&mut some);
                failures += failed;
            }
            Err(_) => failures += 1,
        }
    }
    (samples, failures)
}

/// `status → count`, for reports (`200×950, 429×50`).
pub fn status_counts(samples: &[Sample]) -> String {
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for sample in samples {
        *counts.entry(sample.status).or_default() += 1;
    }
    counts
        .iter()
        .map(|(status, count)| format!("{status}×{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The latencies of `samples`.
pub fn latencies(samples: &[Sample]) -> Vec<Duration> {
    samples.iter().map(|s| s.elapsed).collect()
}
