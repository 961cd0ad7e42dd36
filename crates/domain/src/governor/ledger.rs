//! The shared send-time ledger of one connection and the reservation rule (see the module
//! documentation of [`super`] for why it holds).

/// How many requests fit in how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed in any window of `window_ms` (amoCRM: 7).
    pub per_window: usize,
    /// The window: one second plus a safety margin for network jitter, in milliseconds.
    pub window_ms: i64,
}

impl Default for Limit {
    fn default() -> Self {
        Self {
            per_window: 7,
            window_ms: 1_100,
        }
    }
}

/// What a reservation got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Send at this database time (unix ms); it is recorded.
    At(i64),
    /// Nothing free by the caller's deadline; capacity frees at `earliest` (unix ms). Nothing was
    /// recorded. `paused` says a pause (amoCRM's `retry_after` or a block) is the reason.
    Refused { earliest: i64, paused: bool },
}

/// The recent and reserved send times of one connection, on the database's clock (unix ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Sorted ascending; at most [`Limit::per_window`] entries (older ones constrain nothing).
    pub sends: Vec<i64>,
    /// No send before this time.
    pub paused_until: i64,
}

impl Ledger {
    /// Reserves the earliest send time allowed at `now`, if it is no later than `latest`.
    ///
    /// The time is never before the last reservation (so reservations stay sorted and callers
    /// keep their order across instances) and never less than a window after the reservation
    /// `per_window` places back (so no window holds more than `per_window` sends).
    pub fn reserve(&mut self, now: i64, limit: Limit, latest: i64) -> Reservation {
        let per_window = limit.per_window.max(1);
        let mut earliest = now;
        if let Some(last) = self.sends.last() {
            earliest = earliest.max(*last);
        }
        if self.sends.len() >= per_window {
            let bound = self.sends[self.sends.len() - per_window].saturating_add(limit.window_ms);
            earliest = earliest.max(bound);
        }
        let paused = self.paused_until > earliest;
        earliest = earliest.max(self.paused_until);
        if earliest > latest {
            return Reservation::Refused { earliest, paused };
        }
        self.sends.push(earliest);
        let excess = self.sends.len().saturating_sub(per_window);
        self.sends.drain(..excess);
        Reservation::At(earliest)
    }

    /// Holds every send until at least `until` (unix ms); a shorter pause never shortens one.
    pub fn pause(&mut self, until: i64) {
        self.paused_until = self.paused_until.max(until);
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;

    use super::*;

    const LIMIT: Limit = Limit {
        per_window: 7,
        window_ms: 1_000,
    };

    /// The largest number of sends in any half-open window `[t, t + window)`.
    fn densest(sends: &[i64], window: i64) -> usize {
        let mut sorted = sends.to_vec();
        sorted.sort_unstable();
        let mut best = 0;
        let mut start = 0;
        for end in 0..sorted.len() {
            while sorted[end] - sorted[start] >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    #[test]
    fn a_burst_of_seven_goes_at_once_then_one_per_freed_slot() {
        let mut ledger = Ledger::default();
        for _ in 0..7 {
            assert_eq!(ledger.reserve(0, LIMIT, 10_000), Reservation::At(0));
        }
        assert_eq!(ledger.reserve(0, LIMIT, 10_000), Reservation::At(1_000));
        assert_eq!(ledger.reserve(10, LIMIT, 10_000), Reservation::At(1_000));
        assert_eq!(
            ledger.sends.len(),
            7,
            "only what constrains the future is kept"
        );
    }

    #[test]
    fn a_reservation_past_the_deadline_is_refused_and_not_recorded() {
        let mut ledger = Ledger::default();
        for _ in 0..7 {
            ledger.reserve(0, LIMIT, 0);
        }
        let before = ledger.clone();
        assert_eq!(
            ledger.reserve(0, LIMIT, 999),
            Reservation::Refused {
                earliest: 1_000,
                paused: false
            }
        );
        assert_eq!(ledger, before);
    }

    #[test]
    fn a_pause_holds_every_send_and_is_never_shortened() {
        let mut ledger = Ledger::default();
        ledger.pause(5_000);
        ledger.pause(2_000);
        assert_eq!(
            ledger.reserve(0, LIMIT, 4_000),
            Reservation::Refused {
                earliest: 5_000,
                paused: true
            }
        );
        assert_eq!(ledger.reserve(0, LIMIT, 5_000), Reservation::At(5_000));
    }

    #[test]
    fn an_idle_connection_sends_at_once() {
        let mut ledger = Ledger::default();
        for _ in 0..7 {
            ledger.reserve(0, LIMIT, 0);
        }
        assert_eq!(
            ledger.reserve(60_000, LIMIT, 60_000),
            Reservation::At(60_000)
        );
    }

    #[test]
    fn a_clock_that_steps_back_cannot_reorder_reservations() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.reserve(5_000, LIMIT, 20_000), Reservation::At(5_000));
        assert_eq!(ledger.reserve(4_000, LIMIT, 20_000), Reservation::At(5_000));
    }

    /// Any interleaving of callers, arriving at any times with any deadlines, never gets more
    /// than the limit into one window.
    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let mut rng = rand::thread_rng();
        for _ in 0..300 {
            let mut ledger = Ledger::default();
            let mut granted = Vec::new();
            let mut now = 0_i64;
            let mut paused_until = 0;
            for _ in 0..rng.gen_range(1..200) {
                now += rng.gen_range(0..300);
                if rng.gen_bool(0.02) {
                    let until = now + rng.gen_range(0..3_000);
                    ledger.pause(until);
                    paused_until = paused_until.max(until);
                }
                let latest = now + rng.gen_range(0..5_000);
                if let Reservation::At(t) = ledger.reserve(now, LIMIT, latest) {
                    assert!(t >= now && t <= latest && t >= paused_until);
                    granted.push(t);
                }
            }
            assert!(
                densest(&granted, LIMIT.window_ms) <= LIMIT.per_window,
                "{granted:?}"
            );
        }
    }
}
