use std::{net::IpAddr, sync::Arc};

use super::{
    Email, KnownDevice, Password, PasswordHasher, Preferences, SignInThrottle, WorkspaceName,
};
use url::Url;

use crate::{
    Error, StoreError, ValidationError,
    audit::{Audit, AuditAction, AuditTarget, Principal},
    clock::Clock,
    connect::{Button, ButtonKey, ButtonSettings},
    ids::{ButtonId, UserId, WorkspaceId},
    ports::{AccountRepository, Credentials},
    teams::{NewWorkspace, Role},
};

/// A signed-in person as the rest of the system sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: Email,
    pub role: Role,
    pub workspace_name: String,
}

/// A validated sign-up request.
#[derive(Debug)]
pub struct SignUpForm {
    pub email: Email,
    pub password: Password,
    pub workspace: WorkspaceName,
}

impl SignUpForm {
    /// Parses every field and reports all problems at once, so the form can show them together.
    ///
    /// # Errors
    /// The list of fields that did not validate.
    pub fn parse(
        email: &str,
        password: String,
        workspace: &str,
    ) -> Result<Self, Vec<ValidationError>> {
        let email = Email::parse(email);
        let password = Password::for_new_account(password);
        let workspace = WorkspaceName::parse(workspace);
        match (email, password, workspace) {
            (Ok(email), Ok(password), Ok(workspace)) => Ok(Self {
                email,
                password,
                workspace,
            }),
            (email, password, workspace) => Err([email.err(), password.err(), workspace.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// A workspace, its owner and its first connect button, ready to store together.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub workspace_id: WorkspaceId,
    pub workspace_name: WorkspaceName,
    pub user_id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub default_button: Button,
}

/// Who signed in, and the workspace their session starts in (`None` when they belong to none,
/// e.g. after deleting their only workspace: they may create a new one).
#[derive(Debug, Clone)]
pub struct SignIn {
    pub user: UserId,
    pub email: Email,
    pub member: Option<Member>,
}

/// Sign-up, log-in and workspaces of one's own.
#[derive(Clone)]
pub struct Accounts {
    repo: Arc<dyn AccountRepository>,
    hasher: PasswordHasher,
    throttle: SignInThrottle,
    clock: Arc<dyn Clock>,
    /// The logo of the connect button every new workspace starts with.
    default_logo: Url,
    audit: Audit,
}

impl Accounts {
    #[must_use]
    pub fn new(
        repo: Arc<dyn AccountRepository>,
        hasher: PasswordHasher,
        throttle: SignInThrottle,
        clock: Arc<dyn Clock>,
        default_logo: Url,
        audit: Audit,
    ) -> Self {
        Self {
            repo,
            hasher,
            throttle,
            clock,
            default_logo,
            audit,
        }
    }

    fn default_button(&self, workspace: WorkspaceId, name: &WorkspaceName) -> Button {
        Button {
            id: ButtonId::random(),
            workspace,
            key: ButtonKey::mint(),
            settings: ButtonSettings::default_for(name.as_str(), self.default_logo.clone()),
        }
    }

    async fn record_created(&self, member: &Member, client: IpAddr) {
        self.audit
            .record(
                Some(member.workspace_id),
                &Principal::member(member, client),
                AuditAction::WorkspaceCreated,
                Some(AuditTarget::new(
                    "workspace",
                    member.workspace_id,
                    member.workspace_name.as_str(),
                )),
                None,
            )
            .await;
    }

    /// Creates a workspace whose first user is its owner, with a default connect button.
    ///
    /// # Errors
    /// [`Error::SignupRefused`] when the email is taken; storage failures.
    #[tracing::instrument(skip_all, fields(workspace_id))]
    pub async fn sign_up(&self, form: SignUpForm, client: IpAddr) -> Result<Member, Error> {
        let password_hash = self.hasher.hash(&form.password).await?;
        let workspace_id = WorkspaceId::random();
        let default_button = self.default_button(workspace_id, &form.workspace);
        let account = NewAccount {
            workspace_id,
            workspace_name: form.workspace,
            user_id: UserId::random(),
            email: form.email,
            password_hash,
            default_button,
        };
        tracing::Span::current().record(
            "workspace_id",
            tracing::field::display(account.workspace_id),
        );
        match self.repo.create_account(&account, self.clock.now()).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(_)) => return Err(Error::SignupRefused),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(event = "signup", "workspace created");
        let member = Member {
            user_id: account.user_id,
            workspace_id: account.workspace_id,
            email: account.email,
            role: Role::Owner,
            workspace_name: account.workspace_name.as_str().to_owned(),
        };
        self.record_created(&member, client).await;
        Ok(member)
    }

    /// Creates another workspace owned by a signed-in user.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn create_workspace(
        &self,
        user: UserId,
        email: &Email,
        name: WorkspaceName,
        client: IpAddr,
    ) -> Result<Member, Error> {
        let id = WorkspaceId::random();
        let workspace = NewWorkspace {
            id,
            default_button: self.default_button(id, &name),
            name,
            owner: user,
        };
        self.repo
            .create_workspace(&workspace, self.clock.now())
            .await?;
        let member = Member {
            user_id: user,
            workspace_id: id,
            email: email.clone(),
            role: Role::Owner,
            workspace_name: workspace.name.as_str().to_owned(),
        };
        self.record_created(&member, client).await;
        Ok(member)
    }

    /// Checks an email and password; see [`Accounts::log_in_from`].
    ///
    /// # Errors
    /// As [`Accounts::log_in_from`].
    pub async fn log_in(
        &self,
        raw_email: &str,
        password: &Password,
        client: IpAddr,
    ) -> Result<SignIn, Error> {
        self.log_in_from(raw_email, password, client, None).await
    }

    /// Checks an email and password from a browser that may have signed in before.
    ///
    /// The attempt is reserved in the shared throttle ledger before any hashing: on the account
    /// and the client address, or, when `device` is a known device of this account's user, on
    /// that device alone (so an attack on the account does not lock its owner out).
    /// Unknown emails, malformed emails and wrong passwords all cost one Argon2 verification and
    /// all answer [`Error::InvalidCredentials`].
    ///
    /// The session starts in the workspace the user joined first; the sign-in is recorded in
    /// that workspace's audit trail.
    ///
    /// # Errors
    /// [`Error::Throttled`] while a key backs off; [`Error::InvalidCredentials`]; storage failures.
    #[tracing::instrument(skip_all)]
    pub async fn log_in_from(
        &self,
        raw_email: &str,
        password: &Password,
        client: IpAddr,
        device: Option<&KnownDevice>,
    ) -> Result<SignIn, Error> {
        let credentials = match Email::parse(raw_email) {
            Ok(email) => self.repo.credentials(&email).await?,
            Err(_) => None,
        };
        let device = device.filter(|d| credentials.as_ref().is_some_and(|c| c.user_id == d.user));
        let reserved = match self.throttle.reserve(raw_email, client, device).await {
            Ok(reserved) => reserved,
            Err(e @ Error::Throttled { .. }) => {
                tracing::warn!(event = "login_throttled", %client, "login refused by throttle");
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let stored = credentials.as_ref().map(|c| c.password_hash.clone());
        let verified = self.hasher.verify(password, stored).await?;
        let (true, Some(credentials)) = (verified, credentials) else {
            tracing::warn!(event = "login_failed", %client, known_device = device.is_some(), "login failed");
            return Err(Error::InvalidCredentials);
        };
        self.throttle.succeeded(reserved).await?;
        self.upgrade_hash_if_weak(&credentials, password).await;
        let user = credentials.user_id;
        let email = self
            .repo
            .user_email(user)
            .await?
            .ok_or(Error::InvalidCredentials)?;
        let member = self.repo.first_member(user).await?;
        if let Some(member) = &member {
            self.audit
                .record(
                    Some(member.workspace_id),
                    &Principal::member(member, client),
                    AuditAction::SignedIn,
                    None,
                    None,
                )
                .await;
        }
        tracing::info!(event = "login", user_id = %user, workspace_id = ?member.as_ref().map(|m| m.workspace_id.to_string()), "login succeeded");
        Ok(SignIn {
            user,
            email,
            member,
        })
    }

    /// Argon2 computations made by this process (for metrics and the login-flood tests).
    #[must_use]
    pub fn password_computations(&self) -> u64 {
        self.hasher.computations()
    }

    /// Forgets quiet sign-in throttle entries (housekeeping).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn prune_throttle(&self) -> Result<u64, Error> {
        self.throttle.prune().await
    }

    /// Whether an account with this address exists.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn has_account(&self, email: &Email) -> Result<bool, Error> {
        Ok(self.repo.credentials(email).await?.is_some())
    }

    /// The member behind a session in `workspace`, if the user still belongs to it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn member(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<Option<Member>, Error> {
        Ok(self.repo.member(user, workspace).await?)
    }

    /// The membership a session falls back to when it names no (or no longer a) workspace.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn first_member(&self, user: UserId) -> Result<Option<Member>, Error> {
        Ok(self.repo.first_member(user).await?)
    }

    /// The address of a user, if the user exists.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn user_email(&self, user: UserId) -> Result<Option<Email>, Error> {
        Ok(self.repo.user_email(user).await?)
    }

    /// The user's interface preferences.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn preferences(&self, user: UserId) -> Result<Preferences, Error> {
        Ok(self.repo.preferences(user).await?)
    }

    /// Saves the user's interface preferences.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn set_preferences(
        &self,
        user: UserId,
        preferences: &Preferences,
    ) -> Result<(), Error> {
        Ok(self.repo.set_preferences(user, preferences).await?)
    }

    /// Re-hashes a password stored under weaker parameters than today's policy. Failure here must
    /// not fail the login, so it is only logged.
    async fn upgrade_hash_if_weak(&self, credentials: &Credentials, password: &Password) {
        if !self.hasher.needs_rehash(&credentials.password_hash) {
            return;
        }
        let outcome = match self.hasher.hash(password).await {
            Ok(hash) => self
                .repo
                .set_password_hash(credentials.user_id, &hash)
                .await
                .map_err(Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not upgrade a password hash");
        }
    }
}
