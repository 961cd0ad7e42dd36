//! What an API key may do.

use strum::VariantArray as _;

use crate::{ValidationError, text::text_enum};

text_enum! {
    /// One permission of an API key.
    pub enum ApiScope {
        /// List and read connections (metadata only).
        Read,
        /// Revoke connections and mint connect sessions.
        Write,
        /// Obtain a connection's current access token.
        Tokens,
        /// Call amoCRM through amolink's proxy.
        Proxy,
    }
    unknown(s) => ValidationError::new("scopes", "unknown-scope").with("scope", s);
}

impl ApiScope {
    pub const ALL: &'static [Self] = Self::VARIANTS;

    /// What the scope allows, for people choosing scopes.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::Read => "list and read connections (metadata only)",
            Self::Write => "revoke connections and create connect sessions",
            Self::Tokens => "obtain a connection's current amoCRM access token",
            Self::Proxy => "call amoCRM through amolink's proxy",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Read => 1,
            Self::Write => 2,
            Self::Tokens => 4,
            Self::Proxy => 8,
        }
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiScopes(u8);

impl ApiScopes {
    #[must_use]
    pub fn contains(self, scope: ApiScope) -> bool {
        self.0 & scope.bit() != 0
    }

    #[must_use]
    pub fn with(self, scope: ApiScope) -> Self {
        Self(self.0 | scope.bit())
    }

    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in canonical order.
    pub fn iter(self) -> impl Iterator<Item = ApiScope> {
        ApiScope::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }

    /// The storage form: canonical order, comma-separated (`read,write`).
    #[must_use]
    pub fn to_list(self) -> String {
        self.iter()
            .map(ApiScope::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses [`ApiScopes::to_list`] (or any comma-separated list of scope names).
    ///
    /// # Errors
    /// When a name is not a scope.
    pub fn from_list(raw: &str) -> Result<Self, ValidationError> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_fold(Self::default(), |set, name| Ok(set.with(name.parse()?)))
    }
}

impl FromIterator<ApiScope> for ApiScopes {
    fn from_iter<I: IntoIterator<Item = ApiScope>>(iter: I) -> Self {
        iter.into_iter().fold(Self::default(), Self::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_sets_round_trip_in_canonical_order() {
        let set: ApiScopes = [ApiScope::Proxy, ApiScope::Read].into_iter().collect();
        assert_eq!(set.to_list(), "read,proxy");
        assert_eq!(ApiScopes::from_list("read,proxy").ok(), Some(set));
        assert!(set.contains(ApiScope::Read) && !set.contains(ApiScope::Write));
        assert!(ApiScopes::from_list("read,admin").is_err());
        assert!(ApiScopes::from_list("").expect("empty list").is_empty());
    }
}
