//! The proxy: a tenant's API call forwarded to its amoCRM account with the connection's token.
//!
//! The tenant's request is validated right after the connection is found, so a refused path
//! costs no token, no rate slot and no request. Every request to amoCRM (the retry after a 401
//! included) first gets a slot from the governor, keyed by the connection's integration. The
//! token is checked again once the slot is granted: a token that expired while the request
//! waited is never sent. At most two requests go to amoCRM per call, and at most one refresh
//! is made for it. amoCRM's answers are relayed as they are, except that amolink reacts to three
//! of them:
//! - **401**: the token was refused. One replacement through the keeper (single flight + lease),
//!   one retry; a second 401 is amoCRM's problem, not the tenant's (502), and the connection is
//!   left for the keeper to judge.
//! - **429**: relayed with `Retry-After` from amoCRM's `retry_after`, and the governor pauses the
//!   integration for that long on every instance.
//! - **403 with an HTML page** (nginx's block page, docs/amocrm-protocol.md §6): the integration is blocked.
//!   Traffic stops for the cooldown and the connection is marked `rate_limited` with a history
//!   event; the first success afterwards marks it active again. A JSON 403 is an ordinary "no
//!   rights for this resource" answer and is only relayed.

use std::{sync::Arc, time::Duration};

use amocrm::{AccountHost, AmoError, ForwardRequest, ForwardResponse};

use super::{AccessDeps, usable_connection};
use crate::{
    Error, Message, ValidationError,
    connections::{Actor, ConnectionRecord, ConnectionStatus, StatusChange, Transition},
    governor::Integration,
    ids::{ConnectionId, WorkspaceId},
    keeper::{FreshToken, Wanted},
};

/// The proxy refreshes a token with less than this left (capped at half the token's stated
/// life): it must outlive the wait for a slot and the call itself. When amoCRM may not be asked
/// for a new token yet, any token that can still be sent is used; the check after the wait
/// decides.
const WANTED: Wanted = Wanted {
    validity: Duration::from_secs(120),
    fallback: Duration::ZERO,
};

const BLOCKED_REASON: &str = "amoCRM blocked this integration (403) after too many requests; \
amolink paused its traffic";

/// amoCRM's answer, to relay; `retry_after` must be sent as `Retry-After`.
pub struct Proxied {
    pub response: ForwardResponse,
    pub retry_after: Option<Duration>,
}

/// Forwards tenants' API calls; see the module documentation.
#[derive(Clone)]
pub struct Proxy {
    deps: Arc<AccessDeps>,
}

fn unsafe_request(error: &AmoError) -> Error {
    match error {
        AmoError::UnsafeRequest { reason } => Error::Invalid(
            ValidationError::new("request", "proxy-request-refused").with("reason", reason),
        ),
        other => upstream(other),
    }
}

/// amoCRM could not be reached or misbehaved; the text names the kind, never a body or token.
fn upstream(error: &AmoError) -> Error {
    Error::Upstream(Message::new("upstream-proxy-failed").with("error", error))
}

impl Proxy {
    pub(super) fn new(deps: Arc<AccessDeps>) -> Self {
        Self { deps }
    }

    /// Forwards `request` to the connection's account host.
    ///
    /// # Errors
    /// [`Error::NotFound`] outside the workspace; [`Error::Conflict`] for an unusable
    /// connection; [`Error::Invalid`] for a path, query or method that may not be forwarded
    /// (before any token, slot or request); [`Error::RateLimited`] when no slot frees within
    /// the governor's wait; [`Error::Upstream`] when amoCRM cannot be reached or refuses a
    /// refreshed token.
    pub async fn forward(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        request: ForwardRequest,
    ) -> Result<Proxied, Error> {
        // The connection first: another workspace's id is 404 whatever the path. Nothing has
        // been sent or spent yet when the path is refused.
        let record = usable_connection(&self.deps, workspace, id).await?;
        request.validate().map_err(|e| unsafe_request(&e))?;
        let host = AccountHost::parse(&record.host, &self.deps.allowed_domains)
            .map_err(|_| Error::Conflict(Message::new("account-host-not-allowed")))?;
        let integration = Integration::new(&record.client_id);
        let mut token = self.deps.keeper.fresh_token(workspace, id, WANTED).await?;
        // Set once a second token was fetched (after a 401, or because the first one expired
        // while waiting for a slot): no third.
        let mut replaced = false;
        loop {
            self.deps.governor.admit(&integration).await?;
            if !token.usable_at(self.deps.clock.now()) {
                // It ran out while the request waited for its slot. The slot is given up.
                if replaced || token.refreshed_now {
                    return Err(Error::RefreshDeferred {
                        retry_after: Duration::from_secs(1),
                    });
                }
                token = self.deps.keeper.fresh_token(workspace, id, WANTED).await?;
                replaced = true;
                continue;
            }
            let response = self.send(&host, &token, request.clone()).await?;
            match response.status.as_u16() {
                401 if !replaced => {
                    tracing::info!(connection_id = %id, "amoCRM refused the access token; replacing it once");
                    token = match self
                        .deps
                        .keeper
                        .replace_refused(workspace, id, &token.access_token)
                        .await
                    {
                        Ok(fresh) => fresh,
                        // The refresh may just have found the connection dead: say so (409).
                        Err(Error::Upstream(reason)) => {
                            usable_connection(&self.deps, workspace, id).await?;
                            return Err(Error::Upstream(reason));
                        }
                        Err(e) => return Err(e),
                    };
                    replaced = true;
                }
                401 => {
                    tracing::warn!(connection_id = %id, "amoCRM refused a replaced access token");
                    return Err(Error::Upstream(Message::new("upstream-token-refused")));
                }
                429 | 403 => return self.refused(&record, &integration, response).await,
                status if (200..300).contains(&status) => {
                    if record.status == ConnectionStatus::RateLimited {
                        self.resumed(&record).await;
                    }
                    return Ok(Proxied {
                        response,
                        retry_after: None,
                    });
                }
                _ => {
                    return Ok(Proxied {
                        response,
                        retry_after: None,
                    });
                }
            }
        }
    }

    /// One request (its slot already granted).
    async fn send(
        &self,
        host: &AccountHost,
        token: &FreshToken,
        request: ForwardRequest,
    ) -> Result<ForwardResponse, Error> {
        self.deps
            .amocrm
            .forward(host, &token.access_token, request)
            .await
            .map_err(|e| unsafe_request(&e))
    }

    /// amoCRM said slow down (429) or stop (403): pause, mark, and relay its answer.
    async fn refused(
        &self,
        record: &ConnectionRecord,
        integration: &Integration,
        response: ForwardResponse,
    ) -> Result<Proxied, Error> {
        let policy = *self.deps.governor.policy();
        let (response, meaning) = response.classify_refusal().await;
        let pause = match meaning {
            Some(AmoError::RateLimited { retry_after }) => {
                let wait = retry_after
                    .filter(|wait| !wait.is_zero())
                    .unwrap_or(policy.default_retry_after);
                tracing::warn!(event = "amocrm_rate_limited", connection_id = %record.id, retry_after_ms = wait.as_millis(), "amoCRM answered 429");
                wait
            }
            Some(AmoError::Forbidden { html: true }) => {
                tracing::error!(event = "amocrm_blocked", workspace_id = %record.workspace, connection_id = %record.id, "amoCRM blocked the integration; pausing its traffic");
                self.blocked(record).await;
                policy.block_cooldown
            }
            // A JSON 403 is about rights to a resource, not a block.
            _ => {
                return Ok(Proxied {
                    response,
                    retry_after: None,
                });
            }
        };
        // This instance pauses even if the shared ledger cannot be written; amoCRM's answer is
        // relayed either way.
        if let Err(e) = self.deps.governor.pause(integration, pause).await {
            tracing::error!(connection_id = %record.id, error = %e, "could not share a pause with other instances");
        }
        Ok(Proxied {
            response,
            retry_after: Some(pause),
        })
    }

    async fn blocked(&self, record: &ConnectionRecord) {
        let change = StatusChange::new(
            Transition::RateLimit,
            Actor::AmoCrm,
            Some(BLOCKED_REASON.into()),
            self.deps.clock.now(),
        );
        // The pause is what protects the account; a failed status write is only logged.
        let marked = self
            .deps
            .health
            .mark_rate_limited(record.workspace, record.id, &change)
            .await;
        self.deps.cache.forget(record.id);
        if let Err(e) = marked {
            tracing::error!(connection_id = %record.id, error = %e, "could not mark a blocked connection");
        }
    }

    async fn resumed(&self, record: &ConnectionRecord) {
        let change = StatusChange::new(
            Transition::Resume,
            Actor::AmoCrm,
            None,
            self.deps.clock.now(),
        );
        let cleared = self
            .deps
            .health
            .clear_rate_limited(record.workspace, record.id, &change)
            .await;
        self.deps.cache.forget(record.id);
        match cleared {
            Ok(true) => {
                tracing::info!(connection_id = %record.id, "amoCRM answers again; connection active")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(connection_id = %record.id, error = %e, "could not mark a connection active")
            }
        }
    }
}
