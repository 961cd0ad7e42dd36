//! What account webhooks put on the wire: the API v2 shapes of leads, contacts and notes,
//! flattened into PHP-style bracket keys (`leads[status][0][custom_fields][0][values][0][value]`),
//! every value a string, after the `account[...]` block, form-urlencoded.

use serde_json::{Value, json};

use crate::crm::catalog::{Catalog, FieldType};
use crate::crm::{Change, Contact, EntityKind, FieldValues, Lead, Note};

/// One POST's worth of changes: the same kind of change to one or more entities.
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    /// `settings` codes that select it (any one suffices).
    pub codes: Vec<&'static str>,
    /// Top-level key and action: `leads` + `status` → `leads[status][i]…`.
    pub entity: &'static str,
    pub action: &'static str,
    /// Each item's fields, keys relative to `{entity}[{action}][i]`.
    pub items: Vec<Vec<(String, String)>>,
}

/// The account a body speaks for.
#[derive(Debug, Clone)]
pub struct AccountBlock {
    pub id: i64,
    pub subdomain: String,
    pub host: String,
}

type Fields = Vec<(String, String)>;

fn put(fields: &mut Fields, key: &str, value: impl ToString) {
    fields.push((format!("[{key}]"), value.to_string()));
}

/// v2 `custom_fields`: `[custom_fields][i][id|name|code]` and `[values][j][value|enum]`; date
/// values are bare scalars (`[values][0]=1729717200`), as amoCRM sends them.
fn custom_fields(
    fields: &mut Fields,
    definitions: &[crate::crm::catalog::Field],
    values: &[FieldValues],
) {
    for (i, stored) in values.iter().enumerate() {
        let Some(field) = definitions.iter().find(|d| d.id == stored.field_id) else {
            continue;
        };
        let base = format!("[custom_fields][{i}]");
        fields.push((format!("{base}[id]"), field.id.to_string()));
        fields.push((format!("{base}[name]"), field.name.clone()));
        for (j, item) in stored.values.iter().enumerate() {
            let value = match &item.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if field.kind == FieldType::Date {
                fields.push((format!("{base}[values][{j}]"), value));
                continue;
            }
            fields.push((format!("{base}[values][{j}][value]"), value));
            if let Some(enum_id) = item.enum_id {
                fields.push((format!("{base}[values][{j}][enum]"), enum_id.to_string()));
            }
        }
        if let Some(code) = field.code {
            fields.push((format!("{base}[code]"), code.to_owned()));
        }
    }
}

fn lead_fields(lead: &Lead, catalog: &Catalog, account_id: i64, extra: &[(&str, i64)]) -> Fields {
    let mut fields = Vec::new();
    put(&mut fields, "id", lead.id);
    put(&mut fields, "name", &lead.name);
    put(&mut fields, "status_id", lead.status_id);
    for (key, value) in extra {
        put(&mut fields, key, value);
    }
    put(&mut fields, "price", lead.price);
    put(&mut fields, "responsible_user_id", lead.responsible_user_id);
    put(&mut fields, "last_modified", lead.updated_at);
    put(&mut fields, "modified_user_id", lead.updated_by);
    put(&mut fields, "created_user_id", lead.created_by);
    put(&mut fields, "date_create", lead.created_at);
    put(&mut fields, "pipeline_id", lead.pipeline_id);
    put(&mut fields, "account_id", account_id);
    custom_fields(&mut fields, &catalog.lead_fields, &lead.custom_fields);
    put(&mut fields, "created_at", lead.created_at);
    put(&mut fields, "updated_at", lead.updated_at);
    fields
}

fn contact_fields(
    contact: &Contact,
    catalog: &Catalog,
    account_id: i64,
    old_responsible: Option<i64>,
) -> Fields {
    let mut fields = Vec::new();
    put(&mut fields, "id", contact.id);
    put(&mut fields, "name", &contact.name);
    put(
        &mut fields,
        "responsible_user_id",
        contact.responsible_user_id,
    );
    if let Some(old) = old_responsible {
        put(&mut fields, "old_responsible_user_id", old);
    }
    put(&mut fields, "date_create", contact.created_at);
    put(&mut fields, "last_modified", contact.updated_at);
    put(&mut fields, "created_user_id", contact.created_by);
    put(&mut fields, "modified_user_id", contact.updated_by);
    put(&mut fields, "account_id", account_id);
    custom_fields(&mut fields, &catalog.contact_fields, &contact.custom_fields);
    put(&mut fields, "created_at", contact.created_at);
    put(&mut fields, "updated_at", contact.updated_at);
    put(&mut fields, "type", "contact");
    fields
}

fn note_fields(note: &Note, account_id: i64) -> Fields {
    let mut fields = Vec::new();
    let mut inner = |key: &str, value: String| fields.push((format!("[note][{key}]"), value));
    inner("text", note.text.clone());
    inner("attachement", note.file_name.clone().unwrap_or_default());
    inner("date_create", note.created_at.to_string());
    inner("note_type", note.note_type.to_string());
    let element_type = match note.entity {
        EntityKind::Contact => 1,
        EntityKind::Lead => 2,
    };
    inner("element_type", element_type.to_string());
    inner("element_id", note.entity_id.to_string());
    inner("account_id", account_id.to_string());
    // A JSON document inside a form value, as amoCRM sends it.
    inner(
        "metadata",
        json!({ "event_source": { "type": "api" } }).to_string(),
    );
    inner("created_by", note.created_by.to_string());
    inner("modified_by", note.created_by.to_string());
    inner("main_user_id", note.created_by.to_string());
    inner("id", note.id.to_string());
    inner("created_at", note.created_at.to_string());
    inner("updated_at", note.created_at.to_string());
    if note.entity == EntityKind::Contact {
        put(&mut fields, "type", "contact");
    }
    fields
}

/// The webhook event one change makes.
fn event_of(change: &Change, catalog: &Catalog, account_id: i64) -> HookEvent {
    let single = |codes: Vec<&'static str>, entity, action, fields| HookEvent {
        codes,
        entity,
        action,
        items: vec![fields],
    };
    match change {
        Change::LeadAdded(lead) => single(
            vec!["add_lead"],
            "leads",
            "add",
            lead_fields(lead, catalog, account_id, &[]),
        ),
        Change::LeadUpdated(lead) => single(
            vec!["update_lead"],
            "leads",
            "update",
            lead_fields(lead, catalog, account_id, &[]),
        ),
        Change::LeadStatus {
            lead,
            old_status_id,
        } => single(
            vec!["status_lead"],
            "leads",
            "status",
            lead_fields(
                lead,
                catalog,
                account_id,
                &[("old_status_id", *old_status_id)],
            ),
        ),
        Change::LeadResponsible {
            lead,
            old_responsible_user_id,
        } => single(
            vec!["responsible_lead"],
            "leads",
            "responsible",
            lead_fields(
                lead,
                catalog,
                account_id,
                &[("old_responsible_user_id", *old_responsible_user_id)],
            ),
        ),
        Change::LeadDeleted(lead) => {
            let mut fields = Vec::new();
            put(&mut fields, "id", lead.id);
            put(&mut fields, "status_id", lead.status_id);
            put(&mut fields, "pipeline_id", lead.pipeline_id);
            single(vec!["delete_lead"], "leads", "delete", fields)
        }
        Change::ContactAdded(contact) => single(
            vec!["add_contact"],
            "contacts",
            "add",
            contact_fields(contact, catalog, account_id, None),
        ),
        // An owner change is reported under `update`, with the old owner.
        Change::ContactUpdated {
            contact,
            old_responsible_user_id,
        } => single(
            match old_responsible_user_id {
                Some(_) => vec!["update_contact", "responsible_contact"],
                None => vec!["update_contact"],
            },
            "contacts",
            "update",
            contact_fields(contact, catalog, account_id, *old_responsible_user_id),
        ),
        Change::ContactDeleted(contact) => {
            let mut fields = Vec::new();
            put(&mut fields, "id", contact.id);
            put(&mut fields, "type", "contact");
            single(vec!["delete_contact"], "contacts", "delete", fields)
        }
        Change::NoteAdded(note) => match note.entity {
            EntityKind::Lead => single(
                vec!["note_lead"],
                "leads",
                "note",
                note_fields(note, account_id),
            ),
            EntityKind::Contact => single(
                vec!["note_contact"],
                "contacts",
                "note",
                note_fields(note, account_id),
            ),
        },
    }
}

/// The events of `changes`: consecutive changes of the same kind (one API request creating
/// three leads) share one body, as `[0]`, `[1]`, `[2]`. Notes are never merged, so a note with a
/// file arrives as two hooks.
pub fn events(changes: &[Change], catalog: &Catalog, account_id: i64) -> Vec<HookEvent> {
    let mut events: Vec<HookEvent> = Vec::new();
    for change in changes {
        let event = event_of(change, catalog, account_id);
        let mergeable = !matches!(change, Change::NoteAdded(_));
        match events.last_mut() {
            Some(last)
                if mergeable
                    && last.action != "note"
                    && (last.codes.as_slice(), last.entity, last.action)
                        == (event.codes.as_slice(), event.entity, event.action) =>
            {
                last.items.extend(event.items);
            }
            _ => events.push(event),
        }
    }
    events
}

/// The form body of one event: the account block first (as recent captures show), then the
/// items; brackets percent-encoded, spaces as `+`.
pub fn body(account: &AccountBlock, event: &HookEvent) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("account[subdomain]", &account.subdomain);
    form.append_pair("account[id]", &account.id.to_string());
    form.append_pair(
        "account[_links][self]",
        &format!("https://{}", account.host),
    );
    for (index, item) in event.items.iter().enumerate() {
        for (key, value) in item {
            form.append_pair(
                &format!("{}[{}][{index}]{key}", event.entity, event.action),
                value,
            );
        }
    }
    form.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::catalog::Lang;
    use crate::crm::{Actor, Crm, FieldInput, FieldRef, ItemInput, LeadInput};

    #[test]
    fn status_change_matches_the_documented_shape() {
        let mut crm = Crm::new(Lang::Ru);
        let actor = Actor {
            user_id: 5_000_001,
            now: 1_760_950_012,
        };
        let input = LeadInput {
            name: Some("Order #1182".into()),
            price: Some(25_000),
            custom_fields: vec![
                FieldInput {
                    field: FieldRef::Id(1_118_164),
                    values: Some(vec![ItemInput {
                        value: None,
                        enum_id: Some(908_107),
                        enum_code: None,
                    }]),
                },
                FieldInput {
                    field: FieldRef::Id(1_118_165),
                    values: Some(vec![ItemInput {
                        value: Some(json!(1_729_717_200)),
                        enum_id: None,
                        enum_code: None,
                    }]),
                },
            ],
            ..LeadInput::default()
        };
        let lead = crm.add_lead(input, actor).expect("lead");
        let moved = LeadInput {
            status_id: Some(142),
            ..LeadInput::default()
        };
        let changes = crm.update_lead(lead.id, moved, actor).expect("moved");
        let all = events(&changes, crm.catalog(), 29_847_561);
        let status = all.iter().find(|e| e.action == "status").expect("status");
        let account = AccountBlock {
            id: 29_847_561,
            subdomain: "acme".into(),
            host: "acme.amocrm.ru".into(),
        };
        let body = body(&account, status);
        assert!(body.starts_with(
            "account%5Bsubdomain%5D=acme&account%5Bid%5D=29847561&account%5B_links%5D%5Bself%5D=https%3A%2F%2Facme.amocrm.ru&"
        ), "{body}");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("leads[status][0][id]"),
            Some(lead.id.to_string().as_str())
        );
        assert_eq!(get("leads[status][0][status_id]"), Some("142"));
        assert_eq!(get("leads[status][0][old_status_id]"), Some("61457201"));
        assert_eq!(get("leads[status][0][name]"), Some("Order #1182"));
        assert_eq!(
            get("leads[status][0][custom_fields][0][values][0][value]"),
            Some("Сайт")
        );
        assert_eq!(
            get("leads[status][0][custom_fields][0][values][0][enum]"),
            Some("908107")
        );
        assert_eq!(
            get("leads[status][0][custom_fields][1][values][0]"),
            Some("1729717200")
        );
        assert!(all.iter().any(|e| e.action == "update"));
    }
}
