//! Listing, inspecting and ending connections.

use std::sync::Arc;

use hmac::{Hmac, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use super::{
    Actor, ConnectionEvent, ConnectionFilter, ConnectionStatus, ConnectionSummary, EventKind,
    NewEvent, Page, PageCursor, SealedColumn,
};
use crate::{
    Error, ValidationError,
    clock::Clock,
    crypto::{Binding, Keyring},
    ids::{ConnectionId, WorkspaceId},
    ports::ConnectionRepository,
};

/// How many events a connection page shows.
const HISTORY_LIMIT: u64 = 100;
/// The largest page a listing returns.
pub const MAX_PAGE: u64 = 200;

/// A workspace's connections.
#[derive(Clone)]
pub struct Connections {
    repo: Arc<dyn ConnectionRepository>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
}

impl Connections {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ConnectionRepository>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            keyring,
            clock,
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
    /// again. Revoking twice is harmless.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the id is not a connection of this workspace.
    pub async fn revoke(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
        actor: Actor,
    ) -> Result<(), Error> {
        let record = self
            .repo
            .connection(workspace, id)
            .await?
            .ok_or(Error::NotFound)?;
        if record.status == ConnectionStatus::Revoked {
            return Ok(());
        }
        let event = NewEvent {
            kind: EventKind::Revoked,
            actor,
            detail: None,
            at: self.clock.now(),
        };
        if self.repo.revoke(workspace, id, &event).await? {
            tracing::info!(event = "connection_revoked", workspace_id = %workspace, connection_id = %id, "connection revoked");
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
                "invalid disconnect notification",
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
            let event = NewEvent {
                kind: EventKind::Disconnected,
                actor: Actor::AmoCrm,
                detail: Some("amoCRM reported the integration as disabled or uninstalled".into()),
                at: self.clock.now(),
            };
            if self
                .repo
                .mark_disconnected(record.workspace, record.id, &event)
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
