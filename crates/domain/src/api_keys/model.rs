//! API keys as stored and as shown.

use chrono::{DateTime, Utc};

use super::{ApiKeySecret, ApiScope, ApiScopes};
use crate::{
    ValidationError,
    ids::{ApiKeyId, WorkspaceId},
};

/// The longest key name. Names are recorded as event actors (`API key {name}`), whose column
/// holds 64 characters.
pub const MAX_NAME_CHARS: usize = 48;

/// A person's label for a key ("billing worker"): 1–48 characters, no control characters. It is
/// recorded as the actor of what the key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// # Errors
    /// When the trimmed name is empty, too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::new("name", "api-key-name-missing"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::new("name", "api-key-name-too-long"));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "api-key-name-control-characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated request to create a key.
#[derive(Debug, Clone)]
pub struct ApiKeyInput {
    pub name: ApiKeyName,
    pub scopes: ApiScopes,
}

impl ApiKeyInput {
    /// Parses the form and reports every problem at once.
    ///
    /// # Errors
    /// The fields that did not validate.
    pub fn parse(name: &str, scopes: &[&str]) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let name = ApiKeyName::parse(name).map_err(|e| errors.push(e)).ok();
        let mut set = ApiScopes::default();
        for raw in scopes {
            match raw.parse::<ApiScope>() {
                Ok(scope) => set = set.with(scope),
                Err(e) => errors.push(e),
            }
        }
        if set.is_empty() && errors.is_empty() {
            errors.push(ValidationError::new("scopes", "api-key-scopes-missing"));
        }
        match name {
            Some(name) if errors.is_empty() => Ok(Self { name, scopes: set }),
            _ => Err(errors),
        }
    }
}

/// A key as listed: never the secret, only its first characters.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub workspace: WorkspaceId,
    pub name: String,
    pub scopes: ApiScopes,
    /// `alk_` and the next few characters, for recognising a key.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key: ApiKey,
    /// `HMAC-SHA256(subkey, secret)`, hex.
    pub key_hash: String,
    /// The master key id the hash's subkey derives from.
    pub hash_key_id: String,
}

/// A key found by its hash, for authentication.
#[derive(Debug, Clone)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub key_hash: String,
}

/// A freshly created key: the secret exists only in this value and is shown exactly once.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

/// Who is calling the API: the workspace is taken from the key, never from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key: ApiKeyId,
    pub workspace: WorkspaceId,
    /// The key's name, recorded as the actor of what it does.
    pub name: String,
    pub scopes: ApiScopes,
}

impl Caller {
    /// Whether the key carries `scope`.
    #[must_use]
    pub fn may(&self, scope: ApiScope) -> bool {
        self.scopes.contains(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_input_reports_every_problem() {
        let ok = ApiKeyInput::parse("  billing worker ", &["read", "proxy"]).expect("valid");
        assert_eq!(ok.name.as_str(), "billing worker");
        assert_eq!(ok.scopes.to_list(), "read,proxy");
        let errors = ApiKeyInput::parse("", &["admin"]).expect_err("invalid");
        assert_eq!(errors.len(), 2);
        let errors = ApiKeyInput::parse("k", &[]).expect_err("no scope");
        assert_eq!(errors[0].field, "scopes");
        assert!(ApiKeyInput::parse(&"x".repeat(MAX_NAME_CHARS + 1), &["read"]).is_err());
        assert!(ApiKeyInput::parse("tab\there", &["read"]).is_err());
    }
}
