//! Account identity responses: `GET /api/v4/account` and the subdomain lookup (docs/amocrm-protocol.md §4.3, §5.2).

use serde::Deserialize;

use crate::domains::DomainAllowList;
use crate::host::{AccountHost, RefererError};

/// The fields of `GET /api/v4/account` amolink uses; all other fields are ignored.
///
/// Used right after a code exchange to confirm which account the token belongs to (docs/security-requirements.md R19).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountInfo {
    /// The account id: the stable identity of a connection.
    pub id: i64,
    /// The account's display name (untrusted text: escape it when rendering).
    pub name: String,
    /// The current subdomain (it can change; see [`AccountDomain`]).
    pub subdomain: String,
    /// The user the token acts for.
    #[serde(default)]
    pub current_user_id: Option<i64>,
}

/// Answer of `GET https://{api_domain}/oauth2/account/current/subdomain`: where an account lives now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountDomain {
    /// The account id.
    pub id: i64,
    /// The current subdomain, e.g. `acme`.
    pub subdomain: String,
    /// The current full host, e.g. `acme.amocrm.ru`.
    pub domain: String,
    /// The top-level domain, e.g. `ru`.
    pub top_level_domain: String,
}

impl AccountDomain {
    /// Validates [`Self::domain`] like any other account host before it is used for a retry.
    ///
    /// # Errors
    /// The [`RefererError`] if the returned domain is not an allow-listed account host.
    pub fn host(&self, allow: &DomainAllowList) -> Result<AccountHost, RefererError> {
        AccountHost::parse(&self.domain, allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moved_domain_is_validated() {
        let moved = |domain: &str| AccountDomain {
            id: 1,
            subdomain: "new".into(),
            domain: domain.into(),
            top_level_domain: "ru".into(),
        };
        let allow = DomainAllowList::default();
        assert_eq!(
            moved("new.amocrm.ru")
                .host(&allow)
                .map(|h| h.subdomain().to_owned()),
            Ok("new".into())
        );
        assert!(moved("new.amocrm.ru.evil.com").host(&allow).is_err());
        assert!(moved("https://new.amocrm.ru").host(&allow).is_err());
    }
}
