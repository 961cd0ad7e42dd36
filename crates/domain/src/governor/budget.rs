//! The shared budget of one integration: which instance may spend how many of amoCRM's slots
//! until when (see the module documentation of [`super`] for why this keeps the limit).

use serde::{Deserialize, Serialize};

/// How many requests fit in how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed in any window of `window_ms` (amoCRM: 7).
    pub per_window: usize,
    /// The window: one second plus a safety margin for jitter, in milliseconds.
    pub window_ms: i64,
}

impl Default for Limit {
    fn default() -> Self {
        Self {
            per_window: 7,
            window_ms: 1_200,
        }
    }
}

/// Slots lent to one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The instance.
    pub owner: String,
    /// It sends at most this many requests in any window while the share lasts.
    pub slots: usize,
    /// It sends nothing under this share from this database time on (unix ms). The slots keep
    /// counting for one more window: sends made just before still occupy it.
    pub until: i64,
}

/// One integration's budget, on the database's clock (unix ms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    #[serde(default)]
    pub shares: Vec<Share>,
    /// Instances that asked for slots and found none free, and when: holders give up slots to
    /// them when they renew.
    #[serde(default)]
    pub wants: Vec<(String, i64)>,
    /// No send before this time (amoCRM's `retry_after`, or a block).
    #[serde(default)]
    pub paused_until: i64,
}

/// What a lease request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Send at most `slots` requests in any window until `until` (unix ms).
    Granted { slots: usize, until: i64 },
    /// Nothing free now; try again at `retry_at`. `paused` says a pause is the reason.
    Refused { retry_at: i64, paused: bool },
}

impl Budget {
    /// Lends `owner` slots for `term_ms` from `now`, replacing what it held.
    ///
    /// The rule that keeps the limit: at every moment, the slots of every share that is live
    /// (`until + window` not yet passed) add up to at most `per_window`. A share counts for a
    /// window after it ends, and an owner that renews with fewer slots keeps the difference
    /// counted for a window as well, because its sends of the last window are what they are.
    /// An owner alone gets everything; owners competing (holding shares, having held one in
    /// the last two terms, or having asked in vain recently) split the limit, the first to
    /// renew rounding up. Counting recent holders matters when two instances take turns at a
    /// quiet integration: otherwise each, finding the other's share just ended, took every
    /// slot for a whole term and the other waited a term for its next call.
    pub fn lease(&mut self, owner: &str, now: i64, limit: Limit, term_ms: i64) -> Lease {
        self.lease_up_to(owner, now, limit, term_ms, limit.per_window)
    }

    /// [`Self::lease`] for at most `wanted` slots (at least one): an instance asks for what its
    /// callers need, so the rest stays free for another instance to take at once instead of
    /// waiting for this share to end.
    pub fn lease_up_to(
        &mut self,
        owner: &str,
        now: i64,
        limit: Limit,
        term_ms: i64,
        wanted: usize,
    ) -> Lease {
        let window = limit.window_ms;
        // Shares stay listed for two terms after they end (their owners still compete); they
        // count against the limit only until one window after their end.
        self.shares
            .retain(|share| share.until + window.max(2 * term_ms) > now);
        let live = |share: &&Share| share.until + window > now;
        self.wants
            .retain(|(who, at)| now - *at < 2 * term_ms && who != owner);
        if self.paused_until > now {
            return Lease::Refused {
                retry_at: self.paused_until,
                paused: true,
            };
        }
        let others: usize = self
            .shares
            .iter()
            .filter(live)
            .filter(|share| share.owner != owner)
            .map(|share| share.slots)
            .sum();
        // The most of this owner's sends that can still be in a window (see above).
        let recent = self
            .shares
            .iter()
            .filter(live)
            .filter(|share| share.owner == owner)
            .map(|share| share.slots)
            .max()
            .unwrap_or(0);
        let mut contenders: Vec<&str> = self
            .shares
            .iter()
            .map(|share| share.owner.as_str())
            .chain(self.wants.iter().map(|(who, _)| who.as_str()))
            .chain([owner])
            .collect();
        contenders.sort_unstable();
        contenders.dedup();
        let fair = limit.per_window.div_ceil(contenders.len().max(1));
        let slots = limit
            .per_window
            .saturating_sub(others)
            .min(fair)
            .min(wanted.max(1));
        if slots == 0 {
            self.wants.push((owner.to_owned(), now));
            let retry_at = self
                .shares
                .iter()
                .filter(live)
                .map(|share| share.until + window)
                .min()
                .unwrap_or(now);
            return Lease::Refused {
                retry_at,
                paused: false,
            };
        }
        self.shares.retain(|share| share.owner != owner);
        if recent > slots {
            self.shares.push(Share {
                owner: owner.to_owned(),
                slots: recent - slots,
                until: now,
            });
        }
        let until = now + term_ms;
        self.shares.push(Share {
            owner: owner.to_owned(),
            slots,
            until,
        });
        Lease::Granted { slots, until }
    }

    /// Holds every new lease until at least `until` (unix ms); a shorter pause never shortens
    /// one.
    pub fn pause(&mut self, until: i64) {
        self.paused_until = self.paused_until.max(until);
    }

    /// The slots counted as in use at `at`: what the rule keeps at or under the limit.
    #[must_use]
    pub fn counted_at(&self, at: i64, limit: Limit) -> usize {
        self.shares
            .iter()
            .filter(|share| share.until + limit.window_ms > at)
            .map(|share| share.slots)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;

    use super::*;

    const LIMIT: Limit = Limit {
        per_window: 7,
        window_ms: 1_200,
    };
    const TERM: i64 = 3_000;

    #[test]
    fn an_instance_alone_gets_every_slot_at_once() {
        let mut budget = Budget::default();
        assert_eq!(
            budget.lease("a", 0, LIMIT, TERM),
            Lease::Granted {
                slots: 7,
                until: 3_000
            }
        );
        // Renewing alone keeps everything.
        assert_eq!(
            budget.lease("a", 3_000, LIMIT, TERM),
            Lease::Granted {
                slots: 7,
                until: 6_000
            }
        );
    }

    #[test]
    fn a_second_instance_waits_for_the_holder_to_renew_then_they_share() {
        let mut budget = Budget::default();
        budget.lease("a", 0, LIMIT, TERM);
        assert_eq!(
            budget.lease("b", 100, LIMIT, TERM),
            Lease::Refused {
                retry_at: 4_200,
                paused: false
            },
            "free when a's share and its window have passed"
        );
        // a renews, sees b waiting, keeps half (rounded up), and the rest still counts for a
        // window.
        assert_eq!(
            budget.lease("a", 3_000, LIMIT, TERM),
            Lease::Granted {
                slots: 4,
                until: 6_000
            }
        );
        assert_eq!(budget.counted_at(3_000, LIMIT), 7);
        assert!(matches!(
            budget.lease("b", 3_100, LIMIT, TERM),
            Lease::Refused { .. }
        ));
        assert_eq!(
            budget.lease("b", 4_200, LIMIT, TERM),
            Lease::Granted {
                slots: 3,
                until: 7_200
            }
        );
    }

    #[test]
    fn a_pause_refuses_every_lease_until_it_ends_and_is_never_shortened() {
        let mut budget = Budget::default();
        budget.pause(5_000);
        budget.pause(2_000);
        assert_eq!(
            budget.lease("a", 0, LIMIT, TERM),
            Lease::Refused {
                retry_at: 5_000,
                paused: true
            }
        );
        assert!(matches!(
            budget.lease("a", 5_000, LIMIT, TERM),
            Lease::Granted { slots: 7, .. }
        ));
    }

    #[test]
    fn a_dead_instances_share_frees_one_window_after_its_end() {
        let mut budget = Budget::default();
        budget.lease("dead", 0, LIMIT, TERM);
        assert!(matches!(
            budget.lease("b", 4_199, LIMIT, TERM),
            Lease::Refused { .. }
        ));
        // Its slots are free; it still counts as a contender for two terms after its end.
        assert!(matches!(
            budget.lease("b", 4_200, LIMIT, TERM),
            Lease::Granted { slots: 4, .. }
        ));
        assert!(matches!(
            budget.lease("b", 9_000, LIMIT, TERM),
            Lease::Granted { slots: 7, .. }
        ));
    }

    /// Two instances taking turns at a quiet integration split it instead of each taking every
    /// slot for a term while the other waits.
    #[test]
    fn instances_taking_turns_split_the_budget() {
        let mut budget = Budget::default();
        budget.lease("a", 0, LIMIT, TERM);
        assert!(matches!(
            budget.lease("b", 400, LIMIT, TERM),
            Lease::Refused {
                retry_at: 4_200,
                ..
            }
        ));
        assert_eq!(
            budget.lease("b", 4_200, LIMIT, TERM),
            Lease::Granted {
                slots: 4,
                until: 7_200
            }
        );
        // a's share ended; it gets the rest at once.
        assert_eq!(
            budget.lease("a", 4_600, LIMIT, TERM),
            Lease::Granted {
                slots: 3,
                until: 7_600
            }
        );
    }

    #[test]
    fn an_empty_row_is_an_empty_budget() {
        assert_eq!(
            serde_json::from_str::<Budget>("{}").expect("decodes"),
            Budget::default()
        );
    }

    #[test]
    fn it_survives_its_own_encoding() {
        let mut budget = Budget::default();
        budget.lease("a", 0, LIMIT, TERM);
        budget.lease("b", 10, LIMIT, TERM);
        budget.pause(99);
        let text = serde_json::to_string(&budget).expect("encodes");
        assert_eq!(
            serde_json::from_str::<Budget>(&text).expect("decodes"),
            budget
        );
    }

    /// Any interleaving of instances renewing at any times keeps the slots counted at or under
    /// the limit at every moment, and every instance's sends of the last window within what is
    /// counted for it.
    #[test]
    fn the_counted_slots_never_exceed_the_limit() {
        let mut rng = rand::thread_rng();
        for _ in 0..500 {
            let mut budget = Budget::default();
            let owners = ["a", "b", "c"];
            // Per owner, what it may send now: its granted slots until its share ends.
            let mut held: Vec<Option<(usize, i64)>> = vec![None; owners.len()];
            let mut now = 0;
            for _ in 0..rng.gen_range(1..80) {
                now += rng.gen_range(0..2_000);
                let who = rng.gen_range(0..owners.len());
                if rng.gen_bool(0.03) {
                    budget.pause(now + rng.gen_range(0..3_000));
                }
                let wanted = rng.gen_range(1..=LIMIT.per_window);
                if let Lease::Granted { slots, until } =
                    budget.lease_up_to(owners[who], now, LIMIT, TERM, wanted)
                {
                    held[who] = Some((slots, until));
                }
                for at in [now, now + 1, now + LIMIT.window_ms, now + TERM] {
                    assert!(
                        budget.counted_at(at, LIMIT) <= LIMIT.per_window,
                        "{budget:?} at {at}"
                    );
                }
                // What the instances may actually send at `now` fits under the limit.
                let spendable: usize = held
                    .iter()
                    .flatten()
                    .filter(|(_, until)| *until > now)
                    .map(|(slots, _)| *slots)
                    .sum();
                assert!(spendable <= LIMIT.per_window, "{held:?} at {now}");
            }
        }
    }
}
