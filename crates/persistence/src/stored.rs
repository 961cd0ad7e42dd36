//! Reading rows back into domain types: a value that does not parse means the row was written
//! by something other than this code (or damaged), which is a storage failure, never bad input.

use std::str::FromStr;

use domain::{StoreError, end_user::Metadata};

/// A stored value that does not parse; `what` names the table and column for the log.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("stored {what} is invalid"))
}

/// Parses a stored text column.
pub(crate) fn parse<T: FromStr>(raw: &str, what: &str) -> Result<T, StoreError> {
    raw.parse().map_err(|_| corrupt(what))
}

/// The end user's metadata column (JSON text), if any.
pub(crate) fn metadata(raw: Option<&str>, what: &str) -> Result<Option<Metadata>, StoreError> {
    raw.map(Metadata::from_json)
        .transpose()
        .map_err(|_| corrupt(what))
}
