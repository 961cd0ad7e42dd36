//! An account's CRM data: leads, contacts and notes, with the rules amoCRM applies when they are
//! created or changed (pipelines and stages, responsible users, custom fields). Every mutation
//! reports the [`Change`]s it made, which is what account webhooks are made of.

pub mod catalog;
pub mod demo;
mod fields;
pub mod listing;
pub mod v4;

pub use fields::{FieldInput, FieldRef, ItemInput};

use std::collections::BTreeMap;

use serde_json::Value;

use catalog::{Catalog, LOST, Lang, Pipeline, WON};
use fields::apply_fields;

/// One value of a custom field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldItem {
    /// A string, or an integer for date fields.
    pub value: Value,
    pub enum_id: Option<i64>,
}

/// The values of one custom field of an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValues {
    pub field_id: i64,
    pub values: Vec<FieldItem>,
}

/// A deal.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub id: i64,
    pub name: String,
    pub price: i64,
    pub status_id: i64,
    pub pipeline_id: i64,
    pub responsible_user_id: i64,
    pub created_by: i64,
    pub updated_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub custom_fields: Vec<FieldValues>,
    pub contact_ids: Vec<i64>,
}

/// A person.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub first_name: String,
    pub last_name: String,
    pub responsible_user_id: i64,
    pub created_by: i64,
    pub updated_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub custom_fields: Vec<FieldValues>,
}

/// What a note is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Lead,
    Contact,
}

/// A note on a lead or contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: i64,
    pub entity: EntityKind,
    pub entity_id: i64,
    /// v2 note type: 4 = common text, 5 = file.
    pub note_type: u8,
    pub text: String,
    pub file_name: Option<String>,
    pub created_by: i64,
    pub created_at: i64,
}

/// One change, as account webhooks report it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    LeadAdded(Lead),
    LeadUpdated(Lead),
    LeadStatus {
        lead: Lead,
        old_status_id: i64,
    },
    LeadResponsible {
        lead: Lead,
        old_responsible_user_id: i64,
    },
    LeadDeleted(Lead),
    ContactAdded(Contact),
    /// `old_responsible_user_id` when the owner changed (amoCRM reports it under `update`).
    ContactUpdated {
        contact: Contact,
        old_responsible_user_id: Option<i64>,
    },
    ContactDeleted(Contact),
    NoteAdded(Note),
}

/// A rule an input broke, in amoCRM's validation-error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub path: String,
    pub code: &'static str,
    pub detail: String,
}

impl Invalid {
    pub fn new(path: impl Into<String>, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code,
            detail: detail.into(),
        }
    }

    fn choice(path: impl Into<String>) -> Self {
        Self::new(
            path,
            "NotSupportedChoice",
            "The value you selected is not a valid choice.",
        )
    }
}

/// The fields of a lead a request may set; absent fields are left alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadInput {
    pub name: Option<String>,
    pub price: Option<i64>,
    pub status_id: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub responsible_user_id: Option<i64>,
    pub custom_fields: Vec<FieldInput>,
    pub contact_ids: Option<Vec<i64>>,
}

/// The fields of a contact a request may set; absent fields are left alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactInput {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub responsible_user_id: Option<i64>,
    pub custom_fields: Vec<FieldInput>,
}

/// Who acts and when.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: i64,
    pub now: i64,
}

/// One account's entities.
#[derive(Debug)]
pub struct Crm {
    pub lang: Lang,
    pub leads: BTreeMap<i64, Lead>,
    pub contacts: BTreeMap<i64, Contact>,
    pub notes: BTreeMap<i64, Note>,
    next_lead: i64,
    next_contact: i64,
    next_note: i64,
}

impl Crm {
    /// An account with no entities yet.
    pub fn new(lang: Lang) -> Self {
        Self {
            lang,
            leads: BTreeMap::new(),
            contacts: BTreeMap::new(),
            notes: BTreeMap::new(),
            next_lead: 33_812_001,
            next_contact: 51_200_001,
            next_note: 150_000_001,
        }
    }

    pub fn catalog(&self) -> &'static Catalog {
        Catalog::of(self.lang)
    }

    /// Creates a lead; unset fields get amoCRM's defaults (main pipeline, its first stage, the
    /// acting user as responsible).
    pub fn add_lead(&mut self, input: LeadInput, by: Actor) -> Result<Lead, Vec<Invalid>> {
        let catalog = self.catalog();
        let id = self.next_lead;
        let mut lead = Lead {
            id,
            name: String::new(),
            price: 0,
            status_id: 0,
            pipeline_id: 0,
            responsible_user_id: by.user_id,
            created_by: by.user_id,
            updated_by: by.user_id,
            created_at: by.now,
            updated_at: by.now,
            closed_at: None,
            custom_fields: Vec::new(),
            contact_ids: Vec::new(),
        };
        let (pipeline, status) = resolve_stage(catalog, None, input.status_id, input.pipeline_id)
            .map_err(|e| vec![e])?;
        lead.pipeline_id = pipeline;
        lead.status_id = status;
        self.apply_lead(&mut lead, input)?;
        if lead.name.is_empty() {
            lead.name = format!("{} #{id}", self.lang.pick("Сделка", "Lead"));
        }
        lead.closed_at = closed(lead.status_id, by.now);
        self.next_lead += 1;
        self.leads.insert(id, lead.clone());
        Ok(lead)
    }

    /// Changes a lead; reports an update, plus a stage change and an owner change when they
    /// happened.
    pub fn update_lead(
        &mut self,
        id: i64,
        input: LeadInput,
        by: Actor,
    ) -> Result<Vec<Change>, Vec<Invalid>> {
        let catalog = self.catalog();
        let before = self
            .leads
            .get(&id)
            .cloned()
            .ok_or_else(|| vec![Invalid::new("id", "NotFound", "Lead not found")])?;
        let mut lead = before.clone();
        if input.status_id.is_some() || input.pipeline_id.is_some() {
            let (pipeline, status) =
                resolve_stage(catalog, Some(&before), input.status_id, input.pipeline_id)
                    .map_err(|e| vec![e])?;
            lead.pipeline_id = pipeline;
            lead.status_id = status;
        }
        self.apply_lead(&mut lead, input)?;
        lead.updated_at = by.now;
        lead.updated_by = by.user_id;
        if lead.status_id != before.status_id {
            lead.closed_at = closed(lead.status_id, by.now);
        }
        self.leads.insert(id, lead.clone());
        let mut changes = vec![Change::LeadUpdated(lead.clone())];
        if lead.status_id != before.status_id || lead.pipeline_id != before.pipeline_id {
            changes.push(Change::LeadStatus {
                lead: lead.clone(),
                old_status_id: before.status_id,
            });
        }
        if lead.responsible_user_id != before.responsible_user_id {
            changes.push(Change::LeadResponsible {
                lead,
                old_responsible_user_id: before.responsible_user_id,
            });
        }
        Ok(changes)
    }

    fn apply_lead(&self, lead: &mut Lead, input: LeadInput) -> Result<(), Vec<Invalid>> {
        let catalog = self.catalog();
        let mut errors = Vec::new();
        if let Some(name) = input.name {
            lead.name = name;
        }
        if let Some(price) = input.price {
            if price < 0 {
                errors.push(Invalid::new(
                    "price",
                    "OutOfRange",
                    "This value should be greater than or equal to 0.",
                ));
            }
            lead.price = price;
        }
        if let Some(user) = input.responsible_user_id {
            match catalog.user(user) {
                Some(_) => lead.responsible_user_id = user,
                None => errors.push(Invalid::choice("responsible_user_id")),
            }
        }
        if let Some(contacts) = input.contact_ids {
            for (index, contact) in contacts.iter().enumerate() {
                if !self.contacts.contains_key(contact) {
                    errors.push(Invalid::new(
                        format!("_embedded.contacts.{index}.id"),
                        "NotFound",
                        "Contact not found",
                    ));
                }
            }
            lead.contact_ids = contacts;
        }
        apply_fields(
            &catalog.lead_fields,
            &mut lead.custom_fields,
            input.custom_fields,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Removes a lead (and its notes).
    pub fn delete_lead(&mut self, id: i64) -> Option<Change> {
        let lead = self.leads.remove(&id)?;
        self.notes
            .retain(|_, n| !(n.entity == EntityKind::Lead && n.entity_id == id));
        Some(Change::LeadDeleted(lead))
    }

    /// Creates a contact; its `name` defaults to first and last name.
    pub fn add_contact(&mut self, input: ContactInput, by: Actor) -> Result<Contact, Vec<Invalid>> {
        let id = self.next_contact;
        let mut contact = Contact {
            id,
            name: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            responsible_user_id: by.user_id,
            created_by: by.user_id,
            updated_by: by.user_id,
            created_at: by.now,
            updated_at: by.now,
            custom_fields: Vec::new(),
        };
        self.apply_contact(&mut contact, input)?;
        if contact.name.is_empty() {
            contact.name = [contact.first_name.as_str(), contact.last_name.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
        self.next_contact += 1;
        self.contacts.insert(id, contact.clone());
        Ok(contact)
    }

    /// Changes a contact.
    pub fn update_contact(
        &mut self,
        id: i64,
        input: ContactInput,
        by: Actor,
    ) -> Result<Change, Vec<Invalid>> {
        let before = self
            .contacts
            .get(&id)
            .cloned()
            .ok_or_else(|| vec![Invalid::new("id", "NotFound", "Contact not found")])?;
        let mut contact = before.clone();
        self.apply_contact(&mut contact, input)?;
        contact.updated_at = by.now;
        contact.updated_by = by.user_id;
        self.contacts.insert(id, contact.clone());
        let old_responsible_user_id = (contact.responsible_user_id != before.responsible_user_id)
            .then_some(before.responsible_user_id);
        Ok(Change::ContactUpdated {
            contact,
            old_responsible_user_id,
        })
    }

    fn apply_contact(
        &self,
        contact: &mut Contact,
        input: ContactInput,
    ) -> Result<(), Vec<Invalid>> {
        let catalog = self.catalog();
        let mut errors = Vec::new();
        if let Some(name) = input.name {
            contact.name = name;
        }
        if let Some(first) = input.first_name {
            contact.first_name = first;
        }
        if let Some(last) = input.last_name {
            contact.last_name = last;
        }
        if let Some(user) = input.responsible_user_id {
            match catalog.user(user) {
                Some(_) => contact.responsible_user_id = user,
                None => errors.push(Invalid::choice("responsible_user_id")),
            }
        }
        apply_fields(
            &catalog.contact_fields,
            &mut contact.custom_fields,
            input.custom_fields,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Removes a contact and unlinks it from leads.
    pub fn delete_contact(&mut self, id: i64) -> Option<Change> {
        let contact = self.contacts.remove(&id)?;
        for lead in self.leads.values_mut() {
            lead.contact_ids.retain(|c| *c != id);
        }
        self.notes
            .retain(|_, n| !(n.entity == EntityKind::Contact && n.entity_id == id));
        Some(Change::ContactDeleted(contact))
    }

    /// Adds a text note, and a file note after it when a file is attached (amoCRM reports the two
    /// separately).
    pub fn add_note(
        &mut self,
        entity: EntityKind,
        entity_id: i64,
        text: String,
        file_name: Option<String>,
        by: Actor,
    ) -> Result<Vec<Change>, Vec<Invalid>> {
        let exists = match entity {
            EntityKind::Lead => self.leads.contains_key(&entity_id),
            EntityKind::Contact => self.contacts.contains_key(&entity_id),
        };
        if !exists {
            return Err(vec![Invalid::new(
                "entity_id",
                "NotFound",
                "Entity not found",
            )]);
        }
        let mut notes = vec![(4, text, None)];
        if let Some(file) = file_name {
            notes.push((5, file.clone(), Some(file)));
        }
        let mut changes = Vec::new();
        for (note_type, text, file_name) in notes {
            let note = Note {
                id: self.next_note,
                entity,
                entity_id,
                note_type,
                text,
                file_name,
                created_by: by.user_id,
                created_at: by.now,
            };
            self.next_note += 1;
            self.notes.insert(note.id, note.clone());
            changes.push(Change::NoteAdded(note));
        }
        Ok(changes)
    }
}

/// `closed_at` for a lead entering `status_id`.
fn closed(status_id: i64, now: i64) -> Option<i64> {
    (status_id == WON || status_id == LOST).then_some(now)
}

/// The pipeline and stage a lead ends up in, given what the request named.
fn resolve_stage(
    catalog: &Catalog,
    current: Option<&Lead>,
    status_id: Option<i64>,
    pipeline_id: Option<i64>,
) -> Result<(i64, i64), Invalid> {
    let in_pipeline = |pipeline: &Pipeline, status: i64| {
        status == WON || status == LOST || pipeline.statuses.iter().any(|s| s.id == status)
    };
    match (pipeline_id, status_id) {
        (Some(pipeline), status) => {
            let pipeline = catalog
                .pipeline(pipeline)
                .ok_or_else(|| Invalid::choice("pipeline_id"))?;
            let status = status.unwrap_or_else(|| pipeline.first_status());
            if in_pipeline(pipeline, status) {
                Ok((pipeline.id, status))
            } else {
                Err(Invalid::choice("status_id"))
            }
        }
        (None, Some(status)) => {
            // A status of the current pipeline (or won/lost) keeps the lead where it is.
            if let Some(pipeline) = current.and_then(|l| catalog.pipeline(l.pipeline_id))
                && in_pipeline(pipeline, status)
            {
                return Ok((pipeline.id, status));
            }
            catalog
                .pipeline_of_status(status)
                .map(|p| (p.id, status))
                .ok_or_else(|| Invalid::choice("status_id"))
        }
        (None, None) => Ok(match current {
            Some(lead) => (lead.pipeline_id, lead.status_id),
            None => {
                let main = catalog.main_pipeline();
                (main.id, main.first_status())
            }
        }),
    }
}
