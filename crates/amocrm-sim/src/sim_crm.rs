//! [`Sim`]'s test API for account data: what a person would do in the amoCRM interface (create a
//! lead, move it to another stage, hand it to a colleague, add a note), taking and returning
//! amoCRM's v4 JSON. Changes are announced exactly like changes made through the API.

use serde_json::{Map, Value};

use crate::changes::ChangeError;
use crate::crm::v4::{self, Site as Place};
use crate::crm::{Change, EntityKind, Invalid, LeadInput, demo};
use crate::sim::{Sim, SimError};
use crate::store::{Account, State};

fn object(body: &Value) -> Result<&Map<String, Value>, SimError> {
    body.as_object()
        .ok_or_else(|| SimError::Rejected("expected a JSON object".into()))
}

fn rejected(errors: &[Invalid]) -> SimError {
    SimError::Rejected(
        errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.detail))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

fn lifted(error: ChangeError<Vec<Invalid>>, entity: i64) -> SimError {
    match error {
        ChangeError::UnknownAccount(id) => SimError::UnknownAccount(id),
        ChangeError::Rejected(errors) if errors.iter().any(|e| e.code == "NotFound") => {
            SimError::UnknownEntity(entity)
        }
        ChangeError::Rejected(errors) => rejected(&errors),
    }
}

fn render(account: &Account, kind: EntityKind, id: i64) -> Option<Value> {
    let host = account.host();
    let place = Place {
        account_id: account.id,
        host: &host,
    };
    let crm = &account.crm;
    match kind {
        EntityKind::Lead => crm
            .leads
            .get(&id)
            .map(|lead| v4::lead(lead, crm.catalog(), place, true)),
        EntityKind::Contact => crm
            .contacts
            .get(&id)
            .map(|contact| v4::contact(contact, crm.catalog(), place, None)),
    }
}

impl State {
    fn entity_json(&self, account_id: i64, kind: EntityKind, id: i64) -> Result<Value, SimError> {
        let account = self
            .accounts
            .get(&account_id)
            .ok_or(SimError::UnknownAccount(account_id))?;
        render(account, kind, id).ok_or(SimError::UnknownEntity(id))
    }
}

impl Sim {
    /// Every lead of an account (v4 JSON, contacts embedded), oldest first.
    pub fn leads(&self, account_id: i64) -> Result<Vec<Value>, SimError> {
        self.entities(account_id, EntityKind::Lead)
    }

    /// Every contact of an account (v4 JSON), oldest first.
    pub fn contacts(&self, account_id: i64) -> Result<Vec<Value>, SimError> {
        self.entities(account_id, EntityKind::Contact)
    }

    fn entities(&self, account_id: i64, kind: EntityKind) -> Result<Vec<Value>, SimError> {
        self.with_state(|s| {
            let account = s
                .accounts
                .get(&account_id)
                .ok_or(SimError::UnknownAccount(account_id))?;
            let ids: Vec<i64> = match kind {
                EntityKind::Lead => account.crm.leads.keys().copied().collect(),
                EntityKind::Contact => account.crm.contacts.keys().copied().collect(),
            };
            Ok(ids
                .into_iter()
                .filter_map(|id| render(account, kind, id))
                .collect())
        })
    }

    /// Adds the demo leads and contacts to an account.
    pub fn seed_demo_data(&self, account_id: i64) -> Result<(), SimError> {
        self.with_state(|s| {
            let now = s.clock.now().timestamp();
            let account = s.account_mut(account_id)?;
            demo::seed(&mut account.crm, now);
            Ok(())
        })
    }

    /// Creates a lead from a v4 object (`{"name": …, "price": …, "status_id": …}`), as a user
    /// of the account would; returns it.
    pub fn create_lead(&self, account_id: i64, lead: &Value) -> Result<Value, SimError> {
        let input = v4::lead_input(object(lead)?).map_err(|e| rejected(&e))?;
        self.with_state(|s| {
            let id = s
                .change_crm(account_id, |crm, actor| {
                    let lead = crm.add_lead(input, actor)?;
                    Ok((lead.id, vec![Change::LeadAdded(lead)]))
                })
                .map_err(|e| lifted(e, 0))?;
            s.entity_json(account_id, EntityKind::Lead, id)
        })
    }

    /// Changes a lead from a v4 object; a new `status_id` or `responsible_user_id` is reported
    /// as a stage or owner change too.
    pub fn update_lead(
        &self,
        account_id: i64,
        lead_id: i64,
        patch: &Value,
    ) -> Result<Value, SimError> {
        let input = v4::lead_input(object(patch)?).map_err(|e| rejected(&e))?;
        self.patch_lead(account_id, lead_id, input)
    }

    /// Moves a lead to another stage (and pipeline, if given).
    pub fn move_lead(
        &self,
        account_id: i64,
        lead_id: i64,
        status_id: i64,
        pipeline_id: Option<i64>,
    ) -> Result<Value, SimError> {
        let input = LeadInput {
            status_id: Some(status_id),
            pipeline_id,
            ..LeadInput::default()
        };
        self.patch_lead(account_id, lead_id, input)
    }

    /// Hands a lead to another user.
    pub fn set_lead_responsible(
        &self,
        account_id: i64,
        lead_id: i64,
        user_id: i64,
    ) -> Result<Value, SimError> {
        let input = LeadInput {
            responsible_user_id: Some(user_id),
            ..LeadInput::default()
        };
        self.patch_lead(account_id, lead_id, input)
    }

    fn patch_lead(
        &self,
        account_id: i64,
        lead_id: i64,
        input: LeadInput,
    ) -> Result<Value, SimError> {
        self.with_state(|s| {
            s.change_crm(account_id, |crm, actor| {
                Ok(((), crm.update_lead(lead_id, input, actor)?))
            })
            .map_err(|e| lifted(e, lead_id))?;
            s.entity_json(account_id, EntityKind::Lead, lead_id)
        })
    }

    /// Deletes a lead.
    pub fn delete_lead(&self, account_id: i64, lead_id: i64) -> Result<(), SimError> {
        self.delete(account_id, EntityKind::Lead, lead_id)
    }

    /// Creates a contact from a v4 object (`{"first_name": …, "custom_fields_values": […]}`).
    pub fn create_contact(&self, account_id: i64, contact: &Value) -> Result<Value, SimError> {
        let input = v4::contact_input(object(contact)?).map_err(|e| rejected(&e))?;
        self.with_state(|s| {
            let id = s
                .change_crm(account_id, |crm, actor| {
                    let contact = crm.add_contact(input, actor)?;
                    Ok((contact.id, vec![Change::ContactAdded(contact)]))
                })
                .map_err(|e| lifted(e, 0))?;
            s.entity_json(account_id, EntityKind::Contact, id)
        })
    }

    /// Changes a contact from a v4 object.
    pub fn update_contact(
        &self,
        account_id: i64,
        contact_id: i64,
        patch: &Value,
    ) -> Result<Value, SimError> {
        let input = v4::contact_input(object(patch)?).map_err(|e| rejected(&e))?;
        self.with_state(|s| {
            s.change_crm(account_id, |crm, actor| {
                Ok(((), vec![crm.update_contact(contact_id, input, actor)?]))
            })
            .map_err(|e| lifted(e, contact_id))?;
            s.entity_json(account_id, EntityKind::Contact, contact_id)
        })
    }

    /// Deletes a contact.
    pub fn delete_contact(&self, account_id: i64, contact_id: i64) -> Result<(), SimError> {
        self.delete(account_id, EntityKind::Contact, contact_id)
    }

    fn delete(&self, account_id: i64, kind: EntityKind, id: i64) -> Result<(), SimError> {
        self.with_state(|s| {
            s.change_crm(account_id, |crm, _| {
                let change = match kind {
                    EntityKind::Lead => crm.delete_lead(id),
                    EntityKind::Contact => crm.delete_contact(id),
                };
                change
                    .map(|c| ((), vec![c]))
                    .ok_or_else(|| vec![Invalid::new("id", "NotFound", "not found")])
            })
            .map_err(|e| lifted(e, id))
        })
    }

    /// Adds a note to a lead or contact; with `file_name`, a file note follows the text note
    /// (amoCRM reports the two separately). Returns the notes' ids.
    pub fn add_note(
        &self,
        account_id: i64,
        entity: EntityKind,
        entity_id: i64,
        text: &str,
        file_name: Option<&str>,
    ) -> Result<Vec<i64>, SimError> {
        self.with_state(|s| {
            s.change_crm(account_id, |crm, actor| {
                let changes = crm.add_note(
                    entity,
                    entity_id,
                    text.to_owned(),
                    file_name.map(str::to_owned),
                    actor,
                )?;
                let ids = changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::NoteAdded(note) => Some(note.id),
                        _ => None,
                    })
                    .collect();
                Ok((ids, changes))
            })
            .map_err(|e| lifted(e, entity_id))
        })
    }
}
