//! The one way account data changes, whether through the API or the admin API: apply a CRM
//! mutation to an account, then announce what changed (account webhooks listen here).

use crate::config::DEMO_USER_ID;
use crate::crm::{Actor, Change, Crm};
use crate::store::State;

/// Why a change could not be made.
#[derive(Debug)]
pub enum ChangeError<E> {
    UnknownAccount(i64),
    Rejected(E),
}

impl State {
    /// Runs `mutate` on an account's data as the demo user, now, and announces the changes it
    /// reports. Nothing is announced when it fails.
    pub fn change_crm<T, E>(
        &mut self,
        account_id: i64,
        mutate: impl FnOnce(&mut Crm, Actor) -> Result<(T, Vec<Change>), E>,
    ) -> Result<T, ChangeError<E>> {
        let actor = Actor {
            user_id: DEMO_USER_ID,
            now: self.clock.now().timestamp(),
        };
        let account = self
            .accounts
            .get_mut(&account_id)
            .ok_or(ChangeError::UnknownAccount(account_id))?;
        let (value, changes) = mutate(&mut account.crm, actor).map_err(ChangeError::Rejected)?;
        self.announce(account_id, changes);
        Ok(value)
    }

    /// Tells the account's listeners (webhook subscriptions) about `changes`.
    fn announce(&mut self, account_id: i64, changes: Vec<Change>) {
        self.announce_to_hooks(account_id, &changes);
    }
}
