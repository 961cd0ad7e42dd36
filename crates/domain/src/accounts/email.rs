use std::fmt;

use crate::ValidationError;

/// A syntactically plausible email address, trimmed and lower-cased so that one mailbox maps to
/// one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address SMTP can carry (RFC 5321).
    const MAX_LEN: usize = 254;

    /// # Errors
    /// When the value is empty, too long, has no single `@` with text on both sides, has a dot-less
    /// domain, or contains whitespace or control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim().to_lowercase();
        let invalid = |code: &'static str| ValidationError::new("email", code);
        if value.is_empty() {
            return Err(invalid("email-missing"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(invalid("email-too-long"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("email-has-spaces"));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(invalid("email-missing-at"));
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.');
        if local.is_empty() || !domain_ok {
            return Err(invalid("email-malformed"));
        }
        Ok(Self(value))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_surrounding_space() {
        let email = Email::parse("  Ann@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ann@example.com");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for (raw, why) in [
            ("", "empty"),
            ("ann", "no @"),
            ("@example.com", "no local part"),
            ("ann@", "no domain"),
            ("ann@localhost", "dot-less domain"),
            ("ann@@example.com", "two @"),
            ("an n@example.com", "space"),
            ("ann@example.com.", "trailing dot"),
            ("ann\u{0}@example.com", "control character"),
        ] {
            assert!(Email::parse(raw).is_err(), "{why}: {raw:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err(), "too long accepted");
    }
}
