//! Keeping each connected account subscribed at amoCRM (amocrm-webhooks.md §1, §3.3, §5.2).
//!
//! Each connection has one subscription: a destination unique to it,
//! `{PUBLIC_URL}/amocrm/events/{token}`, where only the token's SHA-256 is stored. amolink finds
//! its own hook in amoCRM's list by hashing the token part of each destination, so it never needs
//! the token again after sending it.
//!
//! [`Subscriber::try_run_due`] works through subscriptions that are due (a connect or reconnect,
//! a change of the workspace's choice, or the periodic health check), under database leases:
//! - **none at amoCRM** → subscribe with a fresh token (its hash is stored first, so deliveries
//!   racing amoCRM's answer are recognised); if amolink had one before, the time since the last
//!   good check is recorded as a gap and `connection.events_paused` is announced;
//! - **ours, disabled** (amoCRM switched it off after too many failed deliveries) → re-arm it
//!   (delete and post the same destination), record the gap from the last good check until now,
//!   and announce `connection.events_paused` with the reason;
//! - **ours, other settings** → post it again with the workspace's choice;
//! - **nothing chosen** → remove it.
//!
//! amoCRM's refusals that retrying cannot fix — a token of a user who is not an account admin
//! (403), an account whose plan has no API webhooks (402/403) — set the status `failed` with a
//! reason shown on the connection's page, and the subscription is looked at again only daily, on
//! reconnect, or when the workspace changes its choice: no retry loop. Transient failures back off.
//!
//! Every call to amoCRM first takes a slot from the rate [`Governor`], keyed like every other call
//! amolink makes for the connection. [`Subscriber::unsubscribe`] removes the hook before a
//! connection's credentials are erased (revoke, disconnect, workspace deletion).

use std::{sync::Arc, time::Duration};

use amocrm::{AccountHost, AccountWebhook, AmoClient, AmoError, DomainAllowList};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{
    ClaimedSubscription, DestinationToken, RelayReport, RelaySelection, RelayStore, Subscription,
    SubscriptionStatus, token_hash,
};
use crate::{
    Error, Message,
    clock::Clock,
    connections::{Actor, ConnectionRecord, EventKind, NewEvent},
    governor::{Governor, Integration},
    ids::{ConnectionId, WorkspaceId},
    keeper::{Keeper, Wanted},
    ports::ConnectionRepository,
};

/// When and how hard to look.
#[derive(Debug, Clone, Copy)]
pub struct SubscriberPolicy {
    /// Between health checks of a healthy subscription.
    pub check_every: Duration,
    /// Between looks at a subscription amoCRM refused for good (no admin, plan).
    pub failed_recheck: Duration,
    /// The first wait after a transient failure; doubled per failure up to `check_every`.
    pub retry_after: Duration,
    pub lease: Duration,
    pub batch: u64,
}

impl Default for SubscriberPolicy {
    fn default() -> Self {
        Self {
            check_every: Duration::from_secs(15 * 60),
            failed_recheck: Duration::from_secs(24 * 3600),
            retry_after: Duration::from_secs(30),
            lease: Duration::from_secs(120),
            batch: 20,
        }
    }
}

/// What the subscriber is built from.
pub struct SubscriberDeps {
    pub store: Arc<dyn RelayStore>,
    pub connections: Arc<dyn ConnectionRepository>,
    pub keeper: Arc<Keeper>,
    pub governor: Arc<Governor>,
    pub amocrm: AmoClient,
    pub allowed_domains: DomainAllowList,
    /// `{PUBLIC_URL}/amocrm/events/`: destinations are this plus a token.
    pub destination_prefix: String,
    pub clock: Arc<dyn Clock>,
    pub policy: SubscriberPolicy,
}

/// A token must outlive the governor's wait and a few calls; when amoCRM may not be asked for a
/// new one yet, any token that can still be sent does.
const WANTED: Wanted = Wanted {
    validity: Duration::from_secs(120),
    fallback: Duration::ZERO,
};

const NOT_ADMIN: &str = "amoCRM refused the events subscription: only an administrator of the \
amoCRM account can subscribe it, or the account's plan has no API webhooks. Reconnect as an \
administrator (or upgrade the plan); amolink tries again then.";
const PLAN: &str = "amoCRM refused the events subscription: the account's plan does not include \
API webhooks (or is unpaid). amolink tries again daily and at reconnect.";
const REFUSED: &str = "amoCRM refused the events subscription (it allows at most 100 webhooks \
per account). amolink tries again daily and at reconnect.";
const DISABLED: &str = "amoCRM switched the account's events webhook off (it does so after more \
than 100 failed deliveries in two hours).";
const VANISHED: &str = "The account's events webhook was removed at amoCRM.";

/// What a call to amoCRM came to, for the subscription's state.
enum Failure {
    /// Retrying cannot fix it: show why, look again rarely.
    Refused(&'static str),
    /// Back off and retry.
    Transient(String),
}

impl From<AmoError> for Failure {
    fn from(error: AmoError) -> Self {
        match error {
            AmoError::Forbidden { html: false } => Self::Refused(NOT_ADMIN),
            AmoError::PaymentRequired => Self::Refused(PLAN),
            AmoError::BadRequest => Self::Refused(REFUSED),
            other => Self::Transient(format!("amoCRM: {other}")),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Transient(error.to_string())
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(reason) => {
                Self::Upstream(Message::new("upstream-events-refused").with("reason", reason))
            }
            Failure::Transient(reason) => {
                Self::Upstream(Message::new("upstream-events-failed").with("reason", reason))
            }
        }
    }
}

fn span(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Runs the subscription lifecycle; see the module documentation.
#[derive(Clone)]
pub struct Subscriber {
    deps: Arc<SubscriberDeps>,
}

/// Something to do before a connection's credentials are erased.
#[async_trait]
pub trait BeforeErase: Send + Sync {
    /// Best effort: failures are logged, never block the erasure.
    async fn before_erase(&self, workspace: WorkspaceId, connection: ConnectionId);
}

impl Subscriber {
    #[must_use]
    pub fn new(deps: SubscriberDeps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }

    /// The destination for a token.
    fn destination(&self, token: &DestinationToken) -> String {
        format!("{}{}", self.deps.destination_prefix, token.expose())
    }

    /// The hook in `hooks` whose destination carries the token hashed as `hash`.
    fn ours<'a>(&self, hooks: &'a [AccountWebhook], hash: &str) -> Option<&'a AccountWebhook> {
        hooks.iter().find(|hook| {
            hook.destination
                .strip_prefix(&self.deps.destination_prefix)
                .is_some_and(|token| token_hash(token) == hash)
        })
    }

    async fn token_and_host(
        &self,
        record: &ConnectionRecord,
    ) -> Result<(SecretString, AccountHost), Error> {
        let host = AccountHost::parse(&record.host, &self.deps.allowed_domains)
            .map_err(|_| Error::Conflict(Message::new("account-host-not-allowed")))?;
        let token = self
            .deps
            .keeper
            .fresh_token(record.workspace, record.id, WANTED)
            .await?
            .access_token;
        Ok((token, host))
    }

    async fn list(
        &self,
        integration: &Integration,
        host: &AccountHost,
        token: &SecretString,
    ) -> Result<Vec<AccountWebhook>, Failure> {
        self.deps.governor.admit(integration).await?;
        Ok(self.deps.amocrm.webhooks(host, token).await?)
    }

    async fn post(
        &self,
        integration: &Integration,
        host: &AccountHost,
        token: &SecretString,
        destination: &str,
        codes: &[&str],
    ) -> Result<AccountWebhook, Failure> {
        self.deps.governor.admit(integration).await?;
        Ok(self
            .deps
            .amocrm
            .subscribe_webhook(host, token, destination, codes)
            .await?)
    }

    async fn delete(
        &self,
        integration: &Integration,
        host: &AccountHost,
        token: &SecretString,
        destination: &str,
    ) -> Result<bool, Failure> {
        self.deps.governor.admit(integration).await?;
        Ok(self
            .deps
            .amocrm
            .unsubscribe_webhook(host, token, destination)
            .await?)
    }

    /// Works through every subscription due at `now`; returns when none is left.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn try_run_due(&self, now: DateTime<Utc>) -> Result<RelayReport, Error> {
        let mut report = RelayReport::default();
        loop {
            let claimed = self
                .deps
                .store
                .claim_subscriptions(now, self.deps.policy.lease, self.deps.policy.batch)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            for claim in claimed {
                self.run_one(claim).await?;
                report.handled += 1;
            }
        }
    }

    /// Checks due subscriptions every `every`, forever.
    pub async fn run(self, every: Duration) {
        loop {
            if let Err(e) = self.try_run_due(self.deps.clock.now()).await {
                tracing::error!(error = %e, "amoCRM events subscriptions could not be checked");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn run_one(&self, claim: ClaimedSubscription) -> Result<(), Error> {
        let ClaimedSubscription {
            lease,
            subscription: mut s,
        } = claim;
        let now = self.deps.clock.now();
        let record = self
            .deps
            .connections
            .connection(s.workspace, s.connection)
            .await?;
        let Some(record) = record.filter(|r| {
            !matches!(
                r.status,
                crate::connections::ConnectionStatus::Revoked
                    | crate::connections::ConnectionStatus::Disconnected
            )
        }) else {
            s.status = SubscriptionStatus::Unsubscribed;
            s.next_check_at = None;
            s.updated_at = now;
            self.deps.store.save_subscription(Some(&lease), &s).await?;
            return Ok(());
        };
        let selection = self
            .deps
            .store
            .relay_selection(s.workspace)
            .await?
            .unwrap_or_else(RelaySelection::default_selection);
        let outcome = if record.status.is_usable() {
            self.reconcile(&lease, &mut s, &record, &selection, now)
                .await
        } else {
            // Needs re-auth: no token to call amoCRM with; the hook (if any) keeps delivering.
            Err(Failure::Transient(
                "the connection needs re-authorisation".into(),
            ))
        };
        match outcome {
            Ok(()) => {
                s.failures = 0;
                s.last_checked_at = Some(now);
                s.next_check_at = Some(now + span(self.deps.policy.check_every));
            }
            Err(Failure::Refused(reason)) => {
                tracing::warn!(event = "amocrm_events_subscription_refused", connection_id = %s.connection, reason, "amoCRM refused the events subscription");
                s.status = SubscriptionStatus::Failed;
                s.reason = Some(reason.to_owned());
                s.failures = s.failures.saturating_add(1);
                s.next_check_at = Some(now + span(self.deps.policy.failed_recheck));
            }
            Err(Failure::Transient(why)) => {
                tracing::info!(connection_id = %s.connection, why = %why, "events subscription check postponed");
                s.failures = s.failures.saturating_add(1);
                let backoff = self
                    .deps
                    .policy
                    .retry_after
                    .saturating_mul(1 << s.failures.min(10))
                    .min(self.deps.policy.check_every);
                s.next_check_at = Some(now + span(backoff));
            }
        }
        s.updated_at = now;
        self.deps.store.save_subscription(Some(&lease), &s).await?;
        Ok(())
    }

    /// Brings amoCRM's side in line with the workspace's choice.
    async fn reconcile(
        &self,
        lease: &str,
        s: &mut Subscription,
        record: &ConnectionRecord,
        selection: &RelaySelection,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let integration = Integration::new(&record.client_id);
        let (token, host) = self.token_and_host(record).await?;
        let hooks = self.list(&integration, &host, &token).await?;
        let codes = selection.settings_codes();
        let ours = s
            .token_hash
            .as_deref()
            .and_then(|hash| self.ours(&hooks, hash))
            .cloned();
        if codes.is_empty() {
            if let Some(hook) = &ours {
                self.delete(&integration, &host, &token, &hook.destination)
                    .await?;
            }
            s.status = SubscriptionStatus::Unsubscribed;
            s.reason = Some("The workspace relays no amoCRM events.".into());
            s.token_hash = None;
            s.settings.clear();
            return Ok(());
        }
        let wanted: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
        match ours {
            Some(hook) if hook.disabled => {
                // amoCRM says nothing about re-enabling through the API; the hook is keyed by
                // its URL, so deleting and posting the same destination re-arms it.
                self.paused(s, DISABLED, now).await;
                self.delete(&integration, &host, &token, &hook.destination)
                    .await?;
                let posted = self
                    .post(&integration, &host, &token, &hook.destination, &codes)
                    .await?;
                self.resumed(s, posted.id, wanted, now).await;
            }
            Some(hook) => {
                let mut current = hook.settings.clone();
                current.sort();
                if current != wanted {
                    self.post(&integration, &host, &token, &hook.destination, &codes)
                        .await?;
                }
                s.status = SubscriptionStatus::Subscribed;
                s.reason = None;
                s.amocrm_webhook_id = Some(hook.id);
                s.settings = wanted;
            }
            None => {
                let had_one = s.status == SubscriptionStatus::Subscribed
                    || s.status == SubscriptionStatus::Paused;
                if had_one {
                    self.paused(s, VANISHED, now).await;
                }
                let token_text = DestinationToken::generate();
                let hash = token_text.hash();
                let begun = self
                    .deps
                    .store
                    .begin_subscribing(s.connection, lease, &hash, now)
                    .await
                    .map_err(Error::from)?;
                if !begun {
                    return Err(Failure::Transient("the lease was lost".into()));
                }
                s.token_hash = Some(hash);
                s.status = SubscriptionStatus::Pending;
                let posted = self
                    .post(
                        &integration,
                        &host,
                        &token,
                        &self.destination(&token_text),
                        &codes,
                    )
                    .await?;
                if had_one {
                    self.resumed(s, posted.id, wanted, now).await;
                } else {
                    s.status = SubscriptionStatus::Subscribed;
                    s.reason = None;
                    s.amocrm_webhook_id = Some(posted.id);
                    s.settings = wanted;
                    tracing::info!(event = "amocrm_events_subscribed", connection_id = %s.connection, "account subscribed to amoCRM events");
                }
            }
        }
        Ok(())
    }

    /// amoCRM stopped sending: the subscription is paused from the last good check, and the
    /// first time this is seen `connection.events_paused` is announced with the reason.
    async fn paused(&self, s: &mut Subscription, reason: &str, now: DateTime<Utc>) {
        s.status = SubscriptionStatus::Paused;
        s.reason = Some(reason.to_owned());
        if s.paused_at.is_some() {
            return;
        }
        // Events may have been missed since the last check that found the hook healthy.
        let from = s.last_checked_at.unwrap_or(s.updated_at).min(now);
        s.paused_at = Some(from);
        tracing::warn!(event = "amocrm_events_paused", connection_id = %s.connection, since = %from, reason, "amoCRM stopped sending the account's events");
        self.record(
            s,
            NewEvent {
                kind: EventKind::EventsPaused,
                actor: Actor::AmoCrm,
                detail: Some(reason.to_owned()),
                at: now,
            },
        )
        .await;
    }

    /// Re-armed: the gap is closed and recorded, and the history says so.
    async fn resumed(
        &self,
        s: &mut Subscription,
        webhook_id: i64,
        settings: Vec<String>,
        now: DateTime<Utc>,
    ) {
        let from = s.paused_at.take().unwrap_or(now);
        s.gap_from = Some(from);
        s.gap_until = Some(now);
        s.status = SubscriptionStatus::Subscribed;
        s.amocrm_webhook_id = Some(webhook_id);
        s.settings = settings;
        let detail = format!(
            "Events from {} to {} may be missing.",
            from.format("%Y-%m-%d %H:%M:%S UTC"),
            now.format("%Y-%m-%d %H:%M:%S UTC")
        );
        tracing::info!(event = "amocrm_events_rearmed", connection_id = %s.connection, gap_from = %from, gap_until = %now, "the account's events webhook was re-armed");
        self.record(
            s,
            NewEvent {
                kind: EventKind::EventsResumed,
                actor: Actor::Keeper,
                detail: Some(detail),
                at: now,
            },
        )
        .await;
    }

    async fn record(&self, s: &Subscription, event: NewEvent) {
        if let Err(e) = self
            .deps
            .store
            .record_connection_events(s.workspace, s.connection, std::slice::from_ref(&event))
            .await
        {
            tracing::error!(connection_id = %s.connection, error = %e, "could not record a subscription event");
        }
    }

    /// Removes the connection's hook at amoCRM while its credentials still exist.
    ///
    /// # Errors
    /// When amoCRM cannot be asked (the subscription is marked ended either way).
    pub async fn unsubscribe(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
    ) -> Result<(), Error> {
        let Some(mut s) = self.deps.store.subscription(workspace, connection).await? else {
            return Ok(());
        };
        let result = match (&s.token_hash, s.status) {
            (Some(hash), status) if status != SubscriptionStatus::Unsubscribed => {
                self.remove_at_amocrm(workspace, connection, hash).await
            }
            _ => Ok(()),
        };
        s.status = SubscriptionStatus::Unsubscribed;
        s.reason = None;
        s.token_hash = None;
        s.next_check_at = None;
        s.updated_at = self.deps.clock.now();
        self.deps.store.save_subscription(None, &s).await?;
        result
    }

    async fn remove_at_amocrm(
        &self,
        workspace: WorkspaceId,
        connection: ConnectionId,
        hash: &str,
    ) -> Result<(), Error> {
        let record = self
            .deps
            .connections
            .connection(workspace, connection)
            .await?
            .ok_or(Error::NotFound)?;
        let integration = Integration::new(&record.client_id);
        let (token, host) = self.token_and_host(&record).await?;
        let hooks = self
            .list(&integration, &host, &token)
            .await
            .map_err(Error::from)?;
        if let Some(hook) = self.ours(&hooks, hash) {
            self.delete(&integration, &host, &token, &hook.destination)
                .await
                .map_err(Error::from)?;
            tracing::info!(event = "amocrm_events_unsubscribed", connection_id = %connection, "account unsubscribed from amoCRM events");
        }
        Ok(())
    }

    /// Unsubscribes every connection of a workspace (before the workspace is deleted).
    ///
    /// # Errors
    /// Storage failures; amoCRM failures are logged per connection.
    pub async fn unsubscribe_workspace(
        &self,
        workspace: WorkspaceId,
        connections: &[ConnectionId],
    ) -> Result<(), Error> {
        for connection in connections {
            if let Err(e) = self.unsubscribe(workspace, *connection).await {
                tracing::warn!(connection_id = %connection, error = %e, "could not unsubscribe at amoCRM");
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BeforeErase for Subscriber {
    async fn before_erase(&self, workspace: WorkspaceId, connection: ConnectionId) {
        if let Err(e) = self.unsubscribe(workspace, connection).await {
            tracing::warn!(event = "amocrm_events_unsubscribe_failed", connection_id = %connection, error = %e, "could not unsubscribe at amoCRM before erasing credentials; amoCRM's deliveries will be refused");
        }
    }
}
