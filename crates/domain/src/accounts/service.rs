use std::{fmt, net::IpAddr, str::FromStr, sync::Arc};

use super::{Email, LoginThrottle, Password, PasswordHasher, WorkspaceName};
use url::Url;

use crate::{
    Error, StoreError, ValidationError,
    clock::Clock,
    connect::{Button, ButtonKey, ButtonSettings},
    ids::{ButtonId, UserId, WorkspaceId},
    ports::AccountRepository,
};

/// What a user may do inside their workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Created the workspace; may do everything.
    Owner,
    Admin,
    Member,
}

impl Role {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(ValidationError::new("role", "unknown role")),
        }
    }
}

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

/// Sign-up and log-in.
#[derive(Clone)]
pub struct Accounts {
    repo: Arc<dyn AccountRepository>,
    hasher: PasswordHasher,
    throttle: Arc<LoginThrottle>,
    clock: Arc<dyn Clock>,
    /// The logo of the connect button every new workspace starts with.
    default_logo: Url,
}

impl Accounts {
    #[must_use]
    pub fn new(
        repo: Arc<dyn AccountRepository>,
        hasher: PasswordHasher,
        throttle: Arc<LoginThrottle>,
        clock: Arc<dyn Clock>,
        default_logo: Url,
    ) -> Self {
        Self {
            repo,
            hasher,
            throttle,
            clock,
            default_logo,
        }
    }

    /// Creates a workspace whose first user is its owner, with a default connect button.
    ///
    /// # Errors
    /// [`Error::SignupRefused`] when the email is taken; storage failures.
    #[tracing::instrument(skip_all, fields(workspace_id))]
    pub async fn sign_up(&self, form: SignUpForm) -> Result<Member, Error> {
        let password_hash = self.hasher.hash(&form.password).await?;
        let workspace_id = WorkspaceId::random();
        let default_button = Button {
            id: ButtonId::random(),
            workspace: workspace_id,
            key: ButtonKey::mint(),
            settings: ButtonSettings::default_for(
                form.workspace.as_str(),
                self.default_logo.clone(),
            ),
        };
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
        Ok(Member {
            user_id: account.user_id,
            workspace_id: account.workspace_id,
            email: account.email,
            role: Role::Owner,
            workspace_name: account.workspace_name.as_str().to_owned(),
        })
    }

    /// Checks an email and password.
    ///
    /// Unknown emails, malformed emails and wrong passwords all cost one Argon2 verification and
    /// all answer [`Error::InvalidCredentials`].
    ///
    /// # Errors
    /// [`Error::Throttled`] after too many failures; [`Error::InvalidCredentials`]; storage failures.
    #[tracing::instrument(skip_all)]
    pub async fn log_in(
        &self,
        raw_email: &str,
        password: &Password,
        client: IpAddr,
    ) -> Result<Member, Error> {
        let account_key = raw_email.trim().to_lowercase();
        if let Some(retry_after) = self.throttle.check(&account_key, client) {
            tracing::warn!(event = "login_throttled", %client, "login refused by throttle");
            return Err(Error::Throttled { retry_after });
        }
        let credentials = match Email::parse(raw_email) {
            Ok(email) => self.repo.credentials(&email).await?,
            Err(_) => None,
        };
        let stored = credentials.as_ref().map(|c| c.password_hash.clone());
        let verified = self.hasher.verify(password, stored).await?;
        let member = match (verified, credentials) {
            (true, Some(credentials)) => self.repo.member(credentials.user_id).await?,
            _ => None,
        };
        let Some(member) = member else {
            self.throttle.record_failure(&account_key, client);
            tracing::warn!(event = "login_failed", %client, "login failed");
            return Err(Error::InvalidCredentials);
        };
        self.throttle.record_success(&account_key);
        self.upgrade_hash_if_weak(&member, password).await;
        tracing::info!(event = "login", user_id = %member.user_id, workspace_id = %member.workspace_id, "login succeeded");
        Ok(member)
    }

    /// The member behind a session, if the user still exists.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn member(&self, user: UserId) -> Result<Option<Member>, Error> {
        Ok(self.repo.member(user).await?)
    }

    /// Re-hashes a password stored under weaker parameters than today's policy. Failure here must
    /// not fail the login, so it is only logged.
    async fn upgrade_hash_if_weak(&self, member: &Member, password: &Password) {
        let Ok(Some(credentials)) = self.repo.credentials(&member.email).await else {
            return;
        };
        if !self.hasher.needs_rehash(&credentials.password_hash) {
            return;
        }
        let outcome = match self.hasher.hash(password).await {
            Ok(hash) => self
                .repo
                .set_password_hash(member.user_id, &hash)
                .await
                .map_err(Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not upgrade a password hash");
        }
    }
}
