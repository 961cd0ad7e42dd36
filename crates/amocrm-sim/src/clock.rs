//! The virtual clock behind every expiry (codes, access and refresh tokens).
//!
//! It is real time plus an offset that only moves forward, so a test can jump 21 minutes or
//! 91 days without sleeping while rate-limit windows (which use `Instant`) stay real.

use chrono::{DateTime, Duration, Utc};

/// Real time shifted by an offset that tests advance.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    offset: Duration,
}

impl Clock {
    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// Moves the clock forward; negative amounts are ignored so expiry never un-happens.
    pub fn advance(&mut self, by: Duration) {
        if by > Duration::zero() {
            self.offset += by;
        }
    }

    /// How far the clock is ahead of real time.
    pub fn offset_secs(&self) -> i64 {
        self.offset.num_seconds()
    }
}
