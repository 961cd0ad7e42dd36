//! A user's interface preferences: the language of their pages and e-mails, and the time zone
//! dates are shown in. The domain checks their shape; the interface knows the catalogue and the
//! zone database.

use crate::ValidationError;

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Russian,
}

impl Language {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Russian => "ru",
        }
    }

    /// `en` or `ru`.
    ///
    /// # Errors
    /// Any other value.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "en" => Ok(Self::English),
            "ru" => Ok(Self::Russian),
            _ => Err(ValidationError::new("language", "unknown-language")),
        }
    }
}

/// An IANA time zone name (`Europe/Moscow`, `UTC`), checked for shape only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    /// # Errors
    /// Empty, longer than 64 characters, or with characters no zone name has.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new("time_zone", "unknown-time-zone"))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user chose; `None` leaves the choice to their browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub language: Option<Language>,
    pub time_zone: Option<TimeZoneName>,
}

impl Preferences {
    /// From stored columns; a value that no longer parses counts as not chosen.
    #[must_use]
    pub fn from_stored(language: Option<&str>, time_zone: Option<&str>) -> Self {
        Self {
            language: language.and_then(|l| Language::parse(l).ok()),
            time_zone: time_zone.and_then(|z| TimeZoneName::parse(z).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_shapes_are_accepted() {
        assert_eq!(Language::parse("ru"), Ok(Language::Russian));
        assert!(Language::parse("de").is_err());
        assert!(TimeZoneName::parse("Europe/Moscow").is_ok());
        assert!(TimeZoneName::parse("Etc/GMT+3").is_ok());
        assert!(TimeZoneName::parse("<script>").is_err());
        assert!(TimeZoneName::parse("").is_err());
    }
}
