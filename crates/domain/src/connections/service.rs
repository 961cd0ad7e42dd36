//! Listing, inspecting and ending connections.

use std::sync::Arc;

use hmac::{Hmac, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use super::{
    Actor, ConnectionEvent, ConnectionFilter, ConnectionStatus, ConnectionSummary, Page,
    PageCursor, SealedColumn, StatusChange, Transition,
};
use crate::{
    Error, ValidationError,
    audit::{Audit, AuditAction, AuditTarget, Principal},
    clock::Clock,
    crypto::{Binding, Keyring},
    ids::{ConnectionId, WorkspaceId},
    ports::ConnectionRepository,
    relay::BeforeErase,
};

/// How many events a connection page shows.
const HISTORY_LIMIT: u64 = 100;
/// The largest page a listing returns.
pub const MAX_PAGE: u64 = 200;

/// How many connections one status poll may ask about (a page lists at most 50).
pub const MAX_STATUS_LOOKUPS: usize = 100;

/// A workspace's connections.
#[derive(Clone)]
pub struct Connections {
    repo: Arc<dyn ConnectionRepository>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    /// Runs while the credentials still exist, before they are erased (the events
    /// subscription is removed at amoCRM with them).
    before_erase: Option<Arc<dyn BeforeErase>>,
}

impl Connections {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ConnectionRepository>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        audit: Audit,
    ) -> Self {
        Self {
            repo,
            keyring,
            clock,
            audit,
            before_erase: None,
        }
    }

    /// Adds what must happen before a connection's credentials are erased.
    #[must_use]
    pub fn with_before_erase(mut self, hook: Arc<dyn BeforeErase>) -> Self {
        self.before_erase = Some(hook);
        self
    }

    async fn before_erase(&self, workspace: WorkspaceId, id: ConnectionId) {
        if let Some(hook) = &self.before_erase {
            hook.before_erase(workspace, id).await;
        }
    }

    /// One page of the workspace's connections, newest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed cursor; storage failures.
    pub async fn list(
        &self,
        workspace: WorkspaceId,
        filter: &ConnectionFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<ConnectionSummary>, Error> {
        let after = cursor.map(PageCursor::decode).transpose()?;
        Ok(self
            .repo
            .list_connections(workspace, filter, after, limit.clamp(1, MAX_PAGE))
            .await?)
    }

    /// The current status of each of `ids` that is a connection of this workspace (others are
    /// left out, so ids leak nothing); at most [`MAX_STATUS_LOOKUPS`] are looked up.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn statuses(
        &self,
        workspace: WorkspaceId,
        ids: &[ConnectionId],
    ) -> Result<Vec<(ConnectionId, ConnectionStatus)>, Error> {
        let mut found = Vec::new();
        for id in ids.iter().take(MAX_STATUS_LOOKUPS) {
            if found.iter().any(|(seen, _)| seen == id) {
                continue;
            }
            if let Some(record) = self.repo.connection(workspace, *id).await? {
                found.push((*id, record.status));
            }
        }
        Ok(found)
    }

    /// One connection and its history.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not a connection of this workspace.
    pub async fn detail(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<(ConnectionSummary, Vec<ConnectionEvent>), Error> {
        let record = self
            .repo
            .connection(workspace, id)
            .await?
            .ok_or(Error::NotFound)?;
        let events = self.repo.events(workspace, id, HISTORY_LIMIT).await?;
        Ok((ConnectionSummary::from(&record), events))
    }

    /// Revokes a connection: its credentials are destroyed and nothing will call amoCRM for it
    /// again. Revoking twice is harmless (and recorded once).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not a connection of this workspace.
    pub async fn revoke(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        by: &Principal,
    ) -> Result<(), Error> {
        let record = self
            .repo
            .connection(workspace, id)
            .await?
            .ok_or(Error::NotFound)?;
        if record.status == ConnectionStatus::Revoked {
            return Ok(());
        }
        self.before_erase(workspace, id).await;
        let change =
            StatusChange::new(Transition::Revoke, by.event_actor(), None, self.clock.now());
        if self.repo.change_status(workspace, id, &change).await? {
            tracing::info!(event = "connection_revoked", workspace_id = %workspace, connection_id = %id, "connection revoked");
            self.audit
                .record(
                    Some(workspace),
                    by,
                    AuditAction::ConnectionRevoked,
                    Some(AuditTarget::new(
                        "connection",
                        id,
                        format!("{} ({})", record.account_name, record.host),
                    )),
                    None,
                )
                .await;
        }
        Ok(())
    }

    /// amoCRM's disconnect hook: `signature` must be the hex HMAC-SHA256 of
    /// `"{client_id}|{account_id}"` keyed by that connection's client secret.
    ///
    /// # Errors
    /// [`Error::Invalid`] when no connection matches or the signature is wrong (one answer for
    /// both).
    pub async fn disconnected_by_amocrm(
        &self,
        client_id: &str,
        account_id: &str,
        signature: &str,
    ) -> Result<(), Error> {
        let refused = || {
            Error::Invalid(ValidationError::new(
                "signature",
                "disconnect-signature-invalid",
            ))
        };
        let signature = hex::decode(signature.trim()).map_err(|_| refused())?;
        let account: i64 = account_id.trim().parse().map_err(|_| refused())?;
        if client_id.is_empty() || client_id.len() > 64 {
            return Err(refused());
        }
        let message = format!("{client_id}|{account}");
        for record in self.repo.connections_by_client_id(client_id).await? {
            if record.account_id != account {
                continue;
            }
            let Some(secret) = record.client_secret.as_deref().and_then(|sealed| {
                self.keyring
                    .open(
                        sealed,
                        &Binding {
                            workspace: record.workspace,
                            row: record.id.as_uuid(),
                            column: SealedColumn::ClientSecret.as_str(),
                        },
                    )
                    .ok()
            }) else {
                continue;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            else {
                continue;
            };
            mac.update(message.as_bytes());
            if mac.verify_slice(&signature).is_err() {
                continue;
            }
            if record.status.is_usable() {
                self.before_erase(record.workspace, record.id).await;
            }
            let change = StatusChange::new(
                Transition::Disconnect,
                Actor::AmoCrm,
                Some("amoCRM reported the integration as disabled or uninstalled".into()),
                self.clock.now(),
            );
            if self
                .repo
                .change_status(record.workspace, record.id, &change)
                .await?
            {
                tracing::info!(event = "connection_disconnected", workspace_id = %record.workspace, connection_id = %record.id, "amoCRM disconnected a connection");
            }
            return Ok(());
        }
        tracing::warn!(
            event = "disconnect_rejected",
            "disconnect hook with no matching connection or a bad signature"
        );
        Err(refused())
    }
}
