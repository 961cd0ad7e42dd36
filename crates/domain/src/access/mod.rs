//! A tenant's backend using its connections: token vending and the proxy (contract: `POST
//! /api/v1/connections/{id}/token`, `ANY /api/v1/connections/{id}/proxy/{path}`).
//!
//! Both go through the token keeper for every token (its single flight and lease are the only
//! way a token is ever refreshed), and the proxy sends nothing to amoCRM without a slot from the
//! rate [`Governor`](crate::governor::Governor).

mod health;
mod proxy;
mod tokens;

use std::{sync::Arc, time::Duration};

use amocrm::{AmoClient, DomainAllowList};

pub use health::ConnectionHealthStore;
pub use proxy::{Proxied, Proxy};
pub use tokens::{TokenVending, VendedToken};

use crate::{
    Error, Message,
    clock::Clock,
    connections::{ConnectionCache, ConnectionRecord, ConnectionStatus},
    governor::Governor,
    keeper::Keeper,
    ports::ConnectionRepository,
};

/// What token vending and the proxy are built from.
pub struct AccessDeps {
    pub keeper: Arc<Keeper>,
    pub connections: Arc<dyn ConnectionRepository>,
    /// Connections read within the last second (shared with the keeper and every writer of
    /// connections on this instance).
    pub cache: Arc<ConnectionCache>,
    pub health: Arc<dyn ConnectionHealthStore>,
    pub governor: Arc<Governor>,
    pub amocrm: AmoClient,
    pub allowed_domains: DomainAllowList,
    /// `AMOLINK_REFRESH_MARGIN_SECS`: how long a vended token stays valid at least.
    pub refresh_margin: Duration,
    pub clock: Arc<dyn Clock>,
}

/// The tenant-facing access services.
#[derive(Clone)]
pub struct Access {
    pub tokens: TokenVending,
    pub proxy: Proxy,
}

impl Access {
    #[must_use]
    pub fn new(deps: AccessDeps) -> Self {
        let deps = Arc::new(deps);
        Self {
            tokens: TokenVending::new(deps.clone()),
            proxy: Proxy::new(deps),
        }
    }
}

/// Refuses a connection amolink may no longer call amoCRM for, saying why and what helps.
fn ensure_usable(record: &ConnectionRecord) -> Result<(), Error> {
    match record.status {
        status if status.is_usable() => Ok(()),
        ConnectionStatus::Revoked => Err(Error::Conflict(Message::new("connection-revoked"))),
        ConnectionStatus::Disconnected => {
            Err(Error::Conflict(Message::new("connection-disconnected")))
        }
        _ => Err(Error::Conflict(Message::new("connection-needs-reauth"))),
    }
}

/// Reads the connection of this workspace (from the cache within its trust period), refusing
/// unusable ones.
async fn usable_connection(
    deps: &AccessDeps,
    workspace: crate::ids::WorkspaceId,
    id: crate::ids::ConnectionId,
) -> Result<Arc<ConnectionRecord>, Error> {
    let record = deps
        .cache
        .read(&deps.connections, workspace, id)
        .await?
        .ok_or(Error::NotFound)?;
    ensure_usable(&record)?;
    Ok(record)
}
