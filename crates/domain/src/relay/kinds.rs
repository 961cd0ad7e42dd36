//! The amoCRM events amolink relays: their tenant-facing names (`amocrm.<entity>.<action>`), the
//! body keys they arrive under, and the `settings` codes that subscribe to them
//! (amocrm-webhooks.md §1.3).
//!
//! One table ([`AmoEvent::ALL`]) drives parsing, the settings page, endpoint filters and the
//! subscription, so a name cannot exist in one place and be missing in another.

use std::{fmt, str::FromStr};

use crate::ValidationError;

/// What an amoCRM event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Lead,
    Contact,
    Company,
    Customer,
    Task,
    Talk,
    Message,
}

impl Entity {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lead => "lead",
            Self::Contact => "contact",
            Self::Company => "company",
            Self::Customer => "customer",
            Self::Task => "task",
            Self::Talk => "talk",
            Self::Message => "message",
        }
    }
}

/// What happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Added,
    Updated,
    Deleted,
    Restored,
    StatusChanged,
    ResponsibleChanged,
    NoteAdded,
}

impl Action {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::StatusChanged => "status_changed",
            Self::ResponsibleChanged => "responsible_changed",
            Self::NoteAdded => "note_added",
        }
    }

    /// The action key in amoCRM's body (`leads[status]` → `status`).
    #[must_use]
    pub fn from_body_key(key: &str) -> Option<Self> {
        Some(match key {
            "add" => Self::Added,
            "update" => Self::Updated,
            "delete" => Self::Deleted,
            "restore" => Self::Restored,
            "status" => Self::StatusChanged,
            "responsible" => Self::ResponsibleChanged,
            "note" => Self::NoteAdded,
            _ => return None,
        })
    }
}

/// One relayed event type, e.g. `amocrm.lead.status_changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AmoEvent {
    pub entity: Entity,
    pub action: Action,
}

/// `(entity, action, name, settings codes that make amoCRM send it)`.
///
/// amoCRM reports owner changes of contacts, companies and tasks under `update`
/// (`old_responsible_user_id` set), so subscribing to their `updated` also asks for
/// `responsible_*`; only leads and customers have a `responsible` body key of their own.
const TABLE: [(Entity, Action, &str, &[&str]); 28] = {
    use Action::{Added, Deleted, NoteAdded, ResponsibleChanged, Restored, StatusChanged, Updated};
    use Entity::{Company, Contact, Customer, Lead, Message, Talk, Task};
    [
        (Lead, Added, "amocrm.lead.added", &["add_lead"]),
        (Lead, Updated, "amocrm.lead.updated", &["update_lead"]),
        (Lead, Deleted, "amocrm.lead.deleted", &["delete_lead"]),
        (Lead, Restored, "amocrm.lead.restored", &["restore_lead"]),
        (
            Lead,
            StatusChanged,
            "amocrm.lead.status_changed",
            &["status_lead"],
        ),
        (
            Lead,
            ResponsibleChanged,
            "amocrm.lead.responsible_changed",
            &["responsible_lead"],
        ),
        (Lead, NoteAdded, "amocrm.lead.note_added", &["note_lead"]),
        (Contact, Added, "amocrm.contact.added", &["add_contact"]),
        (
            Contact,
            Updated,
            "amocrm.contact.updated",
            &["update_contact", "responsible_contact"],
        ),
        (
            Contact,
            Deleted,
            "amocrm.contact.deleted",
            &["delete_contact"],
        ),
        (
            Contact,
            Restored,
            "amocrm.contact.restored",
            &["restore_contact"],
        ),
        (
            Contact,
            NoteAdded,
            "amocrm.contact.note_added",
            &["note_contact"],
        ),
        (Company, Added, "amocrm.company.added", &["add_company"]),
        (
            Company,
            Updated,
            "amocrm.company.updated",
            &["update_company", "responsible_company"],
        ),
        (
            Company,
            Deleted,
            "amocrm.company.deleted",
            &["delete_company"],
        ),
        (
            Company,
            Restored,
            "amocrm.company.restored",
            &["restore_company"],
        ),
        (
            Company,
            NoteAdded,
            "amocrm.company.note_added",
            &["note_company"],
        ),
        (Customer, Added, "amocrm.customer.added", &["add_customer"]),
        (
            Customer,
            Updated,
            "amocrm.customer.updated",
            &["update_customer"],
        ),
        (
            Customer,
            Deleted,
            "amocrm.customer.deleted",
            &["delete_customer"],
        ),
        (
            Customer,
            ResponsibleChanged,
            "amocrm.customer.responsible_changed",
            &["responsible_customer"],
        ),
        (
            Customer,
            NoteAdded,
            "amocrm.customer.note_added",
            &["note_customer"],
        ),
        (Task, Added, "amocrm.task.added", &["add_task"]),
        (
            Task,
            Updated,
            "amocrm.task.updated",
            &["update_task", "responsible_task"],
        ),
        (Task, Deleted, "amocrm.task.deleted", &["delete_task"]),
        (Talk, Added, "amocrm.talk.added", &["add_talk"]),
        (Talk, Updated, "amocrm.talk.updated", &["update_talk"]),
        (Message, Added, "amocrm.message.added", &["add_message"]),
    ]
};

impl AmoEvent {
    /// Every relayed event type, grouped by entity.
    pub fn all() -> impl Iterator<Item = Self> {
        TABLE
            .iter()
            .map(|(entity, action, _, _)| Self::new(*entity, *action))
    }

    const fn new(entity: Entity, action: Action) -> Self {
        Self { entity, action }
    }

    fn row(self) -> Option<&'static (Entity, Action, &'static str, &'static [&'static str])> {
        TABLE
            .iter()
            .find(|(entity, action, _, _)| *entity == self.entity && *action == self.action)
    }

    /// The relayed event for an (entity, action) pair amoCRM sent, if amolink relays it. An
    /// owner change that amoCRM reports under `responsible` for an entity whose owner changes are
    /// otherwise `update`s is relayed as `updated`.
    #[must_use]
    pub fn relayed(entity: Entity, action: Action) -> Option<Self> {
        let event = Self::new(entity, action);
        if event.row().is_some() {
            return Some(event);
        }
        (action == Action::ResponsibleChanged)
            .then(|| Self::new(entity, Action::Updated))
            .filter(|updated| updated.row().is_some())
    }

    /// `amocrm.lead.status_changed`
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.row().map_or("amocrm.unknown", |row| row.2)
    }

    /// The `settings` codes of `POST /api/v4/webhooks` that make amoCRM send this event.
    #[must_use]
    pub fn settings_codes(self) -> &'static [&'static str] {
        self.row().map_or(&[], |row| row.3)
    }
}

impl fmt::Display for AmoEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AmoEvent {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TABLE
            .iter()
            .find(|row| row.2 == s)
            .map(|(entity, action, _, _)| Self::new(*entity, *action))
            .ok_or_else(|| ValidationError::new("events", "unknown-amocrm-event"))
    }
}

/// A workspace's choice of amoCRM events to relay, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySelection(Vec<AmoEvent>);

impl RelaySelection {
    /// What a workspace relays until it chooses: every lead, contact, company and task event
    /// except notes — what "tell me when a lead moves" needs, without chat traffic.
    #[must_use]
    pub fn default_selection() -> Self {
        Self(
            AmoEvent::all()
                .filter(|event| {
                    matches!(
                        event.entity,
                        Entity::Lead | Entity::Contact | Entity::Company | Entity::Task
                    ) && event.action != Action::NoteAdded
                })
                .collect(),
        )
    }

    /// Parses the names a tenant chose; an empty choice is allowed (relay nothing).
    ///
    /// # Errors
    /// When a name is unknown.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ValidationError> {
        let mut chosen = Vec::new();
        for name in names {
            chosen.push(name.trim().parse::<AmoEvent>()?);
        }
        Ok(Self(
            AmoEvent::all().filter(|e| chosen.contains(e)).collect(),
        ))
    }

    /// Reads the stored comma-separated form.
    ///
    /// # Errors
    /// As [`RelaySelection::parse`].
    pub fn from_stored(raw: &str) -> Result<Self, ValidationError> {
        Self::parse(raw.split(',').filter(|s| !s.is_empty()))
    }

    #[must_use]
    pub fn to_stored(&self) -> String {
        self.names().collect::<Vec<_>>().join(",")
    }

    #[must_use]
    pub fn contains(&self, event: AmoEvent) -> bool {
        self.0.contains(&event)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = AmoEvent> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|e| e.as_str())
    }

    /// The `settings` list to subscribe with: every code of every chosen event, once, sorted.
    #[must_use]
    pub fn settings_codes(&self) -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = self
            .0
            .iter()
            .flat_map(|e| e.settings_codes().iter().copied())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: Vec<&str> = AmoEvent::all().map(AmoEvent::as_str).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for event in AmoEvent::all() {
            assert_eq!(event.as_str().parse::<AmoEvent>(), Ok(event));
            assert!(!event.settings_codes().is_empty());
            assert_eq!(
                event.as_str(),
                format!("amocrm.{}.{}", event.entity.as_str(), event.action.as_str())
            );
        }
        assert!("amocrm.lead.exploded".parse::<AmoEvent>().is_err());
    }

    #[test]
    fn owner_changes_of_contacts_are_updates() {
        assert_eq!(
            AmoEvent::relayed(Entity::Contact, Action::ResponsibleChanged).map(AmoEvent::as_str),
            Some("amocrm.contact.updated")
        );
        assert_eq!(
            AmoEvent::relayed(Entity::Lead, Action::ResponsibleChanged).map(AmoEvent::as_str),
            Some("amocrm.lead.responsible_changed")
        );
        assert_eq!(AmoEvent::relayed(Entity::Talk, Action::Deleted), None);
    }

    #[test]
    fn selections_map_to_settings_codes() {
        let selection =
            RelaySelection::parse(["amocrm.task.updated", "amocrm.lead.added"]).expect("valid");
        assert_eq!(
            selection.to_stored(),
            "amocrm.lead.added,amocrm.task.updated"
        );
        assert_eq!(
            selection.settings_codes(),
            vec!["add_lead", "responsible_task", "update_task"]
        );
        assert_eq!(
            RelaySelection::from_stored(&selection.to_stored()),
            Ok(selection)
        );
        assert!(RelaySelection::parse([]).expect("empty").is_empty());
        let default = RelaySelection::default_selection();
        assert!(default.contains("amocrm.lead.status_changed".parse().expect("known")));
        assert!(!default.contains("amocrm.lead.note_added".parse().expect("known")));
    }
}
