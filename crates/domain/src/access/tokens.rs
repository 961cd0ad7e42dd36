//! Token vending: a connection's current access token for the tenant's own calls to amoCRM.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{AccessDeps, usable_connection};
use crate::{
    Error,
    ids::{ConnectionId, WorkspaceId},
    keeper::Wanted,
};

/// A token handed to the tenant, with where it works.
#[derive(Debug)]
pub struct VendedToken {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// `https://{account host}`
    pub api_base_url: String,
    pub account_id: i64,
    pub connection_id: ConnectionId,
}

/// Hands out access tokens valid for at least the refresh margin.
#[derive(Clone)]
pub struct TokenVending {
    deps: Arc<AccessDeps>,
}

impl TokenVending {
    pub(super) fn new(deps: Arc<AccessDeps>) -> Self {
        Self { deps }
    }

    /// The connection's access token, refreshed first (through the keeper) if it would expire
    /// within the refresh margin — or within half its life, for tokens that live shorter than
    /// twice the margin, so such tokens are not refreshed on every call. A token is never handed
    /// out with less than that left unless a refresh was just made for this call: when amoCRM may
    /// not be asked for a new one yet, the answer says when to come back.
    ///
    /// # Errors
    /// [`Error::NotFound`] outside the workspace; [`Error::Conflict`] saying why when the
    /// connection cannot be used; [`Error::Upstream`] when amoCRM refuses the refresh for a
    /// transient reason; [`Error::RefreshDeferred`]; [`Error::Busy`].
    pub async fn vend(
        &self,
        workspace: WorkspaceId,
        id: ConnectionId,
    ) -> Result<VendedToken, Error> {
        let record = usable_connection(&self.deps, workspace, id).await?;
        let wanted = Wanted {
            validity: self.deps.refresh_margin,
            fallback: self.deps.refresh_margin,
        };
        let token = match self.deps.keeper.fresh_token(workspace, id, wanted).await {
            Ok(token) => token,
            // The refresh may just have found the connection dead: say so as for any unusable one.
            Err(Error::Upstream(reason)) => {
                usable_connection(&self.deps, workspace, id).await?;
                return Err(Error::Upstream(reason));
            }
            Err(e) => return Err(e),
        };
        tracing::info!(event = "token_vended", workspace_id = %workspace, connection_id = %id, "access token vended");
        Ok(VendedToken {
            access_token: token.access_token,
            expires_at: token.expires_at,
            api_base_url: token.api_base_url,
            account_id: record.account_id,
            connection_id: id,
        })
    }
}
