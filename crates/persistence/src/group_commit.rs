//! Group commit: concurrent small write transactions share one commit.
//!
//! The token keeper refreshes many connections at once, and each refresh writes twice (the
//! journal row before calling amoCRM, the new pair after). Committed one by one, every write
//! pays a flush; here the writes that arrive while a batch is being committed wait for the
//! next batch and are committed together, so a busy drain costs a fraction of a commit per
//! write and an idle one pays no added wait (a lone write is sent at once).
//!
//! Hand-written because neither sea-orm nor sqlx batches independent transactions. Each job is
//! a closure that may run twice: when one job of a batch fails, the batch is rolled back and
//! every job is retried alone, so a failure never leaks into another job's result.

use std::{future::Future, pin::Pin, sync::Arc};

use domain::StoreError;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait as _};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::database::store_error;

/// The most jobs one commit carries (a bound on how long one batch holds the writer).
const MAX_BATCH: usize = 64;
/// Jobs waiting for a batch; a full queue makes callers wait, never drops a write.
const QUEUE: usize = 1024;

pub(crate) type BoxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// A job type-erased so that jobs of different result types share a batch.
trait Job: Send {
    fn run<'t>(&'t mut self, txn: &'t DatabaseTransaction)
    -> BoxFuture<'t, Result<(), StoreError>>;
    fn reply(self: Box<Self>, outcome: Result<(), StoreError>);
}

struct Pending<T, F> {
    work: F,
    value: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: for<'t> Fn(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, StoreError>> + Send + Sync,
{
    fn run<'t>(
        &'t mut self,
        txn: &'t DatabaseTransaction,
    ) -> BoxFuture<'t, Result<(), StoreError>> {
        Box::pin(async move {
            self.value = Some((self.work)(txn).await?);
            Ok(())
        })
    }

    fn reply(mut self: Box<Self>, outcome: Result<(), StoreError>) {
        let answer = outcome.and_then(|()| {
            self.value.take().ok_or_else(|| {
                StoreError::Unavailable(anyhow::anyhow!("group commit lost a result"))
            })
        });
        // The caller may have gone away (cancelled); its write is committed all the same.
        let _ = self.reply.send(answer);
    }
}

/// A handle to the committers of one database (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl GroupCommit {
    /// Starts `committers` tasks writing through `conn` (one for SQLite's single writer; a
    /// few for PostgreSQL, where batches can commit side by side).
    pub(crate) fn start(conn: DatabaseConnection, committers: usize) -> Self {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..committers.max(1) {
            tokio::spawn(commit_batches(conn.clone(), jobs.clone()));
        }
        Self { queue }
    }

    /// Runs `work` in a transaction shared with other concurrent jobs and answers its result
    /// once that transaction committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> Fn(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, StoreError>>
            + Send
            + Sync
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work,
            value: None,
            reply,
        });
        let gone = || StoreError::Unavailable(anyhow::anyhow!("the database writer stopped"));
        self.queue.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn commit_batches(conn: DatabaseConnection, jobs: Arc<Mutex<mpsc::Receiver<Box<dyn Job>>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        commit(&conn, batch).await;
    }
}

/// Commits a batch as one transaction; if anything in it fails, every job runs alone.
async fn commit(conn: &DatabaseConnection, mut batch: Vec<Box<dyn Job>>) {
    let together = async {
        let txn = conn.begin().await.map_err(store_error)?;
        for job in &mut batch {
            job.run(&txn).await?;
        }
        txn.commit().await.map_err(store_error)
    }
    .await;
    match together {
        Ok(()) => batch.into_iter().for_each(|job| job.reply(Ok(()))),
        Err(e) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                job.reply(Err(e));
            }
        }
        Err(_) => {
            for mut job in batch {
                let alone = async {
                    let txn = conn.begin().await.map_err(store_error)?;
                    job.run(&txn).await?;
                    txn.commit().await.map_err(store_error)
                }
                .await;
                job.reply(alone);
            }
        }
    }
}
