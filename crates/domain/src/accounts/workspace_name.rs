use crate::ValidationError;

/// A workspace's display name: trimmed, 1 to 80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    const MAX_CHARS: usize = 80;

    /// # Errors
    /// When the name is blank, too long, or contains control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim();
        let invalid = |code: &'static str| ValidationError::new("workspace", code);
        if value.is_empty() {
            return Err(invalid("workspace-name-missing"));
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(invalid("workspace-name-too-long"));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid("workspace-name-control-characters"));
        }
        Ok(Self(value.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unicode_names_and_trims() {
        let name = WorkspaceName::parse("  Рога и копыта ").expect("valid");
        assert_eq!(name.as_str(), "Рога и копыта");
    }

    #[test]
    fn rejects_blank_long_and_control() {
        assert!(WorkspaceName::parse("   ").is_err());
        assert!(WorkspaceName::parse(&"x".repeat(81)).is_err());
        assert!(WorkspaceName::parse("a\nb").is_err());
    }
}
