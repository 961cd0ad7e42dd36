use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use super::Password;
use crate::Error;

/// Argon2id cost parameters. The default is the OWASP minimum (m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingPolicy {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for HashingPolicy {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
        }
    }
}

/// Hashes and verifies passwords off the async workers, at most `permits` at a time.
///
/// Argon2 is deliberately expensive (19 MiB and tens of milliseconds per call); without a bound a
/// login flood would exhaust memory and starve every other request. Callers wait for a permit
/// instead, so ordinary pages keep their latency while logins queue.
#[derive(Clone)]
pub struct PasswordHasher {
    policy: HashingPolicy,
    permits: Arc<Semaphore>,
    /// A hash of a random value, verified when the email is unknown so both failures cost the same.
    dummy_hash: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    #[must_use]
    pub fn new(policy: HashingPolicy, permits: usize) -> Self {
        Self {
            policy,
            permits: Arc::new(Semaphore::new(permits.max(1))),
            dummy_hash: Arc::new(OnceLock::new()),
        }
    }

    fn argon2(policy: HashingPolicy) -> Result<Argon2<'static>, Error> {
        let params = Params::new(policy.memory_kib, policy.iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Produces a PHC string `$argon2id$v=19$m=…,t=…,p=1$salt$hash`.
    ///
    /// # Errors
    /// When the hashing task fails (it does not for valid parameters).
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.clone();
        let policy = self.policy;
        self.run_blocking(move || hash_now(policy, password.expose()))
            .await
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no user, so
    /// unknown emails take as long as wrong passwords.
    ///
    /// # Errors
    /// Only when the blocking task cannot run.
    pub async fn verify(&self, password: &Password, stored: Option<String>) -> Result<bool, Error> {
        let known_user = stored.is_some();
        let stored = match stored {
            Some(hash) => hash,
            None => self.dummy_hash().await?,
        };
        let password = password.clone();
        let matches = self
            .run_blocking(move || {
                let argon2 = Argon2::default();
                Ok(argon2
                    .verify_password(password.expose().as_bytes(), stored.as_str())
                    .is_ok())
            })
            .await?;
        Ok(matches && known_user)
    }

    /// Whether `stored` was made with weaker parameters than the current policy.
    #[must_use]
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let param = |name: &str| -> Option<u32> {
            stored
                .split('$')
                .find(|part| part.starts_with("m="))?
                .split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        !stored.starts_with("$argon2id$")
            || param("m").is_none_or(|m| m < self.policy.memory_kib)
            || param("t").is_none_or(|t| t < self.policy.iterations)
    }

    /// Made on first use, like any other hash: off the async workers and under the semaphore.
    async fn dummy_hash(&self) -> Result<String, Error> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let policy = self.policy;
        let hash = self
            .run_blocking(move || hash_now(policy, &uuid::Uuid::new_v4().to_string()))
            .await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Busy)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|e| anyhow::anyhow!("password hashing task failed: {e}"))?
    }
}

fn hash_now(policy: HashingPolicy, password: &str) -> Result<String, Error> {
    let hash = PasswordHasher::argon2(policy)?
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::for_login(raw.to_owned()).expect("valid")
    }

    #[tokio::test]
    async fn hashes_are_argon2id_at_the_policy_minimum() {
        let hasher = PasswordHasher::new(HashingPolicy::default(), 2);
        let hash = hasher
            .hash(&password("a long passphrase"))
            .await
            .expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hasher.needs_rehash(&hash));
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = PasswordHasher::new(HashingPolicy::default(), 2);
        let hash = hasher
            .hash(&password("right password"))
            .await
            .expect("hash");
        assert!(
            hasher
                .verify(&password("right password"), Some(hash.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !hasher
                .verify(&password("wrong password"), Some(hash))
                .await
                .expect("ok")
        );
        assert!(
            !hasher
                .verify(&password("right password"), None)
                .await
                .expect("ok")
        );
    }

    #[tokio::test]
    async fn weaker_hashes_need_a_rehash_when_the_policy_rises() {
        let weak = PasswordHasher::new(HashingPolicy::default(), 1);
        let hash = weak
            .hash(&password("a long passphrase"))
            .await
            .expect("hash");
        let stronger = PasswordHasher::new(
            HashingPolicy {
                memory_kib: 19_456,
                iterations: 3,
            },
            1,
        );
        assert!(stronger.needs_rehash(&hash));
        assert!(stronger.needs_rehash("$2b$12$bcrypt-hash"));
    }
}
