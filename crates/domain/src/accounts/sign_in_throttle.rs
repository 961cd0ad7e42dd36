//! The sign-in throttle: attempts are reserved in a ledger every instance shares *before* a
//! password is hashed, back off progressively instead of locking, and a browser that signed in
//! before (a device cookie, as OWASP's authentication cheat sheet describes) has a budget of its
//! own, so an attack on an account cannot lock its owner out.
//!
//! Each key (the account, the client address, or a known device) has a count of consecutive
//! attempts that did not succeed and the earliest time the next one may start. Reserving an
//! attempt is one compare-and-set in the ledger: it counts the attempt as a failure up front and
//! pushes the next start by [`Backoff::delay_after`]. Two hundred concurrent attempts therefore
//! pass at most `free` reservations (plus one per elapsed back-off); the rest are refused without
//! touching Argon2. A success clears the account's and the device's counts and refunds the
//! address's.

use std::{net::IpAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::{Error, StoreError, clock::Clock, ids::UserId};

/// How one kind of key backs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts allowed back to back before any delay.
    pub free: u32,
    /// The first delay; each further failure doubles it.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// A key quiet for this long starts again from zero.
    pub forget_after: Duration,
}

impl Backoff {
    /// The wait before the next attempt once `failures` attempts in a row have failed:
    /// nothing below `free`, then `base`, `2 × base`, … up to `cap`.
    #[must_use]
    pub fn delay_after(&self, failures: u32) -> Duration {
        let Some(over) = failures.checked_sub(self.free) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// The budgets per account, per client address and per known device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInPolicy {
    pub account: Backoff,
    pub client: Backoff,
    pub device: Backoff,
}

impl Default for SignInPolicy {
    /// Ten attempts per account, then 1 s, 2 s, 4 s … up to 15 minutes (R4: attempt 11 waits);
    /// thirty per address, then up to 5 minutes, so a shared NAT is slowed, never shut out;
    /// ten per known device, like an account.
    fn default() -> Self {
        Self {
            account: Backoff {
                free: 10,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
            },
            client: Backoff {
                free: 30,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(5 * 60),
                forget_after: Duration::from_secs(3600),
            },
            device: Backoff {
                free: 10,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
            },
        }
    }
}

/// One key's state in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerEntry {
    pub failures: u32,
    /// Unix milliseconds before which no attempt may start.
    pub next_at: i64,
    pub updated_at: i64,
}

/// The shared ledger (`login_throttle`).
#[async_trait]
pub trait AttemptLedger: Send + Sync {
    /// The key's entry, creating a zero entry when there is none.
    async fn entry(&self, key: &str) -> Result<LedgerEntry, StoreError>;
    /// Replaces `expected` with `new` only if the stored entry still equals `expected`; `false`
    /// when another attempt changed it first.
    async fn swap(
        &self,
        key: &str,
        expected: &LedgerEntry,
        new: &LedgerEntry,
    ) -> Result<bool, StoreError>;
    /// Forgets a key (after a success).
    async fn clear(&self, key: &str) -> Result<(), StoreError>;
    /// Takes one failure back from a key, if it has any.
    async fn refund(&self, key: &str) -> Result<(), StoreError>;
    /// Drops entries not updated since `before` (unix ms); returns how many.
    async fn prune(&self, before: i64) -> Result<u64, StoreError>;
}

/// A browser that signed in before, as its signed device cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub user: UserId,
    /// The cookie's random part; its own throttle key.
    pub nonce: String,
}

/// The keys an attempt was charged to, to settle after the password check.
#[derive(Debug)]
pub struct Reserved {
    keys: Vec<(String, Backoff)>,
    client_key: Option<String>,
}

/// Reserves sign-in attempts in the shared ledger.
#[derive(Clone)]
pub struct SignInThrottle {
    ledger: Arc<dyn AttemptLedger>,
    clock: Arc<dyn Clock>,
    policy: SignInPolicy,
}

/// How often a reservation retries when other attempts keep changing the entry first; after
/// that the attempt is refused (contention means many attempts at once: an attack).
const SWAP_TRIES: usize = 8;

impl SignInThrottle {
    #[must_use]
    pub fn new(
        ledger: Arc<dyn AttemptLedger>,
        clock: Arc<dyn Clock>,
        policy: SignInPolicy,
    ) -> Self {
        Self {
            ledger,
            clock,
            policy,
        }
    }

    /// The ledger key of an account: a hash of the normalised address, so the ledger holds no
    /// e-mail addresses and every key has the same length.
    #[must_use]
    pub fn account_key(raw_email: &str) -> String {
        let digest = Sha256::digest(raw_email.trim().to_lowercase().as_bytes());
        format!("account:{}", hex(&digest))
    }

    #[must_use]
    pub fn client_key(client: IpAddr) -> String {
        format!("client:{client}")
    }

    #[must_use]
    pub fn device_key(device: &KnownDevice) -> String {
        let digest = Sha256::digest(device.nonce.as_bytes());
        format!("device:{}", hex(&digest))
    }

    /// Reserves an attempt on the account and the address, or, from a known device of this
    /// account's user, on the device alone.
    ///
    /// # Errors
    /// [`Error::Throttled`] when a key must wait; storage failures.
    pub async fn reserve(
        &self,
        raw_email: &str,
        client: IpAddr,
        device: Option<&KnownDevice>,
    ) -> Result<Reserved, Error> {
        let keys = match device {
            Some(device) => vec![(Self::device_key(device), self.policy.device)],
            None => vec![
                (Self::account_key(raw_email), self.policy.account),
                (Self::client_key(client), self.policy.client),
            ],
        };
        // Every key is checked before any is charged, so a refused key does not spend another's.
        let now = self.clock.now().timestamp_millis();
        let mut wait = Duration::ZERO;
        for (key, backoff) in &keys {
            let entry = self.ledger.entry(key).await?;
            wait = wait.max(Self::wait(&entry, backoff, now));
        }
        if !wait.is_zero() {
            return Err(Error::Throttled { retry_after: wait });
        }
        for (key, backoff) in &keys {
            self.charge(key, backoff, now).await?;
        }
        let client_key = device.is_none().then(|| Self::client_key(client));
        Ok(Reserved { keys, client_key })
    }

    fn wait(entry: &LedgerEntry, backoff: &Backoff, now: i64) -> Duration {
        if Self::forgotten(entry, backoff, now) || entry.next_at <= now {
            Duration::ZERO
        } else {
            Duration::from_millis(u64::try_from(entry.next_at - now).unwrap_or(0))
        }
    }

    fn forgotten(entry: &LedgerEntry, backoff: &Backoff, now: i64) -> bool {
        let quiet = i64::try_from(backoff.forget_after.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(entry.updated_at) >= quiet
    }

    /// Counts one attempt on `key` if its wait is over: a compare-and-set, retried while other
    /// attempts win the race, refused when one of them started a wait.
    async fn charge(&self, key: &str, backoff: &Backoff, now: i64) -> Result<(), Error> {
        for _ in 0..SWAP_TRIES {
            let entry = self.ledger.entry(key).await?;
            let wait = Self::wait(&entry, backoff, now);
            if !wait.is_zero() {
                return Err(Error::Throttled { retry_after: wait });
            }
            let failures = if Self::forgotten(&entry, backoff, now) {
                1
            } else {
                entry.failures.saturating_add(1)
            };
            let delay =
                i64::try_from(backoff.delay_after(failures).as_millis()).unwrap_or(i64::MAX);
            let new = LedgerEntry {
                failures,
                next_at: now.saturating_add(delay),
                updated_at: now,
            };
            if self.ledger.swap(key, &entry, &new).await? {
                return Ok(());
            }
        }
        Err(Error::Throttled {
            retry_after: backoff.base.max(Duration::from_secs(1)),
        })
    }

    /// The password was right: the account and device start again; the address gets its
    /// attempt back.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn succeeded(&self, reserved: Reserved) -> Result<(), Error> {
        for (key, _) in &reserved.keys {
            if Some(key) == reserved.client_key.as_ref() {
                self.ledger.refund(key).await?;
            } else {
                self.ledger.clear(key).await?;
            }
        }
        Ok(())
    }

    /// Drops ledger entries quiet for longer than every key's memory.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn prune(&self) -> Result<u64, Error> {
        let longest = [self.policy.account, self.policy.client, self.policy.device]
            .iter()
            .map(|b| b.forget_after.max(b.cap))
            .max()
            .unwrap_or_default();
        let before = self.clock.now().timestamp_millis()
            - i64::try_from(longest.as_millis()).unwrap_or(i64::MAX);
        Ok(self.ledger.prune(before).await?)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Mutex};

    use chrono::{DateTime, Utc};

    use super::*;

    #[derive(Default)]
    struct MemoryLedger(Mutex<HashMap<String, LedgerEntry>>);

    #[async_trait]
    impl AttemptLedger for MemoryLedger {
        async fn entry(&self, key: &str) -> Result<LedgerEntry, StoreError> {
            Ok(*self
                .0
                .lock()
                .expect("lock")
                .entry(key.to_owned())
                .or_insert(LedgerEntry {
                    failures: 0,
                    next_at: 0,
                    updated_at: 0,
                }))
        }
        async fn swap(
            &self,
            key: &str,
            expected: &LedgerEntry,
            new: &LedgerEntry,
        ) -> Result<bool, StoreError> {
            let mut map = self.0.lock().expect("lock");
            let slot = map.get_mut(key).expect("created by entry");
            if slot == expected {
                *slot = *new;
                Ok(true)
            } else {
                Ok(false)
            }
        }
        async fn clear(&self, key: &str) -> Result<(), StoreError> {
            self.0.lock().expect("lock").remove(key);
            Ok(())
        }
        async fn refund(&self, key: &str) -> Result<(), StoreError> {
            if let Some(entry) = self.0.lock().expect("lock").get_mut(key) {
                entry.failures = entry.failures.saturating_sub(1);
            }
            Ok(())
        }
        async fn prune(&self, before: i64) -> Result<u64, StoreError> {
            let mut map = self.0.lock().expect("lock");
            let len = map.len();
            map.retain(|_, e| e.updated_at >= before);
            Ok((len - map.len()) as u64)
        }
    }

    struct Fixed(Mutex<DateTime<Utc>>);
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().expect("lock")
        }
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn throttle() -> (SignInThrottle, Arc<Fixed>) {
        let clock = Arc::new(Fixed(Mutex::new(Utc::now())));
        (
            SignInThrottle::new(
                Arc::new(MemoryLedger::default()),
                clock.clone(),
                SignInPolicy::default(),
            ),
            clock,
        )
    }

    #[test]
    fn the_delay_doubles_after_the_free_attempts_up_to_the_cap() {
        let b = SignInPolicy::default().account;
        assert_eq!(b.delay_after(9), Duration::ZERO);
        assert_eq!(b.delay_after(10), Duration::from_secs(1));
        assert_eq!(b.delay_after(12), Duration::from_secs(4));
        assert_eq!(b.delay_after(40), b.cap);
        assert_eq!(b.delay_after(u32::MAX), b.cap);
    }

    #[tokio::test]
    async fn the_eleventh_attempt_waits_and_then_may_try_again() {
        let (throttle, clock) = throttle();
        for attempt in 1..=10 {
            assert!(
                throttle
                    .reserve("ann@example.com", HOME, None)
                    .await
                    .is_ok(),
                "attempt {attempt}"
            );
        }
        let Err(Error::Throttled { retry_after }) =
            throttle.reserve("ann@example.com", HOME, None).await
        else {
            panic!("the eleventh attempt must wait");
        };
        assert_eq!(retry_after, Duration::from_secs(1));
        *clock.0.lock().expect("lock") += chrono::Duration::seconds(1);
        assert!(
            throttle
                .reserve("ANN@example.com ", HOME, None)
                .await
                .is_ok()
        );
        assert!(
            throttle
                .reserve("ann@example.com", HOME, None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_known_device_is_not_slowed_by_an_attack_on_its_account() {
        let (throttle, _) = throttle();
        for n in 0..50u8 {
            let _ = throttle
                .reserve("ann@example.com", IpAddr::from([10, 0, 0, n]), None)
                .await;
        }
        assert!(
            throttle
                .reserve("ann@example.com", HOME, None)
                .await
                .is_err()
        );
        let device = KnownDevice {
            user: UserId::random(),
            nonce: "n0nce".to_owned(),
        };
        let reserved = throttle
            .reserve("ann@example.com", HOME, Some(&device))
            .await
            .expect("the device has its own budget");
        throttle.succeeded(reserved).await.expect("settled");
    }

    #[tokio::test]
    async fn success_clears_the_account_and_refunds_the_address() {
        let (throttle, _) = throttle();
        for _ in 0..9 {
            let _ = throttle.reserve("ann@example.com", HOME, None).await;
        }
        let reserved = throttle
            .reserve("ann@example.com", HOME, None)
            .await
            .expect("tenth");
        throttle.succeeded(reserved).await.expect("settled");
        for _ in 0..10 {
            assert!(
                throttle
                    .reserve("ann@example.com", HOME, None)
                    .await
                    .is_ok()
            );
        }
    }

    #[tokio::test]
    async fn a_quiet_key_is_forgotten() {
        let (throttle, clock) = throttle();
        for _ in 0..11 {
            let _ = throttle.reserve("ann@example.com", HOME, None).await;
        }
        *clock.0.lock().expect("lock") += chrono::Duration::hours(2);
        assert!(
            throttle
                .reserve("ann@example.com", HOME, None)
                .await
                .is_ok()
        );
        assert_eq!(throttle.prune().await.expect("pruned"), 0);
        *clock.0.lock().expect("lock") += chrono::Duration::hours(2);
        assert_eq!(throttle.prune().await.expect("pruned"), 2);
    }
}
