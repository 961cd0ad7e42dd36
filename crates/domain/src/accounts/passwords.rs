//! Changing a password (the current one required) and resetting a forgotten one by e-mail.
//!
//! Either way, every other session of the user ends: whoever knew the old password, or held a
//! session opened with it, is out. Reset links are single use, valid for an hour and stored only
//! as hashes; asking for one answers the same whether or not the address has an account (the
//! lookup and the e-mail happen after the answer), and requests are throttled per address and per
//! client.

use std::{net::IpAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use super::{Email, LoginThrottle, Member, Password, PasswordHasher};
use crate::{
    Error, StoreError,
    audit::{Audit, AuditAction, AuditTarget, Principal},
    clock::Clock,
    connect::{OneTimeToken, hash_token},
    ids::UserId,
    mail::{Envelope, Mail, Mailer},
    ports::{AccountRepository, SessionRepository},
    teams::{TeamError, TeamStore},
};

/// How long a reset link works.
pub const RESET_LIFETIME: Duration = Duration::from_secs(3600);

/// What password resets need from storage.
#[async_trait]
pub trait PasswordResetStore: Send + Sync {
    async fn insert_reset(
        &self,
        token_hash: &str,
        user: UserId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The user of an unused, unexpired link.
    async fn live_reset(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError>;

    /// Uses an unused, unexpired link (a compare-and-set: one caller wins) and every other link
    /// of the same user; answers the user.
    async fn use_reset(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError>;

    /// Deletes links that expired before `before`.
    async fn purge_resets(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// What the password services need.
#[derive(Clone)]
pub struct PasswordsDeps {
    pub accounts: Arc<dyn AccountRepository>,
    pub resets: Arc<dyn PasswordResetStore>,
    pub sessions: Arc<dyn SessionRepository>,
    pub teams: Arc<dyn TeamStore>,
    pub hasher: PasswordHasher,
    /// Counts wrong current passwords on the change form, like log-ins.
    pub login_throttle: Arc<LoginThrottle>,
    /// Counts reset requests per address and per client.
    pub reset_throttle: Arc<LoginThrottle>,
    pub mailer: Arc<dyn Mailer>,
    pub audit: Audit,
    pub clock: Arc<dyn Clock>,
    /// The page reset links open (`{PUBLIC_URL}/password/reset`); the token goes in the query.
    pub reset_page: Url,
}

/// Password change and reset.
#[derive(Clone)]
pub struct Passwords {
    deps: PasswordsDeps,
}

impl Passwords {
    #[must_use]
    pub const fn new(deps: PasswordsDeps) -> Self {
        Self { deps }
    }

    /// Whether reset e-mails can be sent at all.
    #[must_use]
    pub fn reset_available(&self) -> bool {
        self.deps.mailer.available()
    }

    /// Changes the member's password after checking the current one, and ends every session of
    /// the user (the caller renews the current one).
    ///
    /// # Errors
    /// [`Error::Throttled`] after too many wrong current passwords; [`Error::InvalidCredentials`]
    /// for a wrong one; [`Error::Invalid`] when the new one breaks the rules.
    pub async fn change(
        &self,
        member: &Member,
        by: &Principal,
        current: String,
        new: String,
    ) -> Result<(), Error> {
        let client = by.client.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let account_key = member.email.as_str();
        if let Some(retry_after) = self.deps.login_throttle.check(account_key, client) {
            return Err(Error::Throttled { retry_after });
        }
        let new = Password::for_new_account(new)?;
        let current = Password::for_login(current).map_err(|_| Error::InvalidCredentials)?;
        let stored = self
            .deps
            .accounts
            .credentials(&member.email)
            .await?
            .map(|c| c.password_hash);
        if !self.deps.hasher.verify(&current, stored).await? {
            self.deps.login_throttle.record_failure(account_key, client);
            tracing::warn!(event = "password_change_refused", user_id = %member.user_id, "wrong current password");
            return Err(Error::InvalidCredentials);
        }
        self.set(member.user_id, &new).await?;
        self.deps
            .audit
            .record(
                Some(member.workspace_id),
                by,
                AuditAction::PasswordChanged,
                Some(AuditTarget::new(
                    "user",
                    member.user_id,
                    member.email.as_str(),
                )),
                None,
            )
            .await;
        tracing::info!(event = "password_changed", user_id = %member.user_id, "password changed");
        Ok(())
    }

    /// Ends every session of the member (the caller renews the current one).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn end_other_sessions(&self, member: &Member, by: &Principal) -> Result<(), Error> {
        let ended = self.deps.sessions.delete_for_user(member.user_id).await?;
        self.deps
            .audit
            .record(
                Some(member.workspace_id),
                by,
                AuditAction::SessionsEnded,
                Some(AuditTarget::new(
                    "user",
                    member.user_id,
                    member.email.as_str(),
                )),
                None,
            )
            .await;
        tracing::info!(event = "sessions_ended", user_id = %member.user_id, ended, "other sessions ended");
        Ok(())
    }

    async fn set(&self, user: UserId, password: &Password) -> Result<(), Error> {
        let hash = self.deps.hasher.hash(password).await?;
        self.deps.accounts.set_password_hash(user, &hash).await?;
        self.deps.sessions.delete_for_user(user).await?;
        Ok(())
    }

    /// Asks for a reset link for `raw_email`. Answers at once and the same way whether or not
    /// the address has an account; the lookup and the e-mail happen in the background.
    ///
    /// # Errors
    /// [`TeamError::MailUnavailable`] when this server cannot send mail; [`Error::Throttled`]
    /// after too many requests for the address or from the client.
    pub fn request_reset(&self, raw_email: &str, client: IpAddr) -> Result<(), Error> {
        if !self.deps.mailer.available() {
            return Err(TeamError::MailUnavailable.into());
        }
        let account_key = raw_email.trim().to_lowercase();
        if let Some(retry_after) = self.deps.reset_throttle.check(&account_key, client) {
            tracing::warn!(event = "password_reset_throttled", %client, "reset request refused by throttle");
            return Err(Error::Throttled { retry_after });
        }
        // Every request counts, answered or not: the throttle bounds mail sent to one inbox.
        self.deps
            .reset_throttle
            .record_failure(&account_key, client);
        let Ok(email) = Email::parse(raw_email) else {
            return Ok(());
        };
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.send_reset(&email).await {
                tracing::warn!(error = %e, "password reset e-mail not sent");
            }
        });
        Ok(())
    }

    async fn send_reset(&self, email: &Email) -> Result<(), Error> {
        let Some(credentials) = self.deps.accounts.credentials(email).await? else {
            tracing::info!(
                event = "password_reset_unknown",
                "reset requested for an address without an account"
            );
            return Ok(());
        };
        let token = OneTimeToken::mint();
        let now = self.deps.clock.now();
        let expires_at =
            now + chrono::Duration::from_std(RESET_LIFETIME).unwrap_or(chrono::Duration::hours(1));
        self.deps
            .resets
            .insert_reset(&token.hash(), credentials.user_id, now, expires_at)
            .await?;
        let mut link = self.deps.reset_page.clone();
        link.query_pairs_mut()
            .clear()
            .append_pair("token", token.expose());
        self.deps
            .mailer
            .send(&Envelope {
                to: email.clone(),
                workspace: None,
                mail: Mail::PasswordReset {
                    link: SecretString::from(link.to_string()),
                    expires_at,
                },
            })
            .await
            .map_err(|e| Error::Unexpected(anyhow::Error::new(e)))?;
        tracing::info!(event = "password_reset_sent", user_id = %credentials.user_id, "reset link sent");
        Ok(())
    }

    /// Whether a reset link still works (for the page that asks for the new password).
    ///
    /// # Errors
    /// [`TeamError::ResetLinkInvalid`] when it is unknown, used or expired.
    pub async fn check_reset_link(&self, token: &str) -> Result<(), Error> {
        if token.is_empty() || token.len() > 128 {
            return Err(TeamError::ResetLinkInvalid.into());
        }
        self.deps
            .resets
            .live_reset(&hash_token(token), self.deps.clock.now())
            .await?
            .map(|_| ())
            .ok_or_else(|| TeamError::ResetLinkInvalid.into())
    }

    /// Sets a new password through a reset link, which is used up (with every other link of the
    /// user); every session of the user ends. Recorded in each of the user's workspaces' trails.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the new password breaks the rules (the link stays usable);
    /// [`TeamError::ResetLinkInvalid`].
    pub async fn reset(&self, token: &str, new: String, client: IpAddr) -> Result<(), Error> {
        let password = Password::for_new_account(new)?;
        if token.is_empty() || token.len() > 128 {
            return Err(TeamError::ResetLinkInvalid.into());
        }
        let user = self
            .deps
            .resets
            .use_reset(&hash_token(token), self.deps.clock.now())
            .await?
            .ok_or(TeamError::ResetLinkInvalid)?;
        self.set(user, &password).await?;
        let email = self
            .deps
            .accounts
            .user_email(user)
            .await?
            .map(|e| e.to_string())
            .unwrap_or_default();
        let principal = Principal {
            actor: crate::audit::AuditActor::User {
                id: user,
                email: email.clone(),
            },
            client: Some(client),
        };
        for membership in self.deps.teams.memberships(user).await? {
            self.deps
                .audit
                .record(
                    Some(membership.workspace),
                    &principal,
                    AuditAction::PasswordReset,
                    Some(AuditTarget::new("user", user, email.as_str())),
                    None,
                )
                .await;
        }
        tracing::info!(event = "password_reset", user_id = %user, "password reset through a link");
        Ok(())
    }

    /// Deletes reset links that expired more than a day ago.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_resets(&self) -> Result<u64, Error> {
        Ok(self
            .deps
            .resets
            .purge_resets(self.deps.clock.now() - chrono::Duration::days(1))
            .await?)
    }
}
