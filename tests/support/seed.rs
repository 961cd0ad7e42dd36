//! Connections with real grants, written straight into a database: for multi-instance tests and
//! benchmarks that need hundreds of connections without clicking through consent for each.

use std::{sync::Arc, time::Duration};

use amocrm::{AccountHost, AmoClient, ClientSettings, DomainAllowList, OAuthApp};
use chrono::Utc;
use domain::{
    accounts::{Email, NewAccount, WorkspaceName},
    connect::{Button, ButtonKey, ButtonSettings},
    connections::{
        Actor, ConnectionRecord, ConnectionStatus, EventKind, NewEvent, SealedColumn, TokenCall,
    },
    crypto::{Binding, Keyring},
    ids::{ButtonId, ConnectionId, UserId, WorkspaceId},
    keeper::RefreshPolicy,
    ports::{AccountRepository as _, ConnectionRepository as _},
};
use persistence::Database;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::task::JoinSet;

/// The public URL the seeded integrations were "created" with: instances that refresh them must
/// run with this `AMOLINK_PUBLIC_URL`, since amoCRM checks the redirect URI on every refresh.
pub const SEED_PUBLIC_URL: &str = "http://127.0.0.1:9";

/// Creates a workspace and `count` amoCRM accounts in the simulator, each connected with a real
/// grant; answers the workspace and the connection ids. Instances refreshing them must run with
/// [`SEED_PUBLIC_URL`] as their public URL.
pub async fn seed_connections(
    database: &Database,
    sim: &amocrm_sim::Sim,
    sim_url: &str,
    master_keys: &str,
    count: usize,
    margin: Duration,
) -> anyhow::Result<(WorkspaceId, Vec<ConnectionId>)> {
    seed_connections_for(
        database,
        sim,
        sim_url,
        master_keys,
        count,
        margin,
        SEED_PUBLIC_URL,
    )
    .await
}

/// [`seed_connections`] for integrations created with `public_url`'s redirect URI, so the
/// instance at `public_url` can refresh them.
pub async fn seed_connections_for(
    database: &Database,
    sim: &amocrm_sim::Sim,
    sim_url: &str,
    master_keys: &str,
    count: usize,
    margin: Duration,
    public_url: &str,
) -> anyhow::Result<(WorkspaceId, Vec<ConnectionId>)> {
    let keyring = Arc::new(Keyring::parse(&SecretString::from(master_keys.to_owned()))?);
    let workspace = WorkspaceId::random();
    let logo = url::Url::parse(&format!("{public_url}/static/logo.png"))?;
    database
        .create_account(
            &NewAccount {
                workspace_id: workspace,
                workspace_name: WorkspaceName::parse("Load test")?,
                user_id: UserId::random(),
                email: Email::parse(&format!(
                    "load-{}@example.com",
                    uuid::Uuid::new_v4().simple()
                ))?,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2VlZA$c2VlZA".to_owned(),
                default_button: Button {
                    id: ButtonId::random(),
                    workspace,
                    key: ButtonKey::mint(),
                    settings: ButtonSettings::default_for("Load test", logo),
                },
            },
            Utc::now(),
        )
        .await?;
    let client = AmoClient::new(ClientSettings {
        base_url_override: Some(url::Url::parse(sim_url)?),
        ..ClientSettings::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = RefreshPolicy {
        margin,
        ..RefreshPolicy::default()
    };
    let redirect_uri = format!("{public_url}/amocrm/callback");
    let base = 50_000_000 + i64::from(rand::random::<u16>()) * 10_000;
    let mut tasks = JoinSet::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    for i in 0..count {
        let account_id = base + i64::try_from(i)?;
        sim.add_account(amocrm_sim::AccountSeed {
            id: account_id,
            platform: amocrm_sim::Platform::Amocrm,
            subdomain: format!("load{account_id}"),
            name: format!("Load account {i}"),
            admin: true,
        })?;
        let install = sim.install_for_tests(account_id, &redirect_uri)?;
        let (client, keyring, database, redirect_uri, permits) = (
            client.clone(),
            keyring.clone(),
            database.clone(),
            redirect_uri.clone(),
            permits.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let host = AccountHost::parse(
                &format!("load{account_id}.amocrm.ru"),
                &DomainAllowList::default(),
            )?;
            let secret = SecretString::from(install.client_secret.clone());
            let sent_at = Utc::now();
            let grant = client
                .exchange_code(
                    &host,
                    &OAuthApp {
                        client_id: &install.client_id,
                        client_secret: &secret,
                        redirect_uri: &redirect_uri,
                    },
                    &SecretString::from(install.code.clone()),
                )
                .await?;
            let id = ConnectionId::random();
            let seal = |column: SealedColumn, value: &SecretString| {
                keyring.seal(
                    value.expose_secret(),
                    &Binding {
                        workspace,
                        row: id.as_uuid(),
                        column: column.as_str(),
                    },
                )
            };
            let now = Utc::now();
            let expires_at = sent_at + chrono::Duration::from_std(grant.expires_in)?;
            let refresh_token = grant
                .refresh_token
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no refresh token"))?;
            database
                .save_connection(
                    &ConnectionRecord {
                        id,
                        workspace,
                        platform: host.platform(),
                        account_id,
                        account_name: format!("Load account {i}"),
                        host: host.as_str().to_owned(),
                        api_domain: grant.claims.as_ref().and_then(|c| c.api_domain.clone()),
                        client_id: install.client_id.clone(),
                        client_secret: Some(seal(SealedColumn::ClientSecret, &secret)),
                        access_token: Some(seal(SealedColumn::AccessToken, &grant.access_token)),
                        refresh_token: Some(seal(SealedColumn::RefreshToken, &refresh_token)),
                        access_expires_at: Some(expires_at),
                        access_lifetime: Some(grant.expires_in),
                        token_call: Some(TokenCall {
                            at: sent_at,
                            after_refusal: false,
                        }),
                        next_refresh_at: Some(policy.next_refresh_at(sent_at, grant.expires_in)),
                        refresh_failures: 0,
                        status: ConnectionStatus::Active,
                        status_reason: None,
                        status_at: now,
                        connected_at: now,
                        last_refresh_at: None,
                        last_error: None,
                        end_user_id: None,
                        metadata: None,
                    },
                    &[NewEvent {
                        kind: EventKind::Connected,
                        actor: Actor::AmoCrm,
                        detail: None,
                        at: now,
                    }],
                )
                .await?;
            anyhow::Ok(id)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        ids.push(joined??);
    }
    Ok((workspace, ids))
}
