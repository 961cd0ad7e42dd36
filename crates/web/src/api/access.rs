//! Wiring of token vending, the proxy and the rate governor over the shared database.

use std::{sync::Arc, time::Duration};

use domain::amo::{AmoClient, DomainAllowList};
use domain::{
    access::{Access, AccessDeps},
    clock::Clock,
    connections::ConnectionCache,
    governor::Governor,
    keeper::Keeper,
};
use persistence::Database;

/// The tenant-access services; the database holds the governor's ledger shared by every
/// instance.
#[must_use]
pub fn access_services(
    database: &Arc<Database>,
    cache: Arc<ConnectionCache>,
    keeper: Arc<Keeper>,
    governor: Arc<Governor>,
    amocrm: AmoClient,
    allowed_domains: DomainAllowList,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
) -> Access {
    Access::new(AccessDeps {
        keeper,
        connections: database.clone(),
        cache,
        health: database.clone(),
        governor,
        amocrm,
        allowed_domains,
        refresh_margin,
        clock,
    })
}
