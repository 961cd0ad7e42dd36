//! The write path: a bounded queue in memory, drained by one background task that inserts in
//! batches (one multi-row INSERT each). Callers never wait for storage: when the queue is full
//! the entry is dropped and counted, so a slow database costs activity rows, never proxy latency.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, mpsc};

use super::{ActivityStore, NewActivity};

/// Tuning of the queue and the writer.
#[derive(Debug, Clone, Copy)]
pub struct RecorderSettings {
    /// Entries held in memory at most, waiting to be written.
    pub capacity: usize,
    /// Rows per INSERT at most.
    pub batch: usize,
    /// How long the writer waits for a batch to fill before writing what it has (≤ 500 ms, so
    /// activity shows up promptly).
    pub flush_every: Duration,
}

impl Default for RecorderSettings {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            batch: 500,
            flush_every: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    recorded: AtomicU64,
    dropped: AtomicU64,
    lost: AtomicU64,
    /// Set by the writer when it has stopped.
    finished: AtomicBool,
    done: Notify,
}

/// The cheap, cloneable handle that services record through.
#[derive(Clone, Debug)]
pub struct ActivityRecorder {
    /// `None` when recording is off.
    queue: Option<mpsc::Sender<NewActivity>>,
    counters: Arc<Counters>,
    stop: Arc<Notify>,
}

/// The background writer; run it with [`RecorderWorker::run`].
pub struct RecorderWorker {
    queue: mpsc::Receiver<NewActivity>,
    store: Arc<dyn ActivityStore>,
    settings: RecorderSettings,
    counters: Arc<Counters>,
    stop: Arc<Notify>,
}

impl ActivityRecorder {
    /// A recorder and the writer that drains it.
    #[must_use]
    pub fn new(
        store: Arc<dyn ActivityStore>,
        settings: RecorderSettings,
    ) -> (Self, RecorderWorker) {
        let (sender, queue) = mpsc::channel(settings.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(Notify::new());
        (
            Self {
                queue: Some(sender),
                counters: counters.clone(),
                stop: stop.clone(),
            },
            RecorderWorker {
                queue,
                store,
                settings: RecorderSettings {
                    batch: settings.batch.max(1),
                    ..settings
                },
                counters,
                stop,
            },
        )
    }

    /// A recorder that records nothing (recording turned off).
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            queue: None,
            counters: Arc::new(Counters::default()),
            stop: Arc::new(Notify::new()),
        }
    }

    /// Queues an entry without waiting; a full queue drops it (counted in [`Self::dropped`]).
    pub fn record(&self, entry: NewActivity) {
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_send(entry) {
            Ok(()) => {
                self.counters.recorded.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Entries queued since start.
    #[must_use]
    pub fn recorded(&self) -> u64 {
        self.counters.recorded.load(Ordering::Relaxed)
    }

    /// Entries dropped because the queue was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Entries lost because storage refused their batch.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.counters.lost.load(Ordering::Relaxed)
    }

    /// Tells the writer to write what is queued and stop, and waits (at most `wait`) until it
    /// has (at shutdown).
    pub async fn shut_down(&self, wait: Duration) {
        if self.queue.is_none() {
            return;
        }
        let done = self.counters.done.notified();
        self.stop.notify_one();
        if !self.counters.finished.load(Ordering::Acquire)
            && tokio::time::timeout(wait, done).await.is_err()
        {
            tracing::warn!("connection activity was not all written before shutdown");
        }
    }
}

impl RecorderWorker {
    /// Writes batches until [`ActivityRecorder::shut_down`] (then flushes what is queued) or
    /// until every recorder is dropped.
    pub async fn run(mut self) {
        let batch = self.settings.batch;
        let mut rows = Vec::with_capacity(batch);
        loop {
            let stopping = tokio::select! {
                biased;
                () = self.stop.notified() => true,
                received = self.queue.recv_many(&mut rows, batch) => received == 0,
            };
            if stopping {
                while let Ok(entry) = self.queue.try_recv() {
                    rows.push(entry);
                    if rows.len() >= batch {
                        self.write(&mut rows).await;
                    }
                }
                self.write(&mut rows).await;
                self.counters.finished.store(true, Ordering::Release);
                self.counters.done.notify_waiters();
                return;
            }
            // Let the batch fill for a moment: fewer, larger INSERTs under load.
            let deadline = tokio::time::Instant::now() + self.settings.flush_every;
            while rows.len() < batch {
                let room = batch - rows.len();
                match tokio::time::timeout_at(deadline, self.queue.recv_many(&mut rows, room)).await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            self.write(&mut rows).await;
        }
    }

    async fn write(&self, rows: &mut Vec<NewActivity>) {
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.store.insert_activity(rows).await {
            self.counters
                .lost
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, rows = rows.len(), "could not write connection activity");
        }
        rows.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::{
        StoreError,
        activity::{
            ActivityCursor, ActivityFilter, ActivityKind, ActivityPage, DailyRow, ProxySample,
        },
        ids::{ConnectionId, WorkspaceId},
    };

    #[derive(Default)]
    struct Batches(Mutex<Vec<usize>>);

    #[async_trait]
    impl ActivityStore for Batches {
        async fn insert_activity(&self, batch: &[NewActivity]) -> Result<(), StoreError> {
            self.0.lock().expect("lock").push(batch.len());
            Ok(())
        }
        async fn activity(
            &self,
            _: WorkspaceId,
            _: ConnectionId,
            _: &ActivityFilter,
            _: Option<ActivityCursor>,
            _: u64,
        ) -> Result<ActivityPage, StoreError> {
            unimplemented!()
        }
        async fn purge_activity(&self, _: DateTime<Utc>, _: u64) -> Result<u64, StoreError> {
            unimplemented!()
        }
        async fn daily_activity(
            &self,
            _: WorkspaceId,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Vec<DailyRow>, StoreError> {
            unimplemented!()
        }
        async fn proxy_samples(
            &self,
            _: WorkspaceId,
            _: ConnectionId,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
            _: u64,
        ) -> Result<Vec<ProxySample>, StoreError> {
            unimplemented!()
        }
        async fn connection_status_counts(
            &self,
            _: WorkspaceId,
        ) -> Result<Vec<(String, u64)>, StoreError> {
            unimplemented!()
        }
    }

    fn entry() -> NewActivity {
        NewActivity::new(
            WorkspaceId::random(),
            ConnectionId::random(),
            Utc::now(),
            ActivityKind::ProxyCall,
            "relayed",
        )
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let store = Arc::new(Batches::default());
        let (recorder, _worker) = ActivityRecorder::new(
            store,
            RecorderSettings {
                capacity: 3,
                ..RecorderSettings::default()
            },
        );
        for _ in 0..5 {
            recorder.record(entry());
        }
        assert_eq!((recorder.recorded(), recorder.dropped()), (3, 2));
    }

    #[tokio::test]
    async fn entries_are_written_in_batches_and_flushed_on_shutdown() {
        let store = Arc::new(Batches::default());
        let (recorder, worker) = ActivityRecorder::new(
            store.clone(),
            RecorderSettings {
                capacity: 100,
                batch: 4,
                flush_every: Duration::from_secs(3600),
            },
        );
        for _ in 0..10 {
            recorder.record(entry());
        }
        let running = tokio::spawn(worker.run());
        recorder.shut_down(Duration::from_secs(10)).await;
        assert!(running.is_finished() || running.await.is_ok());
        let batches = store.0.lock().expect("lock").clone();
        assert_eq!(batches.iter().sum::<usize>(), 10);
        assert!(batches.iter().all(|n| *n <= 4), "{batches:?}");
    }

    #[tokio::test]
    async fn a_disabled_recorder_records_nothing() {
        let recorder = ActivityRecorder::disabled();
        recorder.record(entry());
        assert_eq!((recorder.recorded(), recorder.dropped()), (0, 0));
    }
}
