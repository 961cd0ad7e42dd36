use std::sync::{
    Arc, Mutex, OnceLock, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        self,
        phc::{Output, ParamsString, PasswordHash, Salt},
    },
};
use subtle::ConstantTimeEq as _;
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

/// One Argon2 working memory: `memory_kib` blocks of 1 KiB.
type Memory = Vec<Block>;

/// Hashes and verifies passwords off the async workers, at most `permits` at a time, each in one
/// of `permits` working memories allocated once at start.
///
/// Argon2 is deliberately expensive (19 MiB and tens of milliseconds per call). Allocating the
/// 19 MiB per call let a login flood grow the process by hundreds of megabytes that the allocator
/// kept afterwards; with a fixed pool the memory for hashing is `permits × memory_kib` KiB for
/// the life of the process, whatever the load. Callers wait for a permit instead, so ordinary
/// pages keep their latency while logins queue.
#[derive(Clone)]
pub struct PasswordHasher {
    policy: HashingPolicy,
    permits: Arc<Semaphore>,
    /// The preallocated working memories; a holder of a permit always finds one here.
    pool: Arc<Mutex<Vec<Memory>>>,
    /// A hash of a random value, verified when the email is unknown so both failures cost the same.
    dummy_hash: Arc<OnceLock<String>>,
    /// Argon2 computations made (hashes and verifications), for the login-flood tests and metrics.
    computations: Arc<AtomicU64>,
}

impl PasswordHasher {
    #[must_use]
    pub fn new(policy: HashingPolicy, permits: usize) -> Self {
        let permits = permits.max(1);
        let blocks = usize::try_from(policy.memory_kib).unwrap_or(usize::MAX);
        let pool = (0..permits)
            .map(|_| vec![Block::new(); blocks])
            .collect::<Vec<_>>();
        Self {
            policy,
            permits: Arc::new(Semaphore::new(permits)),
            pool: Arc::new(Mutex::new(pool)),
            dummy_hash: Arc::new(OnceLock::new()),
            computations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Argon2 computations made so far (every hash and every verification, the dummy ones too).
    #[must_use]
    pub fn computations(&self) -> u64 {
        self.computations.load(Ordering::Relaxed)
    }

    /// The bytes of working memory the pool holds.
    #[must_use]
    pub fn pool_bytes(&self) -> usize {
        let memories = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        memories
            .saturating_mul(usize::try_from(self.policy.memory_kib).unwrap_or(usize::MAX))
            .saturating_mul(Block::SIZE)
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
        self.run_blocking(move |memory| hash_now(policy, password.expose(), memory))
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
            .run_blocking(move |memory| Ok(verify_now(password.expose(), &stored, memory)))
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
            .run_blocking(move |memory| hash_now(policy, &uuid::Uuid::new_v4().to_string(), memory))
            .await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Busy)?;
        let pool = self.pool.clone();
        let blocks = usize::try_from(self.policy.memory_kib).unwrap_or(usize::MAX);
        self.computations.fetch_add(1, Ordering::Relaxed);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                // A permit holder always finds a memory, unless an earlier task panicked with
                // one: then a new one replaces it, so the pool never shrinks.
                let mut memory = pool
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop()
                    .unwrap_or_else(|| vec![Block::new(); blocks]);
                let outcome = work(&mut memory);
                pool.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(memory);
                outcome
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("password hashing task failed: {e}"))?
    }
}

fn hash_error(e: impl std::fmt::Display) -> Error {
    anyhow::anyhow!("argon2 hashing failed: {e}").into()
}

fn hash_now(policy: HashingPolicy, password: &str, memory: &mut [Block]) -> Result<String, Error> {
    let argon2 = PasswordHasher::argon2(policy)?;
    let salt = password_hash::generate_salt();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = memory
        .get_mut(..argon2.params().block_count())
        .ok_or_else(|| hash_error("the pool's memory is smaller than the policy"))?;
    argon2
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        .map_err(hash_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(hash_error)?,
        salt: Some(Salt::new(&salt).map_err(hash_error)?),
        hash: Some(Output::new(&out).map_err(hash_error)?),
    };
    Ok(phc.to_string())
}

/// Recomputes `stored`'s hash of `password` in `memory` (or, for a hash made with more memory
/// than the pool's, in a memory of its own) and compares in constant time. A malformed stored
/// hash never matches.
fn verify_now(password: &str, stored: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let count = argon2.params().block_count();
    let mut own;
    let blocks = if let Some(blocks) = memory.get_mut(..count) {
        blocks
    } else {
        own = vec![Block::new(); count];
        own.as_mut_slice()
    };
    let mut out = vec![0u8; expected.len()];
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, blocks)
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
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

    #[tokio::test]
    async fn pooled_hashes_verify_with_the_crate_and_the_crate_s_with_the_pool() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(HashingPolicy::default(), 1);
        let ours = hasher.hash(&password("pooled")).await.expect("hash");
        assert!(
            Argon2::default()
                .verify_password(b"pooled", ours.as_str())
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"theirs")
            .expect("hash")
            .to_string();
        assert!(
            hasher
                .verify(&password("theirs"), Some(theirs))
                .await
                .expect("ok")
        );
        assert!(
            !hasher
                .verify(&password("theirs"), Some("$argon2id$garbage".to_owned()))
                .await
                .expect("ok")
        );
    }

    #[tokio::test]
    async fn the_pool_holds_one_memory_per_permit_and_counts_every_computation() {
        let hasher = PasswordHasher::new(HashingPolicy::default(), 3);
        assert_eq!(hasher.pool_bytes(), 3 * 19_456 * 1024);
        let hash = hasher.hash(&password("counted")).await.expect("hash");
        let checks = (0..6)
            .map(|_| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move { hasher.verify(&password("counted"), Some(hash)).await })
            })
            .collect::<Vec<_>>();
        for check in checks {
            assert!(check.await.expect("joined").expect("ok"));
        }
        assert_eq!(hasher.computations(), 7);
        assert_eq!(
            hasher.pool_bytes(),
            3 * 19_456 * 1024,
            "every memory came back"
        );
    }
}
