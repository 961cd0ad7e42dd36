//! The configured set of account-host suffixes (`AMOLINK_ACCOUNT_DOMAINS`).

use std::str::FromStr;

use crate::platform::BaseDomain;

/// Which account-host suffixes a `referer` may end with.
///
/// Parsed from a comma-separated list such as `amocrm.ru,kommo.com,amocrm.com` (the default). Only
/// those three suffixes exist, so only they (or a subset) are accepted: an unknown suffix is a
/// configuration error, never a new place to send secrets to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainAllowList {
    suffixes: Vec<BaseDomain>,
}

impl DomainAllowList {
    /// Finds the allowed suffix `domain` names exactly (for example `"kommo.com"`).
    pub(crate) fn find(&self, domain: &str) -> Option<BaseDomain> {
        self.suffixes
            .iter()
            .copied()
            .find(|suffix| suffix.as_str() == domain)
    }
}

impl Default for DomainAllowList {
    fn default() -> Self {
        Self {
            suffixes: BaseDomain::ALL.to_vec(),
        }
    }
}

/// Why a domain list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainListError {
    /// The list names no suffix at all.
    #[error("the account domain list is empty")]
    Empty,
    /// A suffix other than `amocrm.ru`, `kommo.com` or `amocrm.com`.
    #[error("unsupported account domain {0:?} (allowed: amocrm.ru, kommo.com, amocrm.com)")]
    Unsupported(String),
}

impl FromStr for DomainAllowList {
    type Err = DomainListError;

    /// Parses a comma-separated list; blanks around entries are ignored, duplicates collapse.
    ///
    /// # Errors
    /// [`DomainListError::Empty`] when no suffix is named, [`DomainListError::Unsupported`] for any
    /// entry that is not exactly one of the three known suffixes (case included).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut suffixes = Vec::new();
        for entry in s
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let suffix = BaseDomain::ALL
                .into_iter()
                .find(|known| known.as_str() == entry)
                .ok_or_else(|| DomainListError::Unsupported(entry.to_owned()))?;
            if !suffixes.contains(&suffix) {
                suffixes.push(suffix);
            }
        }
        if suffixes.is_empty() {
            return Err(DomainListError::Empty);
        }
        Ok(Self { suffixes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_three_known_suffixes() {
        let parsed: DomainAllowList = "amocrm.ru,kommo.com,amocrm.com".parse().expect("valid");
        assert_eq!(parsed, DomainAllowList::default());
    }

    #[test]
    fn subsets_whitespace_and_duplicates() {
        let list: DomainAllowList = " kommo.com , kommo.com,".parse().expect("valid");
        assert_eq!(list.find("kommo.com"), Some(BaseDomain::KommoCom));
        assert_eq!(list.find("amocrm.ru"), None);
        assert_eq!(list.suffixes.len(), 1);
    }

    #[test]
    fn rejects_unknown_and_empty() {
        assert_eq!("".parse::<DomainAllowList>(), Err(DomainListError::Empty));
        assert_eq!(
            " , ".parse::<DomainAllowList>(),
            Err(DomainListError::Empty)
        );
        for bad in [
            "evil.com",
            "AMOCRM.RU",
            ".amocrm.ru",
            "amocrm.ru.",
            "ru",
            "amocrm.ru kommo.com",
        ] {
            let input = format!("amocrm.ru,{bad}");
            assert!(
                matches!(
                    input.parse::<DomainAllowList>(),
                    Err(DomainListError::Unsupported(_))
                ),
                "{bad:?}"
            );
        }
    }
}
