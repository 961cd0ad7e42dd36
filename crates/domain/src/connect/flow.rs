//! One connect attempt, from the hosted page view to a connection (or a failure).

use amocrm::Platform;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::{
    ValidationError,
    end_user::Metadata,
    ids::{ButtonId, ConnectionId, FlowId, WorkspaceId},
    text::text_enum,
};

text_enum! {
    /// Where a flow stands.
    ///
    /// `pending → claimed → completed`, or `→ failed`. The secrets webhook may arrive before or after
    /// the callback claims the flow; it only fills in the client credentials.
    pub enum FlowStatus {
        /// Waiting for the browser to come back from amoCRM.
        Pending,
        /// A callback took the flow and is exchanging its code; no other callback can.
        Claimed,
        Completed,
        Failed,
    }
    unknown(_text) => ValidationError::new("status", "unknown-flow-status");
}

impl FlowStatus {}

/// A flow to store when the hosted page is viewed.
#[derive(Debug, Clone)]
pub struct NewFlow {
    pub id: FlowId,
    pub workspace: WorkspaceId,
    pub button: ButtonId,
    pub platform: Platform,
    pub state_hash: String,
    pub binding_hash: String,
    pub end_user_id: Option<String>,
    /// The tenant's metadata for the end user (connect sessions only).
    pub metadata: Option<Metadata>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored flow.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: FlowId,
    pub workspace: WorkspaceId,
    pub button: ButtonId,
    pub platform: Platform,
    pub binding_hash: String,
    pub status: FlowStatus,
    pub client_id: Option<String>,
    /// Sealed for `(workspace, flow id, "connect_flows.client_secret")`.
    pub client_secret: Option<String>,
    pub secrets_at: Option<DateTime<Utc>>,
    pub connection: Option<ConnectionId>,
    pub failure: Option<String>,
    pub end_user_id: Option<String>,
    pub metadata: Option<Metadata>,
    pub expires_at: DateTime<Utc>,
}

/// How a claimed flow ended.
#[derive(Debug, Clone)]
pub enum FlowOutcome {
    Completed(ConnectionId),
    Failed(&'static str),
}

/// amoCRM's POST to the secrets URL, as received (JSON or form).
#[derive(Debug)]
pub struct SecretsDelivery {
    pub client_id: String,
    pub client_secret: SecretString,
    pub state: String,
}

impl SecretsDelivery {
    /// The checks that need no storage: `client_id` is a UUID, the secret has a plausible
    /// length (16–256 bytes) and the state is 1–128 bytes. Run before any lookup, so hostile
    /// bodies cost nothing.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that fails; an implausible state reads as
    /// "unknown or expired", like a state that is not found.
    pub fn check_shape(&self) -> Result<(), ValidationError> {
        use secrecy::ExposeSecret as _;
        if uuid::Uuid::parse_str(&self.client_id).is_err() {
            return Err(ValidationError::new("client_id", "client-id-not-uuid"));
        }
        let secret_len = self.client_secret.expose_secret().len();
        if !(16..=256).contains(&secret_len) {
            return Err(ValidationError::new(
                "client_secret",
                "client-secret-implausible",
            ));
        }
        if self.state.is_empty() || self.state.len() > 128 {
            return Err(ValidationError::new("state", "state-unknown"));
        }
        Ok(())
    }
}

/// Whether a secrets delivery was new or a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsReceipt {
    Stored,
    /// The same delivery again: accepted, nothing changed.
    Duplicate,
}

/// amoCRM's redirect back to us.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<SecretString>,
    pub referer: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub error: Option<String>,
}
