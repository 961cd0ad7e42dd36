//! amoCRM events, wired: the relay service for handlers, the per-connection receive limit, and
//! this instance's background workers.

use std::sync::Arc;

use std::time::Duration;

use amocrm::{AmoClient, DomainAllowList};
use domain::{
    clock::Clock,
    governor::Governor,
    ids::ConnectionId,
    keeper::Keeper,
    relay::{Processor, ProcessorSettings, Relay, Subscriber, SubscriberDeps, SubscriberPolicy},
};
use persistence::Database;
use tokio::sync::Notify;

use crate::{
    api::{KeyRateLimiter, RatePolicy},
    settings::Settings,
};

/// How fast one connection's deliveries are accepted, per instance. amoCRM sends one POST per
/// change (bulk edits make bursts), so this only stops a flood: a burst of 2 000, then 300/s.
/// The answer beyond it is 429, which amoCRM retries later.
pub const RECEIVE_LIMIT: RatePolicy = RatePolicy {
    burst: 2000,
    per_second: 300.0,
};

/// How often this instance looks for subscriptions that are due (each is checked every
/// [`SubscriberPolicy::check_every`]; this only bounds how late).
const SUBSCRIBER_TICK: Duration = Duration::from_secs(5);

/// The relay's handler-facing parts.
#[derive(Clone)]
pub struct RelayState {
    pub relay: Relay,
    pub limiter: Arc<KeyRateLimiter<ConnectionId>>,
    /// Subscribes, checks and unsubscribes accounts at amoCRM.
    pub subscriber: Subscriber,
}

/// What the subscriber calls amoCRM with.
pub struct AmoCrmParts {
    pub keeper: Arc<Keeper>,
    /// The instance's governor, which every amoCRM call amolink makes goes through.
    pub governor: Arc<Governor>,
    pub amocrm: AmoClient,
    pub allowed_domains: DomainAllowList,
}

/// Builds the relay and, unless switched off, starts this instance's processor and subscriber.
#[must_use]
pub fn start(
    settings: &Settings,
    database: Arc<Database>,
    clock: Arc<dyn Clock>,
    parts: AmoCrmParts,
) -> RelayState {
    let stored = Arc::new(Notify::new());
    let subscriber = Subscriber::new(SubscriberDeps {
        store: database.clone(),
        connections: database.clone(),
        keeper: parts.keeper,
        governor: parts.governor,
        amocrm: parts.amocrm,
        allowed_domains: parts.allowed_domains,
        destination_prefix: format!("{}/amocrm/events/", settings.public_base()),
        clock: clock.clone(),
        policy: SubscriberPolicy::default(),
    });
    if settings.events_worker {
        let processor = Processor::new(
            database.clone(),
            clock.clone(),
            ProcessorSettings::default(),
            stored.clone(),
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(processor.run());
                runtime.spawn(subscriber.clone().run(SUBSCRIBER_TICK));
            }
            Err(_) => {
                tracing::warn!("no async runtime: the amoCRM events workers are not running");
            }
        }
    }
    RelayState {
        relay: Relay::new(database, clock, stored),
        limiter: Arc::new(KeyRateLimiter::new(RECEIVE_LIMIT)),
        subscriber,
    }
}

/// A processor over `database`, for tests and tools that drain stored deliveries themselves.
#[must_use]
pub fn processor(database: Arc<Database>, clock: Arc<dyn Clock>) -> Processor {
    Processor::new(
        database,
        clock,
        ProcessorSettings::default(),
        Arc::new(Notify::new()),
    )
}
