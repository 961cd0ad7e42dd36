//! Size-capped reading of response bodies (docs/security-requirements.md R18).
//!
//! reqwest has no body limit, and a hostile or broken upstream can stream gigabytes. Bodies are read
//! chunk by chunk and reading stops as soon as the cap is passed; the rest is never downloaded.

use bytes::{Bytes, BytesMut};

/// What [`read_limited`] got.
pub(crate) struct Limited {
    /// At most `max` bytes of the body.
    pub(crate) bytes: Bytes,
    /// The body was longer than `max` (declared or actual); `bytes` is then incomplete.
    pub(crate) truncated: bool,
}

/// Reads at most `max` bytes of `response`'s body.
///
/// # Errors
/// The transport error if the body could not be read (timeout, reset, …).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Limited, reqwest::Error> {
    let declared_too_large = response
        .content_length()
        .is_some_and(|length| usize::try_from(length).map_or(true, |length| length > max));
    if declared_too_large {
        return Ok(Limited {
            bytes: Bytes::new(),
            truncated: true,
        });
    }
    let mut buffer = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max - buffer.len();
        if chunk.len() > room {
            buffer.extend_from_slice(&chunk[..room]);
            return Ok(Limited {
                bytes: buffer.freeze(),
                truncated: true,
            });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Limited {
        bytes: buffer.freeze(),
        truncated: false,
    })
}
