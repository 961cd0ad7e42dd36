//! An actix-session [`SessionStore`] over the domain's [`SessionRepository`] port.

use std::{collections::HashMap, sync::Arc};

use actix_session::storage::{
    LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key,
};
use actix_web::cookie::time::Duration;
use chrono::{DateTime, Utc};
use domain::{
    clock::Clock,
    ids::{UserId, WorkspaceId},
    ports::SessionRepository,
};
use sha2::{Digest as _, Sha256};

/// The session-state key that holds the signed-in user; mirrored into its own column so all of
/// a user's sessions can be ended at once.
pub(crate) const USER_KEY: &str = "uid";
/// The session's current workspace; mirrored into its own column so a removed member's sessions
/// in that workspace can be ended at once.
pub(crate) const WORKSPACE_KEY: &str = "ws";

/// Persists session state in amolink's database; the cookie carries only the (encrypted) key.
#[derive(Clone)]
pub struct DatabaseSessionStore {
    repo: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
}

impl DatabaseSessionStore {
    #[must_use]
    pub fn new(repo: Arc<dyn SessionRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    fn expiry(&self, ttl: &Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::seconds(ttl.whole_seconds())
    }
}

/// Only the SHA-256 of a session key is stored, so a database leak yields no usable cookie.
fn key_hash(key: &SessionKey) -> String {
    hex::encode(Sha256::digest(key.as_ref().as_bytes()))
}

/// A value of the state (actix-session stores each as JSON), parsed.
fn parsed<T: std::str::FromStr>(state: &HashMap<String, String>, key: &str) -> Option<T> {
    let raw = state.get(key)?;
    serde_json::from_str::<String>(raw).ok()?.parse().ok()
}

fn user_of(state: &HashMap<String, String>) -> Option<UserId> {
    parsed(state, USER_KEY)
}

fn workspace_of(state: &HashMap<String, String>) -> Option<WorkspaceId> {
    parsed(state, WORKSPACE_KEY)
}

/// The state as stored: keys in order, so the same state is always the same text (a session
/// saved again unchanged writes identical bytes).
fn encode(state: &HashMap<String, String>) -> Result<String, anyhow::Error> {
    let ordered: std::collections::BTreeMap<&String, &String> = state.iter().collect();
    Ok(serde_json::to_string(&ordered)?)
}

impl SessionStore for DatabaseSessionStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        let Some(raw) = self
            .repo
            .load(&key_hash(session_key), self.clock.now())
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        serde_json::from_str(&raw)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let state = encode(&session_state).map_err(SaveError::Serialization)?;
        let key = generate_session_key();
        self.repo
            .insert(
                &key_hash(&key),
                &state,
                user_of(&session_state),
                workspace_of(&session_state),
                self.expiry(ttl),
            )
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let state = encode(&session_state).map_err(UpdateError::Serialization)?;
        let updated = self
            .repo
            .update(
                &key_hash(&session_key),
                &state,
                user_of(&session_state),
                workspace_of(&session_state),
                self.expiry(ttl),
            )
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            return Ok(session_key);
        }
        // The session was ended meanwhile (log-out elsewhere, expiry): never resurrect its key.
        self.save(session_state, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        self.repo
            .set_expiry(&key_hash(session_key), self.expiry(ttl))
            .await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.repo.delete(&key_hash(session_key)).await?;
        Ok(())
    }
}
