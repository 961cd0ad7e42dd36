use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use amocrm::{AccountHost, AmoClient, AmoError, DomainAllowList, OAuthApp, TokenGrant};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{
    AttemptOutcome, KeeperStats, KeeperStore, RefreshAttempt, RefreshCause, RefreshFailure,
    RefreshPolicy, Refreshed,
};
use crate::{
    Error, Message,
    activity::{ActivityKind, ActivityRecorder, NewActivity},
    clock::Clock,
    connect::hash_token,
    connections::{
        Actor, ConnectionCache, ConnectionRecord, ConnectionStatus, SealedColumn, StatusChange,
        Transition,
    },
    crypto::{Binding, Keyring},
    governor::{Governor, Integration},
    ids::{ConnectionId, WorkspaceId},
    ports::ConnectionRepository,
};

/// A token is never handed out or sent to amoCRM with less than this left before the expiry
/// amoCRM stated: it covers the trip of the request to amoCRM.
pub const SEND_GUARD: Duration = Duration::from_secs(1);

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed,
    /// Not due any more, or not usable: someone else handled it.
    Skipped,
    /// Another instance rotated the token while this one was trying.
    Superseded,
    /// The connection was revoked meanwhile; the new tokens were thrown away.
    Discarded,
    /// amoCRM refused for good; the connection now needs a new authorization.
    NeedsReauth(String),
    /// A transient failure; the connection is scheduled for a retry.
    Retrying(String),
    /// The interval rule does not allow a call to amoCRM's token endpoint before this time.
    Deferred(DateTime<Utc>),
}

/// A token valid for a while, for a tenant's backend.
#[derive(Debug)]
pub struct FreshToken {
    pub access_token: SecretString,
    /// amoCRM's expiry (see rule 5 of the module documentation).
    pub expires_at: DateTime<Utc>,
    /// `https://{account host}`: where the token is accepted.
    pub api_base_url: String,
    /// It was obtained by a refresh made for this request: use it, whatever is left of it,
    /// rather than refresh again.
    pub refreshed_now: bool,
}

impl FreshToken {
    /// Whether it may still be sent to amoCRM at `now`.
    #[must_use]
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at - now >= chrono(SEND_GUARD)
    }
}

/// What a caller accepts from [`Keeper::fresh_token`].
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// Refresh when less than this is left (capped at half the token's stated life).
    pub validity: Duration,
    /// When amoCRM may not be asked for a new token yet, a token with at least this much left
    /// still does (capped the same way, and at least [`SEND_GUARD`]); less answers
    /// [`Error::RefreshDeferred`].
    pub fallback: Duration,
}

/// The pieces a [`Keeper`] works with.
pub struct KeeperDeps {
    pub store: Arc<dyn KeeperStore>,
    /// The database's connections: every read that decides on a refresh comes from here.
    pub connections: Arc<dyn ConnectionRepository>,
    /// Connections read within the last second, shared with the proxy and token vending: a
    /// token lookup looks here first, and a refresh forgets the connection it changed.
    pub cache: Arc<ConnectionCache>,
    pub keyring: Arc<Keyring>,
    pub amocrm: AmoClient,
    /// amoCRM counts the keeper's API calls (the subdomain lookup) against the integration.
    pub governor: Arc<Governor>,
    pub allowed_domains: DomainAllowList,
    /// The redirect URI every integration was created with (amoCRM checks it on refresh).
    pub redirect_uri: String,
    pub policy: RefreshPolicy,
    pub clock: Arc<dyn Clock>,
    /// This instance's identity in leases and the journal.
    pub owner: String,
    /// Connections claimed per round and refreshed concurrently.
    pub batch: u64,
    pub concurrency: usize,
    /// Records every refresh attempt (a call to amoCRM's token endpoint) and its outcome.
    pub activity: ActivityRecorder,
}

/// Keeps tokens fresh; see the module documentation for the rules it follows.
pub struct Keeper {
    deps: KeeperDeps,
    /// In-process single flight: one refresh per connection at a time, whether it comes from the
    /// background loop or an API call.
    flights: Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>,
    stats: Arc<KeeperStats>,
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn deferred_until(not_before: DateTime<Utc>, now: DateTime<Utc>) -> Error {
    Error::RefreshDeferred {
        retry_after: (not_before - now).to_std().unwrap_or_default(),
    }
}

/// Errors after which retrying with the same refresh token cannot succeed.
fn is_terminal(error: &AmoError) -> bool {
    matches!(
        error,
        AmoError::RefreshTokenRevoked
            | AmoError::NotLinkedToClient
            | AmoError::InvalidGrant { .. }
            | AmoError::CodeRejected { .. }
            | AmoError::InvalidClient
            | AmoError::Unauthorized
            | AmoError::BadRequest
    )
}

impl Keeper {
    #[must_use]
    pub fn new(deps: KeeperDeps) -> Arc<Self> {
        Arc::new(Self {
            deps,
            flights: Mutex::new(HashMap::new()),
            stats: Arc::new(KeeperStats::default()),
        })
    }

    #[must_use]
    pub fn stats(&self) -> Arc<KeeperStats> {
        self.stats.clone()
    }

    #[must_use]
    pub fn owner(&self) -> &str {
        &self.deps.owner
    }

    /// The earliest access-token expiry among usable connections (for the margin metric).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn earliest_expiry(&self) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(self.deps.store.earliest_expiry().await?)
    }

    /// Runs forever: one [`Keeper::run_once`], then a pause until the next scheduled refresh
    /// or `interval`, whichever comes first (short-lived tokens are refreshed on time, idle
    /// databases are not polled more than every `interval`).
    pub async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "token keeper round failed");
            }
            tokio::time::sleep(self.pause_before_next_round(interval).await).await;
        }
    }

    async fn pause_before_next_round(&self, interval: Duration) -> Duration {
        let floor = Duration::from_millis(100);
        match self.deps.store.next_due().await {
            Ok(Some(due)) => (due - self.deps.clock.now())
                .to_std()
                .unwrap_or_default()
                .clamp(floor, interval.max(floor)),
            Ok(None) => interval,
            Err(e) => {
                tracing::error!(error = %e, "could not read the next refresh time");
                interval
            }
        }
    }

    /// One round: resolves attempts abandoned by dead instances, then claims and refreshes every
    /// due connection. Answers how many connections it processed.
    ///
    /// # Errors
    /// Storage failures while claiming.
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, Error> {
        self.resolve_abandoned().await?;
        let mut processed = 0;
        loop {
            let now = self.deps.clock.now();
            let claimed = self
                .deps
                .store
                .claim_due(
                    &self.deps.owner,
                    now,
                    self.deps.policy.lease,
                    self.deps.batch,
                )
                .await?;
            let count = claimed.len();
            let mut tasks = JoinSet::new();
            let permits = Arc::new(tokio::sync::Semaphore::new(self.deps.concurrency.max(1)));
            for claim in claimed {
                if claim.takeover {
                    self.stats.takeover();
                    tracing::warn!(connection_id = %claim.record.id, "took over an expired refresh lease");
                }
                let keeper = self.clone();
                let permits = permits.clone();
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    keeper.refresh(claim.record, RefreshCause::Schedule).await
                });
            }
            while tasks.join_next().await.is_some() {}
            processed += count;
            if (count as u64) < self.deps.batch {
                return Ok(processed);
            }
        }
    }

    /// An access token with at least `wanted.validity` left (capped at half its stated life),
    /// refreshing it first if needed — once, shared with any concurrent caller, the background
    /// loop and other instances, and only as often as the interval rule allows. A token
    /// obtained by a refresh made for this call is returned whatever is left of it.
    ///
    /// # Errors
    /// [`Error::NotFound`] outside the workspace; [`Error::Conflict`] when the connection is not
    /// usable; [`Error::Upstream`] when amoCRM refuses; [`Error::RefreshDeferred`] when the
    /// token has too little left and amoCRM may not be asked again yet; [`Error::Busy`] when
    /// another instance holds the refresh for too long.
    pub async fn fresh_token(
        self: &Arc<Self>,
        workspace: WorkspaceId,
        id: ConnectionId,
        wanted: Wanted,
    ) -> Result<FreshToken, Error> {
        let least = |record: &ConnectionRecord, wanted: Duration| {
            RefreshPolicy::min_validity(wanted, record.access_lifetime).max(SEND_GUARD)
        };
        self.token_where(
            workspace,
            id,
            RefreshCause::Validity,
            |record| self.valid_token(record, least(record, wanted.validity)),
            |record| self.valid_token(record, least(record, wanted.fallback)),
        )
        .await
    }

    /// A replacement for an access token amoCRM just refused (401): the stored token if someone
    /// already replaced it, otherwise exactly one refresh — through the same single flight and
    /// lease as every other refresh, so concurrent callers that saw the same 401 cause one
    /// refresh between them, and only one such refresh per interval.
    ///
    /// # Errors
    /// As [`Keeper::fresh_token`].
    pub async fn replace_refused(
        self: &Arc<Self>,
        workspace: WorkspaceId,
        id: ConnectionId,
        refused: &SecretString,
    ) -> Result<FreshToken, Error> {
        let not_refused = |record: &ConnectionRecord| {
            self.valid_token(record, SEND_GUARD)
                .filter(|token| token.access_token.expose_secret() != refused.expose_secret())
        };
        self.token_where(workspace, id, RefreshCause::Refusal, not_refused, |_| None)
            .await
    }

    /// The stored token once `acceptable` approves of it, refreshing (under the lease and the
    /// single flight) when the interval rule allows; waits while another instance holds the
    /// lease. When a refresh is not allowed yet, `fallback` may still approve of the stored
    /// token. Never loops on refreshes: after one refresh made here, the new token is
    /// returned if it can be sent at all.
    async fn token_where(
        self: &Arc<Self>,
        workspace: WorkspaceId,
        id: ConnectionId,
        cause: RefreshCause,
        acceptable: impl Fn(&ConnectionRecord) -> Option<FreshToken>,
        fallback: impl Fn(&ConnectionRecord) -> Option<FreshToken>,
    ) -> Result<FreshToken, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let flight = self.flight(id);
        let _one_at_a_time = flight.lock().await;
        let mut refreshed = false;
        // The first look may be served by the cache; every later one (after a refresh, or
        // while another instance holds the lease) reads the database.
        let mut first_look = true;
        loop {
            let record = if std::mem::take(&mut first_look) {
                self.deps
                    .cache
                    .read(&self.deps.connections, workspace, id)
                    .await?
            } else {
                self.deps
                    .connections
                    .connection(workspace, id)
                    .await?
                    .map(Arc::new)
            }
            .ok_or(Error::NotFound)?;
            if !record.status.is_usable() {
                return Err(Error::Conflict(Message::new("connection-needs-reauth")));
            }
            if let Some(token) = acceptable(&record) {
                return Ok(FreshToken {
                    refreshed_now: refreshed,
                    ..token
                });
            }
            let now = self.deps.clock.now();
            if refreshed {
                // Obtained for this call: used whatever is left of it, but never expired.
                return self
                    .valid_token(&record, SEND_GUARD)
                    .map(|token| FreshToken {
                        refreshed_now: true,
                        ..token
                    })
                    .ok_or_else(|| self.deferred(&record, now));
            }
            if let Err(not_before) = self.deps.policy.may_call(record.token_call, now, cause) {
                self.stats.refused_by_policy();
                return fallback(&record).ok_or_else(|| deferred_until(not_before, now));
            }
            if let Some(claim) = self
                .deps
                .store
                .claim_one(id, &self.deps.owner, self.deps.policy.lease)
                .await?
            {
                match self.refresh_claimed(claim.record, cause).await? {
                    RefreshOutcome::NeedsReauth(reason) | RefreshOutcome::Retrying(reason) => {
                        return Err(Error::Upstream(
                            Message::new("upstream-refresh-failed").with("reason", reason),
                        ));
                    }
                    RefreshOutcome::Discarded => {
                        return Err(Error::Conflict(Message::new("connection-revoked")));
                    }
                    RefreshOutcome::Refreshed => refreshed = true,
                    RefreshOutcome::Deferred(_)
                    | RefreshOutcome::Skipped
                    | RefreshOutcome::Superseded => {}
                }
            } else if tokio::time::Instant::now() >= deadline {
                return Err(Error::Busy);
            } else {
                // Another instance holds the lease: wait for its result.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// amoCRM granted a token that cannot be used (no credible lifetime, or gone already) and
    /// may not be asked again yet.
    fn deferred(&self, record: &ConnectionRecord, now: DateTime<Utc>) -> Error {
        self.stats.refused_by_policy();
        let not_before = self
            .deps
            .policy
            .may_call(record.token_call, now, RefreshCause::Validity)
            .err()
            .unwrap_or(now);
        deferred_until(not_before, now)
    }

    fn valid_token(&self, record: &ConnectionRecord, min_validity: Duration) -> Option<FreshToken> {
        let expires_at = record.access_expires_at?;
        if expires_at - self.deps.clock.now() < chrono(min_validity) {
            return None;
        }
        let access_token = self
            .open(
                record,
                SealedColumn::AccessToken,
                record.access_token.as_deref()?,
            )
            .ok()?;
        Some(FreshToken {
            access_token,
            expires_at,
            api_base_url: format!("https://{}", record.host),
            refreshed_now: false,
        })
    }

    fn flight(&self, id: ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget finished flights so the map stays as small as the work in progress.
        flights.retain(|_, lock| Arc::strong_count(lock) > 1);
        flights.entry(id).or_default().clone()
    }

    async fn refresh(
        self: &Arc<Self>,
        record: ConnectionRecord,
        cause: RefreshCause,
    ) -> RefreshOutcome {
        let id = record.id;
        let flight = self.flight(id);
        let _one_at_a_time = flight.lock().await;
        match self.refresh_claimed(record, cause).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(connection_id = %id, error = %e, "refresh failed on storage");
                if let Err(e) = self.deps.store.release(id, &self.deps.owner).await {
                    tracing::error!(connection_id = %id, error = %e, "could not release a lease");
                }
                RefreshOutcome::Retrying("storage failure".into())
            }
        }
    }

    fn open(
        &self,
        record: &ConnectionRecord,
        column: SealedColumn,
        sealed: &str,
    ) -> Result<SecretString, crate::crypto::OpenError> {
        self.deps.keyring.open(
            sealed,
            &Binding {
                workspace: record.workspace,
                row: record.id.as_uuid(),
                column: column.as_str(),
            },
        )
    }

    fn seal(
        &self,
        record: &ConnectionRecord,
        column: SealedColumn,
        value: &SecretString,
    ) -> String {
        self.deps.keyring.seal(
            value.expose_secret(),
            &Binding {
                workspace: record.workspace,
                row: record.id.as_uuid(),
                column: column.as_str(),
            },
        )
    }

    /// [`Self::refresh_leased`], then forgets the connection's cached copy, whatever happened
    /// to it: its tokens, schedule or status may have changed.
    async fn refresh_claimed(
        &self,
        record: ConnectionRecord,
        cause: RefreshCause,
    ) -> Result<RefreshOutcome, Error> {
        let id = record.id;
        let outcome = self.refresh_leased(record, cause).await;
        self.deps.cache.forget(id);
        outcome
    }

    /// Refreshes a connection this instance holds the lease of, from the row as claimed.
    async fn refresh_leased(
        &self,
        record: ConnectionRecord,
        cause: RefreshCause,
    ) -> Result<RefreshOutcome, Error> {
        let store = &self.deps.store;
        let owner = &self.deps.owner;
        let now = self.deps.clock.now();
        let id = record.id;
        // Re-check after the claim: another instance may have refreshed it already.
        let fresh = record.next_refresh_at.is_some_and(|at| at > now);
        if !record.status.is_usable() || (fresh && cause == RefreshCause::Schedule) {
            store.release(id, owner).await?;
            return Ok(RefreshOutcome::Skipped);
        }
        // The interval rule, checked under the lease against the row just read: no other
        // refresher can call amoCRM for this connection meanwhile, on any instance.
        if let Err(not_before) = self.deps.policy.may_call(record.token_call, now, cause) {
            store.defer(id, owner, not_before).await?;
            return Ok(RefreshOutcome::Deferred(not_before));
        }
        let credentials = (|| {
            let secret = self
                .open(
                    &record,
                    SealedColumn::ClientSecret,
                    record.client_secret.as_deref()?,
                )
                .ok()?;
            let refresh = self
                .open(
                    &record,
                    SealedColumn::RefreshToken,
                    record.refresh_token.as_deref()?,
                )
                .ok()?;
            Some((secret, refresh))
        })();
        let Some((client_secret, refresh_token)) = credentials else {
            // Missing or undecryptable (tampered, or moved from another row): never send it.
            tracing::error!(event = "credentials_unreadable", connection_id = %id, "stored credentials cannot be opened");
            return self
                .give_up(&record, "stored credentials cannot be decrypted".into())
                .await;
        };
        let attempt = RefreshAttempt {
            id: Uuid::new_v4(),
            connection: id,
            owner: owner.clone(),
            refresh_token_hash: hash_token(refresh_token.expose_secret()),
            started_at: now,
            after_refusal: cause == RefreshCause::Refusal,
        };
        store.begin_attempt(&attempt).await?;
        self.stats.token_call(id);
        let started = std::time::Instant::now();
        let app = OAuthApp {
            client_id: &record.client_id,
            client_secret: &client_secret,
            redirect_uri: &self.deps.redirect_uri,
        };
        let mut result = match AccountHost::parse(&record.host, &self.deps.allowed_domains) {
            Ok(host) => self.deps.amocrm.refresh(&host, &app, &refresh_token).await,
            Err(e) => Err(AmoError::InvalidHost(e)),
        };
        if matches!(result, Err(AmoError::NotFound)) {
            result = self
                .retry_on_moved_host(&record, &app, &refresh_token)
                .await;
        }
        let outcome = match result {
            Ok(grant) => self.persist(&record, &attempt, grant).await,
            Err(error) => self.handle_failure(&record, &attempt, &error).await,
        };
        self.record_attempt(&record, now, started.elapsed(), &outcome);
        outcome
    }

    /// The attempt in the connection's activity: when, how long amoCRM took, and the outcome
    /// code (never a token or amoCRM's text).
    fn record_attempt(
        &self,
        record: &ConnectionRecord,
        at: DateTime<Utc>,
        took: Duration,
        outcome: &Result<RefreshOutcome, Error>,
    ) {
        let code = match outcome {
            Ok(RefreshOutcome::Refreshed) => "refreshed",
            Ok(RefreshOutcome::Superseded) => "superseded",
            Ok(RefreshOutcome::Discarded) => "discarded",
            Ok(RefreshOutcome::NeedsReauth(_)) => "needs_reauth",
            Ok(RefreshOutcome::Retrying(_)) => "retrying",
            Ok(RefreshOutcome::Deferred(_) | RefreshOutcome::Skipped) => "skipped",
            Err(_) => "storage_failure",
        };
        let mut entry =
            NewActivity::new(record.workspace, record.id, at, ActivityKind::Refresh, code);
        entry.latency_ms = Some(u32::try_from(took.as_millis()).unwrap_or(u32::MAX));
        self.deps.activity.record(entry);
    }

    /// amoCRM answered 404: the account may have a new subdomain. Look it up as the official
    /// library does and retry once there.
    async fn retry_on_moved_host(
        &self,
        record: &ConnectionRecord,
        app: &OAuthApp<'_>,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, AmoError> {
        let Some(api_domain) = record.api_domain.as_deref() else {
            return Err(AmoError::NotFound);
        };
        // amoCRM counts this call against the integration like any other.
        if let Err(e) = self
            .deps
            .governor
            .admit(&Integration::new(&record.client_id))
            .await
        {
            // A full queue or a storage failure: transient, retried with backoff.
            tracing::warn!(connection_id = %record.id, error = %e, "no rate slot for the subdomain lookup");
            return Err(AmoError::RateLimited {
                retry_after: match e {
                    Error::RateLimited { retry_after, .. } => Some(retry_after),
                    _ => None,
                },
            });
        }
        let moved = self
            .deps
            .amocrm
            .current_subdomain(api_domain, refresh_token)
            .await?;
        let host = moved
            .host(&self.deps.allowed_domains)
            .map_err(AmoError::InvalidHost)?;
        if host.platform() != record.platform {
            return Err(AmoError::NotFound);
        }
        tracing::info!(connection_id = %record.id, from = %record.host, to = %host, "account moved to a new subdomain");
        if !self
            .deps
            .store
            .store_host(record.id, &self.deps.owner, host.as_str())
            .await
            .map_err(|_| AmoError::NotFound)?
        {
            return Err(AmoError::NotFound);
        }
        self.deps.amocrm.refresh(&host, app, refresh_token).await
    }

    async fn persist(
        &self,
        record: &ConnectionRecord,
        attempt: &RefreshAttempt,
        grant: TokenGrant,
    ) -> Result<RefreshOutcome, Error> {
        let now = self.deps.clock.now();
        // Counted from when the request was sent: never later than amoCRM's own expiry.
        let sent_at = attempt.started_at;
        let expires_at = sent_at + chrono(grant.expires_in);
        if grant.expires_in_source != amocrm::LifetimeSource::ExpiresIn {
            tracing::warn!(connection_id = %record.id, source = ?grant.expires_in_source, lifetime_secs = grant.expires_in.as_secs(), "amoCRM stated no credible expires_in");
        }
        let refreshed = Refreshed {
            attempt: attempt.id,
            access_token: self.seal(record, SealedColumn::AccessToken, &grant.access_token),
            refresh_token: grant
                .refresh_token
                .as_ref()
                .map(|rt| self.seal(record, SealedColumn::RefreshToken, rt)),
            access_expires_at: expires_at,
            access_lifetime: grant.expires_in,
            next_refresh_at: self.deps.policy.next_refresh_at(sent_at, grant.expires_in),
            at: now,
        };
        let change = StatusChange::new(Transition::Refresh, Actor::Keeper, None, now);
        // amoCRM has rotated the pair: losing it now loses the connection. Retry the write while
        // the lease is still ours; only then give up loudly.
        let mut wait = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let stored = loop {
            match self
                .deps
                .store
                .store_refreshed(record.id, &self.deps.owner, &refreshed, &change)
                .await
            {
                Ok(stored) => break stored,
                Err(e) if started.elapsed() < self.deps.policy.lease / 2 => {
                    tracing::error!(connection_id = %record.id, error = ?e, "could not store rotated tokens; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(event = "rotated_tokens_lost", connection_id = %record.id, error = %e, "rotated tokens could not be stored");
                    self.stats.failed("persist_failed");
                    return Err(e.into());
                }
            }
        };
        // The journal row was finished in the same transaction.
        Ok(if stored {
            self.stats.refreshed();
            RefreshOutcome::Refreshed
        } else {
            tracing::info!(connection_id = %record.id, "refreshed tokens discarded: the connection was revoked or the lease lost");
            RefreshOutcome::Discarded
        })
    }

    async fn handle_failure(
        &self,
        record: &ConnectionRecord,
        attempt: &RefreshAttempt,
        error: &AmoError,
    ) -> Result<RefreshOutcome, Error> {
        let store = &self.deps.store;
        let now = self.deps.clock.now();
        let kind = error.kind();
        if is_terminal(error) {
            // A sibling may have rotated the token after this instance read it.
            let current = store.connection_for_keeper(record.id).await?;
            if current
                .as_ref()
                .is_some_and(|c| c.refresh_token != record.refresh_token)
            {
                store
                    .finish_attempt(attempt.id, AttemptOutcome::Superseded, now)
                    .await?;
                store.release(record.id, &self.deps.owner).await?;
                return Ok(RefreshOutcome::Superseded);
            }
            let previous = store.last_outcome(record.id).await?;
            let reason = match previous.as_deref() {
                Some("response_lost") => format!(
                    "amoCRM refused the refresh token ({kind}) after an earlier refresh response was lost: \
                     the rotated token never arrived"
                ),
                Some("abandoned") => format!(
                    "amoCRM refused the refresh token ({kind}) after an instance crashed during a refresh"
                ),
                _ => format!("amoCRM refused the refresh token ({kind})"),
            };
            store
                .finish_attempt(attempt.id, AttemptOutcome::Refused, now)
                .await?;
            self.stats.failed(kind);
            return self.give_up(record, reason).await;
        }
        let outcome = if matches!(error, AmoError::Timeout | AmoError::Network { .. }) {
            AttemptOutcome::ResponseLost
        } else {
            AttemptOutcome::Failed
        };
        store.finish_attempt(attempt.id, outcome, now).await?;
        self.stats.failed(kind);
        let failing_since = if record.status == ConnectionStatus::Active {
            now
        } else {
            record.status_at
        };
        if now - failing_since > chrono(self.deps.policy.give_up_after) {
            return self
                .give_up(
                    record,
                    format!("refreshing kept failing since {failing_since} ({kind})"),
                )
                .await;
        }
        let transition = match error {
            AmoError::RateLimited { .. } | AmoError::Forbidden { .. } => Transition::RateLimit,
            _ => Transition::Degrade,
        };
        let failures = record.refresh_failures.saturating_add(1);
        let wait = self
            .deps
            .policy
            .backoff(u32::try_from(failures).unwrap_or(1), error.retry_after());
        let reason = format!("refresh failed ({kind}); retrying");
        store
            .store_failure(
                record.id,
                &self.deps.owner,
                &RefreshFailure {
                    failures,
                    next_refresh_at: Some(now + chrono(wait)),
                    at: now,
                },
                &StatusChange::new(transition, Actor::Keeper, Some(reason.clone()), now),
            )
            .await?;
        tracing::warn!(connection_id = %record.id, kind, "refresh failed; will retry");
        Ok(RefreshOutcome::Retrying(reason))
    }

    /// Marks the connection needs-re-auth and stops calling amoCRM for it.
    async fn give_up(
        &self,
        record: &ConnectionRecord,
        reason: String,
    ) -> Result<RefreshOutcome, Error> {
        let now = self.deps.clock.now();
        self.deps
            .store
            .store_failure(
                record.id,
                &self.deps.owner,
                &RefreshFailure {
                    failures: 0,
                    next_refresh_at: None,
                    at: now,
                },
                &StatusChange::new(Transition::GiveUp, Actor::Keeper, Some(reason.clone()), now),
            )
            .await?;
        tracing::warn!(event = "needs_reauth", workspace_id = %record.workspace, connection_id = %record.id, reason = %reason, "connection needs re-authorization");
        Ok(RefreshOutcome::NeedsReauth(reason))
    }

    /// Attempts whose instance died mid-call are closed, and their connections made due at once
    /// so the next refresher finds out whether the old refresh token still works.
    async fn resolve_abandoned(&self) -> Result<(), Error> {
        let now = self.deps.clock.now();
        let before = now - chrono(self.deps.policy.lease);
        for attempt in self.deps.store.abandoned_attempts(before).await? {
            self.deps
                .store
                .finish_attempt(attempt.id, AttemptOutcome::Abandoned, now)
                .await?;
            let Some(record) = self
                .deps
                .store
                .connection_for_keeper(attempt.connection)
                .await?
            else {
                continue;
            };
            let still_current = record
                .refresh_token
                .as_deref()
                .and_then(|sealed| self.open(&record, SealedColumn::RefreshToken, sealed).ok())
                .is_some_and(|rt| hash_token(rt.expose_secret()) == attempt.refresh_token_hash);
            if still_current && record.status.is_usable() {
                tracing::warn!(connection_id = %record.id, attempt = %attempt.id, "resolving a refresh interrupted by a crashed instance");
                self.deps.store.make_due(record.id, now).await?;
            }
        }
        Ok(())
    }
}
