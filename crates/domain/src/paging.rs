//! Keyset paging over lists ordered newest first by a time and an id.

use crate::ValidationError;

/// A keyset position: the last entry of the previous page (its time in milliseconds and id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub at_ms: i64,
    pub id: uuid::Uuid,
}

impl TimeCursor {
    /// `{millis}.{uuid}`.
    #[must_use]
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at_ms, self.id)
    }

    /// # Errors
    /// When the text was not produced by [`TimeCursor::encode`].
    pub fn decode(raw: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("cursor", "cursor-invalid");
        let (millis, id) = raw.split_once('.').ok_or_else(invalid)?;
        Ok(Self {
            at_ms: millis.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}
