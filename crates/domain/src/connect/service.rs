//! The connect flow's use cases.

use std::{sync::Arc, time::Duration};

use amocrm::{
    AccountHost, AccountInfo, AmoClient, AmoError, DomainAllowList, OAuthApp, TokenGrant,
};
use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;
use url::Url;

use super::{
    Button, ButtonKey, ButtonMode, ButtonSettings, Callback, Flow, FlowOutcome, FlowStatus,
    NewFlow, OneTimeToken, SecretsDelivery, SecretsReceipt, hash_token,
};
use crate::{
    Error, Message, ValidationError,
    clock::Clock,
    connections::{
        Actor, ConnectionRecord, ConnectionStatus, EventKind, NewEvent, SealedColumn, TokenCall,
    },
    crypto::{Binding, Keyring},
    end_user::EndUser,
    governor::{Governor, Integration},
    ids::{ButtonId, ConnectionId, FlowId, WorkspaceId},
    keeper::{RefreshPolicy, SEND_GUARD},
    ports::{ButtonRepository, ConnectionRepository, FlowRepository},
};

/// The most connect buttons one workspace may have: a tenant needs a handful; the cap keeps one
/// account from filling the database.
pub const MAX_BUTTONS_PER_WORKSPACE: usize = 100;

/// The flow secret's column name, part of its AEAD binding.
const FLOW_SECRET_COLUMN: &str = "connect_flows.client_secret";

/// amolink's own URLs that go into every button.
#[derive(Debug, Clone)]
pub struct ConnectUrls {
    /// `{PUBLIC_URL}/amocrm/callback`: becomes each integration's redirect URI.
    pub redirect_uri: String,
    /// `{PUBLIC_URL}/amocrm/secrets`
    pub secrets_uri: String,
    /// The default logo for new buttons.
    pub default_logo: Url,
}

/// Timing of connect flows.
#[derive(Debug, Clone, Copy)]
pub struct FlowSettings {
    /// How long a hosted-page view stays usable; amoCRM's codes live 20 minutes too.
    pub ttl: Duration,
    /// How long a callback waits for secrets that amoCRM has not delivered yet.
    pub secrets_wait: Duration,
    /// How often it looks while waiting.
    pub secrets_poll: Duration,
}

impl Default for FlowSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(20 * 60),
            secrets_wait: Duration::from_secs(5),
            secrets_poll: Duration::from_millis(50),
        }
    }
}

/// A fresh flow for one view of the hosted connect page.
#[derive(Debug)]
pub struct StartedFlow {
    pub button: Button,
    /// Goes into `data-state`; stored only as a hash.
    pub state: OneTimeToken,
    /// Goes into the browser's binding cookie; stored only as a hash.
    pub binding: String,
}

/// A completed connection, for the success page.
#[derive(Debug, Clone)]
pub struct Connected {
    pub flow: FlowId,
    pub connection: ConnectionId,
    pub account_name: String,
    pub reconnected: bool,
}

/// Connect buttons and the flows they start.
#[derive(Clone)]
pub struct ConnectService {
    buttons: Arc<dyn ButtonRepository>,
    flows: Arc<dyn FlowRepository>,
    connections: Arc<dyn ConnectionRepository>,
    keyring: Arc<Keyring>,
    amocrm: AmoClient,
    governor: Arc<Governor>,
    allowed_domains: DomainAllowList,
    urls: ConnectUrls,
    settings: FlowSettings,
    refresh: RefreshPolicy,
    clock: Arc<dyn Clock>,
}

/// The outcome of a connect flow as its result page shows it.
#[derive(Debug, Clone)]
pub struct FlowResult {
    pub connected: bool,
    pub account_name: Option<String>,
    pub connection: Option<ConnectionId>,
    pub end_user_id: Option<String>,
    pub mode: ButtonMode,
}

/// The pieces [`ConnectService`] works with.
pub struct ConnectDeps {
    pub buttons: Arc<dyn ButtonRepository>,
    pub flows: Arc<dyn FlowRepository>,
    pub connections: Arc<dyn ConnectionRepository>,
    pub keyring: Arc<Keyring>,
    pub amocrm: AmoClient,
    /// amoCRM counts the connect-time account call against the new integration.
    pub governor: Arc<Governor>,
    pub allowed_domains: DomainAllowList,
    pub urls: ConnectUrls,
    pub settings: FlowSettings,
    /// Schedules the first refresh of each new connection.
    pub refresh: RefreshPolicy,
    pub clock: Arc<dyn Clock>,
}

fn invalid(field: &'static str, code: &'static str) -> Error {
    Error::Invalid(ValidationError::new(field, code))
}

fn to_std(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl ConnectService {
    #[must_use]
    pub fn new(deps: ConnectDeps) -> Self {
        Self {
            buttons: deps.buttons,
            flows: deps.flows,
            connections: deps.connections,
            keyring: deps.keyring,
            amocrm: deps.amocrm,
            governor: deps.governor,
            allowed_domains: deps.allowed_domains,
            urls: deps.urls,
            settings: deps.settings,
            refresh: deps.refresh,
            clock: deps.clock,
        }
    }

    #[must_use]
    pub fn urls(&self) -> &ConnectUrls {
        &self.urls
    }

    /// The workspace's buttons, oldest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn buttons(&self, workspace: WorkspaceId) -> Result<Vec<Button>, Error> {
        Ok(self.buttons.buttons(workspace).await?)
    }

    /// Adds a button to the workspace.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the workspace has [`MAX_BUTTONS_PER_WORKSPACE`] buttons already;
    /// storage failures.
    pub async fn create_button(
        &self,
        workspace: WorkspaceId,
        settings: ButtonSettings,
    ) -> Result<Button, Error> {
        if self.buttons.buttons(workspace).await?.len() >= MAX_BUTTONS_PER_WORKSPACE {
            return Err(Error::Conflict(
                Message::new("buttons-at-cap").with("max", MAX_BUTTONS_PER_WORKSPACE),
            ));
        }
        let button = Button {
            id: ButtonId::random(),
            workspace,
            key: ButtonKey::mint(),
            settings,
        };
        self.buttons
            .insert_button(&button, self.clock.now())
            .await?;
        Ok(button)
    }

    /// The workspace's button `id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it is not a button of this workspace; storage failures.
    pub async fn button(&self, workspace: WorkspaceId, id: ButtonId) -> Result<Button, Error> {
        self.buttons
            .buttons(workspace)
            .await?
            .into_iter()
            .find(|b| b.id == id)
            .ok_or(Error::NotFound)
    }

    /// Replaces a button's settings; its key, connect link and embed stay the same.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it is not a button of this workspace; storage failures.
    pub async fn update_button(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
        settings: ButtonSettings,
    ) -> Result<Button, Error> {
        let button = self.button(workspace, id).await?;
        if !self.buttons.update_button(workspace, id, &settings).await? {
            return Err(Error::NotFound);
        }
        Ok(Button { settings, ..button })
    }

    /// Deletes a button: its connect link and embed stop working. Connections made through it
    /// keep working (they hold their own credentials, not the button's).
    ///
    /// # Errors
    /// [`Error::NotFound`] when it is not a button of this workspace; storage failures.
    pub async fn delete_button(
        &self,
        workspace: WorkspaceId,
        id: ButtonId,
    ) -> Result<Button, Error> {
        let button = self.button(workspace, id).await?;
        if !self.buttons.delete_button(workspace, id).await? {
            return Err(Error::NotFound);
        }
        Ok(button)
    }

    /// A button by its public key.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn buttons_by_key(&self, raw_key: &str) -> Result<Option<Button>, Error> {
        let Ok(key) = ButtonKey::parse(raw_key) else {
            return Ok(None);
        };
        Ok(self.buttons.button_by_key(&key).await?)
    }

    /// Mints a fresh single-use state for one view of `/connect/{key}`, bound to the browser by
    /// `binding` (the cookie it already has, or a new one). `end_user` (from a connect session)
    /// is carried by the flow into the connection it makes.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown button; storage failures.
    pub async fn start(
        &self,
        raw_key: &str,
        existing_binding: Option<&str>,
        end_user: Option<EndUser>,
    ) -> Result<StartedFlow, Error> {
        let button = self.buttons_by_key(raw_key).await?.ok_or(Error::NotFound)?;
        let binding = existing_binding
            .filter(|b| {
                b.len() == 43
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            })
            .map_or_else(|| OneTimeToken::mint().expose().to_owned(), str::to_owned);
        let state = OneTimeToken::mint();
        let now = self.clock.now();
        self.flows
            .insert_flow(&NewFlow {
                id: FlowId::random(),
                workspace: button.workspace,
                button: button.id,
                platform: button.settings.platform,
                state_hash: state.hash(),
                binding_hash: hash_token(&binding),
                end_user_id: end_user.as_ref().map(|u| u.id.as_str().to_owned()),
                metadata: end_user.and_then(|u| u.metadata),
                created_at: now,
                expires_at: now + to_std(self.settings.ttl),
            })
            .await?;
        Ok(StartedFlow {
            button,
            state,
            binding,
        })
    }

    /// Handles amoCRM's secrets webhook.
    ///
    /// # Errors
    /// [`Error::Invalid`] for malformed input or an unknown, used or expired state (the same
    /// answer for all, so the endpoint reveals nothing); [`Error::Conflict`] when a different
    /// client arrives for a state that already has one.
    pub async fn receive_secrets(
        &self,
        delivery: SecretsDelivery,
    ) -> Result<SecretsReceipt, Error> {
        let unusable = || invalid("state", "state-unknown");
        delivery.check_shape().map_err(Error::Invalid)?;
        let now = self.clock.now();
        let flow = self
            .flows
            .flow_by_state(&hash_token(&delivery.state))
            .await?
            .filter(|f| {
                f.expires_at > now
                    && matches!(
                        f.status,
                        FlowStatus::Pending | FlowStatus::Claimed | FlowStatus::Completed
                    )
            })
            .ok_or_else(unusable)?;
        if let Some(existing) = &flow.client_id {
            return self.repeated_delivery(&flow, existing, &delivery);
        }
        let sealed = self
            .keyring
            .seal(delivery.client_secret.expose_secret(), &flow_binding(&flow));
        if self
            .flows
            .attach_secrets(flow.id, &delivery.client_id, &sealed, now)
            .await?
        {
            tracing::info!(event = "secrets_received", workspace_id = %flow.workspace, flow_id = %flow.id, "integration secrets stored");
            return Ok(SecretsReceipt::Stored);
        }
        // Another delivery won the race: judge this one against what it stored.
        let flow = self.flows.flow(flow.id).await?.ok_or_else(unusable)?;
        match &flow.client_id {
            Some(existing) => self.repeated_delivery(&flow, existing, &delivery),
            None => Err(unusable()),
        }
    }

    fn repeated_delivery(
        &self,
        flow: &Flow,
        existing_client: &str,
        delivery: &SecretsDelivery,
    ) -> Result<SecretsReceipt, Error> {
        let same_client = bool::from(
            existing_client
                .as_bytes()
                .ct_eq(delivery.client_id.as_bytes()),
        );
        let same_secret = flow
            .client_secret
            .as_deref()
            .and_then(|sealed| self.keyring.open(sealed, &flow_binding(flow)).ok())
            .is_none_or(|stored| {
                bool::from(
                    stored
                        .expose_secret()
                        .as_bytes()
                        .ct_eq(delivery.client_secret.expose_secret().as_bytes()),
                )
            });
        if same_client && same_secret {
            return Ok(SecretsReceipt::Duplicate);
        }
        tracing::warn!(
            event = "secrets_conflict",
            workspace_id = %flow.workspace,
            flow_id = %flow.id,
            "a different client was posted for a state that already has one"
        );
        Err(Error::Conflict(Message::new("secrets-already-received")))
    }

    /// Handles amoCRM's redirect: validates everything before any byte leaves the server, then
    /// exchanges the code exactly once and stores the connection.
    ///
    /// Answers `Ok(None)` when the user declined on amoCRM's consent page.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad state, binding or referer; [`Error::Conflict`] when the
    /// flow was already used; [`Error::Upstream`] when amoCRM refuses or fails.
    pub async fn complete(
        &self,
        callback: Callback,
        binding: Option<&str>,
    ) -> Result<Option<Connected>, Error> {
        let now = self.clock.now();
        let state = callback
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or_else(|| invalid("state", "connect-link-incomplete"))?;
        let flow = self
            .flows
            .flow_by_state(&hash_token(state))
            .await?
            .ok_or_else(|| invalid("state", "connect-link-unknown"))?;
        let same_browser = binding.is_some_and(|b| {
            bool::from(hash_token(b).as_bytes().ct_eq(flow.binding_hash.as_bytes()))
        });
        if !same_browser {
            tracing::warn!(event = "state_rejected", reason = "other_browser", workspace_id = %flow.workspace, "callback from a browser that did not start the flow");
            return Err(invalid("state", "connect-other-browser"));
        }
        if flow.expires_at <= now {
            return Err(invalid("state", "connect-link-expired"));
        }
        if callback.error.is_some() {
            if self.flows.claim_flow(flow.id, now).await? {
                self.flows
                    .finish_flow(flow.id, &FlowOutcome::Failed("declined"))
                    .await?;
            }
            return Ok(None);
        }
        let host = self.validated_host(&flow, callback.referer.as_deref())?;
        let Some(code) = callback.code else {
            return Err(invalid("code", "connect-no-code"));
        };
        if !self.flows.claim_flow(flow.id, now).await? {
            return Err(Error::Conflict(Message::new("connect-link-used")));
        }
        match self
            .exchange(&flow, &host, &code, callback.client_id.as_deref())
            .await
        {
            Ok(connected) => {
                self.flows
                    .finish_flow(flow.id, &FlowOutcome::Completed(connected.connection))
                    .await?;
                Ok(Some(connected))
            }
            Err((reason, error)) => {
                if let Err(e) = self
                    .flows
                    .finish_flow(flow.id, &FlowOutcome::Failed(reason))
                    .await
                {
                    tracing::error!(error = %e, "could not record a failed flow");
                }
                tracing::warn!(event = "connect_failed", reason, workspace_id = %flow.workspace, flow_id = %flow.id, "connect flow failed");
                Err(error)
            }
        }
    }

    /// The flow behind a success page, only for the browser that ran it.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown flow or another browser.
    pub async fn flow_for_browser(&self, id: FlowId, binding: Option<&str>) -> Result<Flow, Error> {
        let flow = self.flows.flow(id).await?.ok_or(Error::NotFound)?;
        let same_browser = binding.is_some_and(|b| {
            bool::from(hash_token(b).as_bytes().ct_eq(flow.binding_hash.as_bytes()))
        });
        if same_browser {
            Ok(flow)
        } else {
            Err(Error::NotFound)
        }
    }

    /// What the page after a flow shows the browser that ran it: whether the account was
    /// connected, its name, the connection and end user the embedding page is told about, and
    /// how the button returns its result.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown flow or another browser; storage failures.
    pub async fn result_for_browser(
        &self,
        id: FlowId,
        binding: Option<&str>,
    ) -> Result<FlowResult, Error> {
        let flow = self.flow_for_browser(id, binding).await?;
        let account_name = match flow.connection {
            Some(connection) => self
                .connections
                .connection(flow.workspace, connection)
                .await?
                .map(|record| record.account_name),
            None => None,
        };
        let mode = self
            .buttons
            .buttons(flow.workspace)
            .await?
            .into_iter()
            .find(|b| b.id == flow.button)
            .map_or(ButtonMode::Popup, |b| b.settings.mode);
        Ok(FlowResult {
            connected: flow.status == FlowStatus::Completed,
            account_name,
            connection: flow.connection,
            end_user_id: flow.end_user_id,
            mode,
        })
    }

    /// Deletes flows (and the secrets they hold) that expired more than an hour ago.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_expired_flows(&self) -> Result<u64, Error> {
        Ok(self
            .flows
            .purge_flows(self.clock.now() - chrono::Duration::hours(1))
            .await?)
    }

    fn validated_host(&self, flow: &Flow, referer: Option<&str>) -> Result<AccountHost, Error> {
        let raw = referer.unwrap_or_default();
        let host = AccountHost::parse(raw, &self.allowed_domains).map_err(|e| {
            tracing::warn!(event = "referer_rejected", reason = %e, workspace_id = %flow.workspace, flow_id = %flow.id, "callback referer refused");
            invalid("referer", "connect-referer-refused")
        })?;
        if host.platform() != flow.platform {
            tracing::warn!(event = "referer_rejected", reason = "platform_mismatch", workspace_id = %flow.workspace, "callback referer is on the other platform");
            return Err(invalid("referer", "connect-platform-mismatch"));
        }
        Ok(host)
    }

    /// The code exchange and everything after it: the integration's credentials, the token
    /// pair, the account it belongs to (checked against the referer), the stored connection.
    async fn exchange(
        &self,
        flow: &Flow,
        host: &AccountHost,
        code: &SecretString,
        callback_client: Option<&str>,
    ) -> Result<Connected, (&'static str, Error)> {
        let flow = self.await_secrets(flow).await?;
        let (client_id, client_secret) = self.integration_credentials(&flow, callback_client)?;
        let app = OAuthApp {
            client_id: &client_id,
            client_secret: &client_secret,
            redirect_uri: &self.urls.redirect_uri,
        };
        let sent_at = self.clock.now();
        let grant = self
            .amocrm
            .exchange_code(host, &app, code)
            .await
            .map_err(|e| {
                (
                    "code_exchange_failed",
                    upstream("upstream-code-exchange-failed", &e),
                )
            })?;
        let refresh_token = grant.refresh_token.clone().ok_or((
            "no_refresh_token",
            Error::Upstream(Message::new("upstream-no-refresh-token")),
        ))?;
        let account = self
            .verified_account(&flow, host, &Integration::new(&client_id), &grant, sent_at)
            .await?;
        let existing = self
            .connections
            .connection_for_account(flow.workspace, host.platform(), account.id)
            .await
            .map_err(|e| ("storage", e.into()))?;
        let id = existing.unwrap_or_else(ConnectionId::random);
        let seal = |column: SealedColumn, value: &SecretString| {
            self.keyring.seal(
                value.expose_secret(),
                &Binding {
                    workspace: flow.workspace,
                    row: id.as_uuid(),
                    column: column.as_str(),
                },
            )
        };
        let now = self.clock.now();
        let record = ConnectionRecord {
            id,
            workspace: flow.workspace,
            platform: host.platform(),
            account_id: account.id,
            account_name: account.name.clone(),
            host: host.as_str().to_owned(),
            api_domain: grant.claims.as_ref().and_then(|c| c.api_domain.clone()),
            client_id: client_id.clone(),
            client_secret: Some(seal(SealedColumn::ClientSecret, &client_secret)),
            access_token: Some(seal(SealedColumn::AccessToken, &grant.access_token)),
            refresh_token: Some(seal(SealedColumn::RefreshToken, &refresh_token)),
            // amoCRM's word, counted from when the exchange was sent.
            access_expires_at: Some(sent_at + to_std(grant.expires_in)),
            access_lifetime: Some(grant.expires_in),
            token_call: Some(TokenCall {
                at: sent_at,
                after_refusal: false,
            }),
            next_refresh_at: Some(self.refresh.next_refresh_at(sent_at, grant.expires_in)),
            refresh_failures: 0,
            status: ConnectionStatus::Active,
            status_reason: None,
            status_at: now,
            connected_at: now,
            last_refresh_at: None,
            last_error: None,
            end_user_id: flow.end_user_id.clone(),
            metadata: flow.metadata.clone(),
        };
        let reconnected = existing.is_some();
        self.connections
            .save_connection(
                &record,
                &connect_events(&flow, &account, host, reconnected, now),
            )
            .await
            .map_err(|e| ("storage", e.into()))?;
        tracing::info!(
            event = if reconnected { "connection_reconnected" } else { "connection_created" },
            workspace_id = %flow.workspace,
            connection_id = %id,
            account_id = account.id,
            "amoCRM account connected"
        );
        Ok(Connected {
            flow: flow.id,
            connection: id,
            account_name: account.name,
            reconnected,
        })
    }

    /// The integration amoCRM announced through the secrets webhook, its secret opened.
    fn integration_credentials(
        &self,
        flow: &Flow,
        callback_client: Option<&str>,
    ) -> Result<(String, SecretString), (&'static str, Error)> {
        let (Some(client_id), Some(sealed)) = (flow.client_id.clone(), flow.client_secret.clone())
        else {
            return Err((
                "secrets_missing",
                Error::Upstream(Message::new("upstream-no-secrets")),
            ));
        };
        if callback_client.is_some_and(|c| c != client_id) {
            return Err((
                "client_mismatch",
                invalid("client_id", "connect-client-mismatch"),
            ));
        }
        let client_secret = self
            .keyring
            .open(&sealed, &flow_binding(flow))
            .map_err(|e| {
                (
                    "secret_unreadable",
                    Error::Unexpected(anyhow::anyhow!("flow secret: {e}")),
                )
            })?;
        Ok((client_id, client_secret))
    }

    /// Reads the account the new token belongs to — an API call the governor counts against
    /// the integration — and checks it is the referer's.
    async fn verified_account(
        &self,
        flow: &Flow,
        host: &AccountHost,
        integration: &Integration,
        grant: &TokenGrant,
        sent_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<AccountInfo, (&'static str, Error)> {
        self.governor
            .admit(integration)
            .await
            .map_err(|e| ("account_lookup_failed", e))?;
        // Never sent when amoCRM's own word says it is (about to be) expired: a token with no
        // credible lifetime, or one shorter than the trip, cannot prove the account.
        let left = sent_at + to_std(grant.expires_in) - self.clock.now();
        if left < to_std(SEND_GUARD) {
            tracing::warn!(event = "token_unusable", workspace_id = %flow.workspace, lifetime_secs = grant.expires_in.as_secs(), "amoCRM issued an access token that cannot be used");
            return Err((
                "token_unusable",
                Error::Upstream(Message::new("upstream-token-expired-at-once")),
            ));
        }
        let account = self
            .amocrm
            .account(host, &grant.access_token)
            .await
            .map_err(|e| {
                (
                    "account_lookup_failed",
                    upstream("upstream-account-read-failed", &e),
                )
            })?;
        let claims_match = grant
            .claims
            .as_ref()
            .is_none_or(|c| c.account_id == account.id);
        if account.subdomain != host.subdomain() || !claims_match {
            tracing::warn!(event = "account_mismatch", workspace_id = %flow.workspace, "token belongs to another account than the referer");
            return Err((
                "account_mismatch",
                Error::Upstream(Message::new("upstream-other-account")),
            ));
        }
        Ok(account)
    }

    /// Waits briefly for a secrets webhook that has not arrived yet.
    async fn await_secrets(&self, flow: &Flow) -> Result<Flow, (&'static str, Error)> {
        let deadline = tokio::time::Instant::now() + self.settings.secrets_wait;
        let mut current = flow.clone();
        while current.client_id.is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(self.settings.secrets_poll).await;
            current = self
                .flows
                .flow(flow.id)
                .await
                .map_err(|e| ("storage", e.into()))?
                .unwrap_or(current);
        }
        Ok(current)
    }
}

/// The history a connect leaves: the secrets webhook, then the connection (or reconnection).
fn connect_events(
    flow: &Flow,
    account: &AccountInfo,
    host: &AccountHost,
    reconnected: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> [NewEvent; 2] {
    [
        NewEvent {
            kind: EventKind::SecretsReceived,
            actor: Actor::AmoCrm,
            detail: flow
                .client_id
                .as_ref()
                .map(|client_id| format!("integration {client_id}")),
            at: flow.secrets_at.unwrap_or(now),
        },
        NewEvent {
            kind: if reconnected {
                EventKind::Reconnected
            } else {
                EventKind::Connected
            },
            actor: Actor::AmoCrm,
            detail: Some(format!("{} ({})", account.name, host.as_str())),
            at: now,
        },
    ]
}

fn flow_binding(flow: &Flow) -> Binding {
    Binding {
        workspace: flow.workspace,
        row: flow.id.as_uuid(),
        column: FLOW_SECRET_COLUMN,
    }
}

/// An amoCRM failure at `step` (a message code), safe to show: the classified kind, never a
/// body or a token. The kind also goes to the log.
fn upstream(step: &'static str, error: &AmoError) -> Error {
    tracing::warn!(kind = error.kind(), step, "amoCRM call failed");
    Error::Upstream(Message::new(step).with("kind", error.kind()))
}
