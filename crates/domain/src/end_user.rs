//! The tenant's own customer behind a connection ("end user"), as the tenant names them.
//!
//! A tenant mints a connect session for one of its users; the resulting connection carries that
//! user's id and the tenant's metadata, so the tenant can map connections back to its own records
//! without keeping a table of amolink ids.

use std::fmt;

use serde_json::{Map, Value};

use crate::ValidationError;

/// The longest end-user id, in characters (the column is `VARCHAR(255)`).
pub const MAX_END_USER_ID_CHARS: usize = 255;
/// The largest metadata object, serialized as compact JSON.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;

/// The tenant's identifier for one of its users: 1–255 characters, no control characters
/// (PostgreSQL refuses NUL in text, and control characters have no business in an id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUserId(String);

impl EndUserId {
    /// # Errors
    /// When the id is empty, longer than 255 characters or holds a control character.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |code: &'static str| ValidationError::new("end_user_id", code);
        if raw.is_empty() {
            return Err(invalid("end-user-id-missing"));
        }
        if raw.chars().count() > MAX_END_USER_ID_CHARS {
            return Err(invalid("end-user-id-too-long"));
        }
        if raw.chars().any(is_forbidden) {
            return Err(invalid("end-user-id-control-characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EndUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The characters the public schema forbids (`[\u0000-\u001F\u007F]`), kept identical to it.
const fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}')
}

/// Free-form JSON the tenant attaches to an end user: an object of at most 4 KiB.
///
/// amolink never interprets it; it is stored as text and handed back verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// # Errors
    /// When the value is not a JSON object or serializes to more than 4 KiB.
    pub fn parse(value: Value) -> Result<Self, ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError::new("metadata", "metadata-not-object"));
        };
        let metadata = Self(map);
        if metadata.to_json().len() > MAX_METADATA_BYTES {
            return Err(ValidationError::new("metadata", "metadata-too-large"));
        }
        Ok(metadata)
    }

    /// Reads what [`Metadata::to_json`] stored.
    ///
    /// # Errors
    /// When the text is not a JSON object.
    pub fn from_json(raw: &str) -> Result<Self, ValidationError> {
        match serde_json::from_str(raw) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(ValidationError::new("metadata", "metadata-stored-invalid")),
        }
    }

    /// Compact JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serializing a map of JSON values cannot fail.
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    #[must_use]
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// An end user with the tenant's metadata, as carried by a connect flow into its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    pub id: EndUserId,
    pub metadata: Option<Metadata>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn end_user_ids_are_bounded_and_printable() {
        assert!(EndUserId::parse("user-42").is_ok());
        assert!(
            EndUserId::parse(&"я".repeat(255)).is_ok(),
            "characters, not bytes"
        );
        assert!(EndUserId::parse(&"я".repeat(256)).is_err());
        for bad in ["", "a\u{0}b", "line\nbreak", "\u{7f}"] {
            assert!(EndUserId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_is_a_small_object() {
        let ok = Metadata::parse(json!({"plan": "pro", "seats": 3})).expect("object");
        assert_eq!(Metadata::from_json(&ok.to_json()).ok(), Some(ok));
        assert!(Metadata::parse(json!([1, 2])).is_err());
        assert!(Metadata::parse(json!("text")).is_err());
        assert!(Metadata::parse(json!({"big": "x".repeat(MAX_METADATA_BYTES)})).is_err());
    }
}
