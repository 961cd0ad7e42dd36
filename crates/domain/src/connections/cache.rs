//! The connections this instance read recently, sealed tokens included, so a busy connection's
//! proxied calls and vended tokens cost no database read each.
//!
//! Invalidation, the rule of `crate::trusted_cache` (the API-key cache follows it too): an entry
//! is trusted for at most [`CONNECTION_CACHE_TTL`] after it was read from the database. That is the bound
//! within which a change made on another instance (a revocation, a refresh, a new status)
//! reaches this one. A change made on this instance forgets the connection at once, so it is
//! immediate here: every write goes through [`CachedConnections`] (the repository every service
//! but the keeper uses) or the keeper, which forgets what it refreshed.
//!
//! What a stale entry can do within the bound is limited by how it is used:
//! - Tokens are judged against the expiry amoCRM stated, read with them: a cached token is never
//!   vended or sent with less than the keeper's send guard left, whatever its age.
//! - Only the first look of the keeper's token lookups uses the cache. Everything that decides
//!   on a refresh (the interval rule, the lease, a refused token's replacement) reads the
//!   database.
//! - Unknown connections are never cached, and a cached connection is only answered for its own
//!   workspace.
//!
//! Tokens stay sealed in the cache; they are opened per use, like those read from the database.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use super::{
    ConnectionEvent, ConnectionFilter, ConnectionRecord, ConnectionSummary, NewEvent, Page,
    PageCursor, StatusChange,
};
use crate::{
    StoreError,
    amo::Platform,
    ids::{ConnectionId, WorkspaceId},
    ports::ConnectionRepository,
    trusted_cache::TrustedCache,
};

/// How long a connection read from the database is trusted without reading it again: the bound
/// for a change on another instance to take effect here.
pub const CONNECTION_CACHE_TTL: Duration = Duration::from_secs(1);
/// Connections kept at most; the least recently used go first.
const CAPACITY: usize = 10_000;

/// Connections by id, trusted for a period (see [`TrustedCache`]), answered only for their own
/// workspace.
pub struct ConnectionCache {
    entries: TrustedCache<ConnectionId, Arc<ConnectionRecord>>,
}

impl Default for ConnectionCache {
    fn default() -> Self {
        Self::new(CONNECTION_CACHE_TTL)
    }
}

impl ConnectionCache {
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: TrustedCache::new(ttl, CAPACITY),
        }
    }

    /// The workspace's connection if it was read from the database within the trust period.
    #[must_use]
    pub fn get(&self, workspace: WorkspaceId, id: ConnectionId) -> Option<Arc<ConnectionRecord>> {
        self.entries
            .get(&id)
            .filter(|record| record.workspace == workspace)
    }

    /// Forgets a connection this instance changed.
    pub fn forget(&self, id: ConnectionId) {
        self.entries.forget(&id);
    }

    /// The workspace's connection, from the cache within the trust period (read again in the
    /// background once past half of it), else from `repo`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn read(
        self: &Arc<Self>,
        repo: &Arc<dyn ConnectionRepository>,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<Option<Arc<ConnectionRecord>>, StoreError> {
        match self.entries.lookup(&id) {
            Some((record, renew)) if record.workspace == workspace => {
                if renew {
                    let (cache, repo) = (self.clone(), repo.clone());
                    tokio::spawn(async move {
                        if let Err(e) = cache.read_through(repo.as_ref(), workspace, id).await {
                            tracing::warn!(connection_id = %id, error = %e, "could not renew a cached connection");
                        }
                    });
                }
                Ok(Some(record))
            }
            _ => self.read_through(repo.as_ref(), workspace, id).await,
        }
    }

    /// Reads the connection from `repo` and remembers it (a connection gone is dropped).
    async fn read_through(
        &self,
        repo: &dyn ConnectionRepository,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<Option<Arc<ConnectionRecord>>, StoreError> {
        let generation = self.entries.generation();
        let Some(record) = repo.connection(workspace, id).await? else {
            self.entries.remove(&id);
            return Ok(None);
        };
        let record = Arc::new(record);
        self.entries.insert(generation, id, record.clone());
        Ok(Some(record))
    }
}

/// The connection repository with reads served from a [`ConnectionCache`]: every write through
/// it forgets the connection it changed, so this instance never reads its own stale data.
pub struct CachedConnections {
    inner: Arc<dyn ConnectionRepository>,
    cache: Arc<ConnectionCache>,
}

impl CachedConnections {
    #[must_use]
    pub fn new(inner: Arc<dyn ConnectionRepository>, cache: Arc<ConnectionCache>) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl ConnectionRepository for CachedConnections {
    async fn connection_for_account(
        &self,
        workspace: WorkspaceId,
        platform: Platform,
        account_id: i64,
    ) -> Result<Option<ConnectionId>, StoreError> {
        self.inner
            .connection_for_account(workspace, platform, account_id)
            .await
    }

    async fn save_connection(
        &self,
        record: &ConnectionRecord,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let saved = self.inner.save_connection(record, events).await;
        self.cache.forget(record.id);
        saved
    }

    async fn list_connections(
        &self,
        workspace: WorkspaceId,
        filter: &ConnectionFilter,
        after: Option<PageCursor>,
        limit: u64,
    ) -> Result<Page<ConnectionSummary>, StoreError> {
        self.inner
            .list_connections(workspace, filter, after, limit)
            .await
    }

    async fn connection(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self
            .cache
            .read(&self.inner, workspace, id)
            .await?
            .map(|record| ConnectionRecord::clone(&record)))
    }

    async fn events(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        limit: u64,
    ) -> Result<Vec<ConnectionEvent>, StoreError> {
        self.inner.events(workspace, id, limit).await
    }

    async fn change_status(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let changed = self.inner.change_status(workspace, id, change).await;
        self.cache.forget(id);
        changed
    }

    async fn connections_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.inner.connections_by_client_id(client_id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use chrono::Utc;

    use super::*;
    use crate::connections::{Actor, ConnectionStatus, Transition};

    fn record(workspace: WorkspaceId) -> ConnectionRecord {
        let now = Utc::now();
        ConnectionRecord {
            id: ConnectionId::random(),
            workspace,
            platform: Platform::AmoCrm,
            account_id: 1,
            account_name: "Acme".into(),
            host: "acme.amocrm.ru".into(),
            api_domain: None,
            client_id: "c".into(),
            client_secret: None,
            access_token: Some("sealed".into()),
            refresh_token: None,
            access_expires_at: None,
            access_lifetime: None,
            token_call: None,
            next_refresh_at: None,
            refresh_failures: 0,
            status: ConnectionStatus::Active,
            status_reason: None,
            status_at: now,
            connected_at: now,
            last_refresh_at: None,
            last_error: None,
            end_user_id: None,
            metadata: None,
        }
    }

    /// One stored connection; counts the reads that reach it.
    struct Stored {
        record: Mutex<ConnectionRecord>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl ConnectionRepository for Stored {
        async fn connection_for_account(
            &self,
            _: WorkspaceId,
            _: Platform,
            _: i64,
        ) -> Result<Option<ConnectionId>, StoreError> {
            Ok(None)
        }

        async fn save_connection(
            &self,
            record: &ConnectionRecord,
            _: &[NewEvent],
        ) -> Result<(), StoreError> {
            *self.record.lock().expect("lock") = record.clone();
            Ok(())
        }

        async fn list_connections(
            &self,
            _: WorkspaceId,
            _: &ConnectionFilter,
            _: Option<PageCursor>,
            _: u64,
        ) -> Result<Page<ConnectionSummary>, StoreError> {
            Ok(Page {
                items: Vec::new(),
                next: None,
            })
        }

        async fn connection(
            &self,
            workspace: WorkspaceId,
            id: ConnectionId,
        ) -> Result<Option<ConnectionRecord>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let record = self.record.lock().expect("lock").clone();
            Ok((record.workspace == workspace && record.id == id).then_some(record))
        }

        async fn events(
            &self,
            _: WorkspaceId,
            _: ConnectionId,
            _: u64,
        ) -> Result<Vec<ConnectionEvent>, StoreError> {
            Ok(Vec::new())
        }

        async fn change_status(
            &self,
            _: WorkspaceId,
            _: ConnectionId,
            change: &StatusChange,
        ) -> Result<bool, StoreError> {
            self.record.lock().expect("lock").status = change.transition.target();
            Ok(true)
        }

        async fn connections_by_client_id(
            &self,
            _: &str,
        ) -> Result<Vec<ConnectionRecord>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn stored(record: ConnectionRecord) -> Arc<Stored> {
        Arc::new(Stored {
            record: Mutex::new(record),
            reads: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn reads_within_the_trust_period_reach_the_database_once() {
        let workspace = WorkspaceId::random();
        let record = record(workspace);
        let id = record.id;
        let db = stored(record);
        let repo: Arc<dyn ConnectionRepository> = db.clone();
        let cache = Arc::new(ConnectionCache::new(Duration::from_millis(100)));
        for _ in 0..5 {
            let read = cache.read(&repo, workspace, id).await.expect("storage");
            assert_eq!(read.expect("present").id, id);
        }
        assert_eq!(db.reads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(120)).await;
        cache.read(&repo, workspace, id).await.expect("storage");
        assert_eq!(
            db.reads.load(Ordering::SeqCst),
            2,
            "read again after the period"
        );
    }

    #[tokio::test]
    async fn another_workspace_and_unknown_ids_are_never_answered_from_the_cache() {
        let workspace = WorkspaceId::random();
        let record = record(workspace);
        let id = record.id;
        let db = stored(record);
        let repo: Arc<dyn ConnectionRepository> = db.clone();
        let cache = Arc::new(ConnectionCache::new(Duration::from_secs(60)));
        cache.read(&repo, workspace, id).await.expect("storage");
        let stranger = WorkspaceId::random();
        assert!(cache.get(stranger, id).is_none());
        assert!(
            cache
                .read(&repo, stranger, id)
                .await
                .expect("storage")
                .is_none()
        );
        let unknown = ConnectionId::random();
        for _ in 0..2 {
            assert!(
                cache
                    .read(&repo, workspace, unknown)
                    .await
                    .expect("present")
                    .is_none()
            );
        }
        assert_eq!(db.reads.load(Ordering::SeqCst), 4, "misses are not cached");
    }

    #[tokio::test]
    async fn a_change_through_the_cached_repository_is_seen_at_once() {
        let workspace = WorkspaceId::random();
        let record = record(workspace);
        let id = record.id;
        let db = stored(record);
        let cache = Arc::new(ConnectionCache::new(Duration::from_secs(60)));
        let repo = CachedConnections::new(db.clone(), cache.clone());
        let before = repo
            .connection(workspace, id)
            .await
            .expect("storage")
            .expect("present");
        assert_eq!(before.status, ConnectionStatus::Active);
        let revoke = StatusChange::new(Transition::Revoke, Actor::Amolink, None, Utc::now());
        assert!(
            repo.change_status(workspace, id, &revoke)
                .await
                .expect("storage")
        );
        let after = repo
            .connection(workspace, id)
            .await
            .expect("storage")
            .expect("present");
        assert_eq!(after.status, ConnectionStatus::Revoked);

        let mut renamed = after.clone();
        renamed.account_name = "Renamed".into();
        repo.save_connection(&renamed, &[]).await.expect("storage");
        let read = repo
            .connection(workspace, id)
            .await
            .expect("storage")
            .expect("present");
        assert_eq!(read.account_name, "Renamed");
        assert_eq!(db.reads.load(Ordering::SeqCst), 3, "one read per change");
    }

    /// A connection in use is read again in the background once past half the period, so its
    /// calls keep finding it; none is answered from an entry older than the period.
    #[tokio::test]
    async fn an_entry_in_use_is_renewed_before_it_runs_out() {
        let workspace = WorkspaceId::random();
        let record = record(workspace);
        let id = record.id;
        let db = stored(record);
        let repo: Arc<dyn ConnectionRepository> = db.clone();
        let cache = Arc::new(ConnectionCache::new(Duration::from_millis(200)));
        cache.read(&repo, workspace, id).await.expect("storage");
        tokio::time::sleep(Duration::from_millis(120)).await;
        db.record.lock().expect("lock").account_name = "Renamed".into();
        let aging = cache
            .read(&repo, workspace, id)
            .await
            .expect("storage")
            .expect("present");
        assert_eq!(aging.account_name, "Acme", "answered from the cache");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            db.reads.load(Ordering::SeqCst),
            2,
            "renewed once, in the background"
        );
        let renewed = cache.get(workspace, id).expect("renewed, not run out");
        assert_eq!(renewed.account_name, "Renamed");
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_cached() {
        let cache = ConnectionCache::new(Duration::from_secs(60));
        let record = Arc::new(record(WorkspaceId::random()));
        let before = cache.entries.generation();
        cache.forget(record.id);
        cache.entries.insert(before, record.id, record.clone());
        assert!(cache.get(record.workspace, record.id).is_none());
    }
}
