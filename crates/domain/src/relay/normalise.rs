//! From one expanded amoCRM body to tenant events: one per (entity, action, item).
//!
//! amoCRM's body is `{<entity>: {<action>: [items]}, account: {…}}` in the API v2 shape, every
//! value a string (amocrm-webhooks.md §2). Each item becomes a [`NormalisedEvent`] with:
//! - the event type from the body keys (`contacts` holds companies too, told apart by `type`;
//!   tasks come under the singular `task`; notes under `<entity>[note][i][note]`);
//! - `fields`: the item as sent, with fields that are certainly integers (ids, unix times, …)
//!   typed as numbers when their text is a plain integer — task dates such as
//!   `2026-10-21 12:00:00` stay strings, as does anything that does not parse;
//! - `custom_fields`: the v2 list made regular — always a list of `{id, name, code, values}`
//!   with `values` always a list of `{value, enum}` (amoCRM sends bare scalars for dates and a
//!   single object for radio buttons);
//! - the raw item, untouched, for tenants who want exactly what amoCRM said;
//! - a **dedup key**.
//!
//! ## The dedup key
//! amoCRM's bodies carry no event id, and its retries (and occasional duplicates) resend the same
//! body. The key is SHA-256 over the account id, the body's entity and action keys, and the item
//! as a canonical JSON text (keys sorted, after expansion). Hashing the whole item rather than
//! `(id, last_modified)` keeps two different changes reported in the same second apart (a price
//! edit and a stage move of one lead both carry the same `updated_at`), while a retry —
//! byte-identical, or re-encoded with another key order — maps to the same key. Within one
//! connection, storage keeps each key once, so amoCRM's retries and duplicates reach the tenant
//! once.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::{
    form::{self, FormError},
    kinds::{Action, AmoEvent, Entity},
};

/// The account block of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBlock {
    pub id: i64,
    pub subdomain: Option<String>,
    /// The host from `account[_links][self]` (e.g. `acme.amocrm.ru`), which is where the account
    /// really lives — not `subdomain` + a guessed domain.
    pub host: Option<String>,
}

/// One tenant event, before it is tied to a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalisedEvent {
    pub event: AmoEvent,
    pub entity_id: Option<i64>,
    pub fields: Map<String, Value>,
    pub custom_fields: Vec<Value>,
    pub raw_item: Value,
    /// Hex SHA-256; see the module documentation.
    pub dedup_key: String,
}

/// What one body held.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub account: AccountBlock,
    pub events: Vec<NormalisedEvent>,
    /// `entity[action]` pairs amolink does not relay (kept in the raw delivery, counted here).
    pub ignored: Vec<String>,
}

/// Why a body is not an amoCRM event delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error(transparent)]
    Form(#[from] FormError),
    #[error("the body has no numeric account[id]")]
    NoAccount,
}

/// Fields whose values are integers whenever they parse as one.
const INTEGER_FIELDS: &[&str] = &[
    "id",
    "account_id",
    "status_id",
    "old_status_id",
    "pipeline_id",
    "old_pipeline_id",
    "price",
    "responsible_user_id",
    "old_responsible_user_id",
    "created_user_id",
    "modified_user_id",
    "created_by",
    "modified_by",
    "main_user_id",
    "main_user",
    "element_id",
    "element_type",
    "entity_id",
    "contact_id",
    "company_id",
    "task_type",
    "note_type",
    "group_id",
    "catalog_id",
    "talk_id",
    "date_create",
    "last_modified",
    "created_at",
    "updated_at",
    "complete_till",
    "complete_before",
    "timestamp_x",
    "enum",
];

/// `Some(n)` for plain decimal integers only (`-5`, `0`, `42`; not `007`, `+1`, `1e3`, `1.0`).
fn plain_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if plain { text.parse().ok() } else { None }
}

fn typed(name: &str, value: &Value) -> Value {
    match value {
        Value::String(text) if INTEGER_FIELDS.contains(&name) => {
            plain_integer(text).map_or_else(|| value.clone(), Value::from)
        }
        other => other.clone(),
    }
}

/// The items of a container: a list's elements, or an object's values in key order (numeric
/// keys that did not form a list, e.g. after amoCRM skipped an index).
fn items(container: &Value) -> Vec<&Value> {
    match container {
        Value::Array(list) => list.iter().collect(),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries
                .sort_by_key(|(key, _)| (plain_integer(key).unwrap_or(i64::MAX), (*key).clone()));
            entries.into_iter().map(|(_, value)| value).collect()
        }
        _ => Vec::new(),
    }
}

fn custom_field_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            out.insert(
                "value".into(),
                map.get("value").cloned().unwrap_or(Value::Null),
            );
            out.insert(
                "enum".into(),
                map.get("enum").map_or(Value::Null, |e| typed("enum", e)),
            );
            for (key, extra) in map {
                if key != "value" && key != "enum" {
                    out.insert(key.clone(), extra.clone());
                }
            }
            Value::Object(out)
        }
        scalar => {
            let mut out = Map::new();
            out.insert("value".into(), scalar.clone());
            out.insert("enum".into(), Value::Null);
            Value::Object(out)
        }
    }
}

fn custom_field(field: &Value) -> Value {
    let Value::Object(map) = field else {
        return field.clone();
    };
    let values = match map.get("values") {
        // A radio button sends one object, not a list of them.
        Some(Value::Object(single)) if single.contains_key("value") => {
            vec![custom_field_value(&Value::Object(single.clone()))]
        }
        Some(container @ (Value::Object(_) | Value::Array(_))) => items(container)
            .into_iter()
            .map(custom_field_value)
            .collect(),
        Some(scalar @ Value::String(_)) => vec![custom_field_value(scalar)],
        _ => Vec::new(),
    };
    let mut out = Map::new();
    out.insert(
        "id".into(),
        map.get("id").map_or(Value::Null, |id| typed("id", id)),
    );
    out.insert(
        "name".into(),
        map.get("name").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "code".into(),
        map.get("code").cloned().unwrap_or(Value::Null),
    );
    out.insert("values".into(), Value::Array(values));
    Value::Object(out)
}

/// Hex SHA-256 of the dedup material.
fn dedup_key(account: i64, entity_key: &str, action_key: &str, item: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"amolink|amocrm-event|v1\n");
    hasher.update(account.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(entity_key.as_bytes());
    hasher.update(b"\n");
    hasher.update(action_key.as_bytes());
    hasher.update(b"\n");
    // serde_json's maps are ordered by key, so this text is canonical.
    hasher.update(item.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

fn entity_for(body_key: &str, item: &Value) -> Option<Entity> {
    Some(match body_key {
        "leads" => Entity::Lead,
        "contacts" => match item.get("type").and_then(Value::as_str) {
            Some("company") => Entity::Company,
            _ => Entity::Contact,
        },
        "companies" => Entity::Company,
        "customers" => Entity::Customer,
        "task" | "tasks" => Entity::Task,
        "talk" => Entity::Talk,
        "message" => Entity::Message,
        _ => return None,
    })
}

fn account_block(tree: &Map<String, Value>) -> Result<AccountBlock, NormaliseError> {
    let account = tree.get("account").ok_or(NormaliseError::NoAccount)?;
    let id = account
        .get("id")
        .and_then(Value::as_str)
        .and_then(plain_integer)
        .ok_or(NormaliseError::NoAccount)?;
    let host = account
        .get("_links")
        .and_then(|links| links.get("self"))
        .and_then(Value::as_str)
        .and_then(|link| url::Url::parse(link).ok())
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
    Ok(AccountBlock {
        id,
        subdomain: account
            .get("subdomain")
            .and_then(Value::as_str)
            .map(str::to_owned),
        host,
    })
}

/// One item of `entity_key[action_key]`.
fn normalise_item(
    account: i64,
    entity_key: &str,
    action_key: &str,
    event: AmoEvent,
    item: &Value,
) -> NormalisedEvent {
    // A note's fields sit one level down: `leads[note][0][note][text]`.
    let subject = if event.action == Action::NoteAdded {
        item.get("note").unwrap_or(item)
    } else {
        item
    };
    let mut fields = Map::new();
    let mut custom_fields = Vec::new();
    if let Value::Object(map) = subject {
        for (name, value) in map {
            if name == "custom_fields" {
                custom_fields = items(value).into_iter().map(custom_field).collect();
            } else {
                fields.insert(name.clone(), typed(name, value));
            }
        }
    }
    let id_field = match event.entity {
        Entity::Talk => "talk_id",
        _ => "id",
    };
    let entity_id = fields.get(id_field).and_then(Value::as_i64);
    NormalisedEvent {
        event,
        entity_id,
        fields,
        custom_fields,
        raw_item: item.clone(),
        dedup_key: dedup_key(account, entity_key, action_key, item),
    }
}

/// Normalises an expanded body.
///
/// # Errors
/// [`NormaliseError::NoAccount`] when the account block is missing or its id is not a number.
pub fn normalise_tree(tree: &Map<String, Value>) -> Result<Normalised, NormaliseError> {
    let account = account_block(tree)?;
    let mut events = Vec::new();
    let mut ignored = Vec::new();
    for (entity_key, actions) in tree {
        if entity_key == "account" {
            continue;
        }
        let Value::Object(actions) = actions else {
            ignored.push(entity_key.clone());
            continue;
        };
        for (action_key, container) in actions {
            let action = Action::from_body_key(action_key);
            for item in items(container) {
                let relayed = action
                    .zip(entity_for(entity_key, item))
                    .and_then(|(action, entity)| AmoEvent::relayed(entity, action));
                match relayed {
                    Some(event) => events.push(normalise_item(
                        account.id, entity_key, action_key, event, item,
                    )),
                    None => ignored.push(format!("{entity_key}[{action_key}]")),
                }
            }
        }
    }
    ignored.dedup();
    Ok(Normalised {
        account,
        events,
        ignored,
    })
}

/// Expands and normalises a raw body.
///
/// # Errors
/// As [`form::expand`] and [`normalise_tree`].
pub fn normalise(body: &[u8]) -> Result<Normalised, NormaliseError> {
    normalise_tree(&form::expand(body)?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(lines: &str) -> Vec<u8> {
        let pairs: Vec<(String, String)> = lines
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        form::encode(&pairs).into_bytes()
    }

    /// amocrm-webhooks.md §2.4, verbatim.
    const STATUS_CHANGE: &str = "
        account[subdomain]=acme
        account[id]=29847561
        account[_links][self]=https://acme.amocrm.ru
        leads[status][0][id]=33812045
        leads[status][0][name]=Order #1182
        leads[status][0][status_id]=142
        leads[status][0][old_status_id]=61457203
        leads[status][0][price]=25000
        leads[status][0][responsible_user_id]=8120331
        leads[status][0][last_modified]=1761037455
        leads[status][0][modified_user_id]=8120331
        leads[status][0][created_user_id]=8120331
        leads[status][0][date_create]=1760950012
        leads[status][0][pipeline_id]=7211390
        leads[status][0][account_id]=29847561
        leads[status][0][custom_fields][0][id]=1118164
        leads[status][0][custom_fields][0][name]=Source
        leads[status][0][custom_fields][0][values][0][value]=Website
        leads[status][0][custom_fields][0][values][0][enum]=908107
        leads[status][0][created_at]=1760950012
        leads[status][0][updated_at]=1761037455
    ";

    /// amocrm-webhooks.md §2.5, verbatim.
    const CONTACT_ADDED: &str = "
        account[subdomain]=acme
        account[id]=29847561
        account[_links][self]=https://acme.amocrm.ru
        contacts[add][0][id]=51200917
        contacts[add][0][name]=Ivan Petrov
        contacts[add][0][responsible_user_id]=8120331
        contacts[add][0][date_create]=1761037601
        contacts[add][0][last_modified]=1761037601
        contacts[add][0][created_user_id]=8120331
        contacts[add][0][modified_user_id]=8120331
        contacts[add][0][account_id]=29847561
        contacts[add][0][custom_fields][0][id]=735649
        contacts[add][0][custom_fields][0][name]=Phone
        contacts[add][0][custom_fields][0][values][0][value]=+79990000000
        contacts[add][0][custom_fields][0][values][0][enum]=718321
        contacts[add][0][custom_fields][0][code]=PHONE
        contacts[add][0][created_at]=1761037601
        contacts[add][0][updated_at]=1761037601
        contacts[add][0][type]=contact
    ";

    #[test]
    fn a_stage_move_becomes_one_status_changed_event() {
        let out = normalise(&body(STATUS_CHANGE)).expect("normalises");
        assert_eq!(
            out.account,
            AccountBlock {
                id: 29_847_561,
                subdomain: Some("acme".into()),
                host: Some("acme.amocrm.ru".into()),
            }
        );
        assert!(out.ignored.is_empty());
        let [event] = out.events.as_slice() else {
            panic!("one event: {:?}", out.events);
        };
        assert_eq!(event.event.as_str(), "amocrm.lead.status_changed");
        assert_eq!(event.entity_id, Some(33_812_045));
        assert_eq!(event.fields["name"], "Order #1182");
        assert_eq!(event.fields["status_id"], 142);
        assert_eq!(event.fields["old_status_id"], 61_457_203);
        assert_eq!(event.fields["price"], 25_000);
        assert_eq!(event.fields["updated_at"], 1_761_037_455);
        assert!(!event.fields.contains_key("custom_fields"));
        assert_eq!(
            event.custom_fields,
            vec![json!({"id": 1_118_164, "name": "Source", "code": null,
                        "values": [{"value": "Website", "enum": 908_107}]})]
        );
        assert_eq!(event.raw_item["price"], "25000", "the raw item is as sent");
        assert_eq!(event.dedup_key.len(), 64);
    }

    #[test]
    fn a_contact_added_keeps_its_phone_as_sent() {
        let out = normalise(&body(CONTACT_ADDED)).expect("normalises");
        let [event] = out.events.as_slice() else {
            panic!("one event");
        };
        assert_eq!(event.event.as_str(), "amocrm.contact.added");
        assert_eq!(event.entity_id, Some(51_200_917));
        assert_eq!(event.custom_fields[0]["code"], "PHONE");
        assert_eq!(event.custom_fields[0]["values"][0]["value"], "+79990000000");
        assert_eq!(event.fields["type"], "contact");
    }

    #[test]
    fn companies_tasks_notes_and_batches() {
        let out = normalise(&body(
            "account[id]=1
             contacts[update][0][id]=7
             contacts[update][0][type]=company
             contacts[update][0][linked_leads_id][15319601][ID]=15319601
             contacts[update][1][id]=8
             contacts[update][1][type]=contact
             task[update][0][id]=9
             task[update][0][complete_till]=2026-10-21 12:00:00
             leads[note][0][note][id]=10
             leads[note][0][note][text]=hello
             leads[note][0][note][element_id]=33812045
             unsorted[add][0][uid]=x",
        ))
        .expect("normalises");
        let names: Vec<(&str, Option<i64>)> = out
            .events
            .iter()
            .map(|e| (e.event.as_str(), e.entity_id))
            .collect();
        assert_eq!(
            names,
            vec![
                ("amocrm.company.updated", Some(7)),
                ("amocrm.contact.updated", Some(8)),
                ("amocrm.lead.note_added", Some(10)),
                ("amocrm.task.updated", Some(9)),
            ]
        );
        let company = &out.events[0];
        assert_eq!(
            company.fields["linked_leads_id"],
            json!({"15319601": {"ID": "15319601"}})
        );
        let task = &out.events[3];
        assert_eq!(task.fields["complete_till"], "2026-10-21 12:00:00");
        assert_eq!(out.ignored, vec!["unsorted[add]".to_owned()]);
        assert_eq!(out.account.host, None);
    }

    #[test]
    fn custom_field_shapes_are_made_regular() {
        let out = normalise(&body(
            "account[id]=1
             leads[add][0][id]=1
             leads[add][0][custom_fields][0][id]=1
             leads[add][0][custom_fields][0][values][0]=1729717200
             leads[add][0][custom_fields][1][id]=2
             leads[add][0][custom_fields][1][values][value]=2
             leads[add][0][custom_fields][1][values][enum]=566642",
        ))
        .expect("normalises");
        let fields = &out.events[0].custom_fields;
        assert_eq!(
            fields[0]["values"],
            json!([{"value": "1729717200", "enum": null}])
        );
        assert_eq!(
            fields[1]["values"],
            json!([{"value": "2", "enum": 566_642}])
        );
    }

    #[test]
    fn retries_and_reordered_bodies_share_a_key_and_different_changes_do_not() {
        let first = normalise(&body(STATUS_CHANGE)).expect("normalises");
        // The same body with account[…] last (2018-style order) and different percent-encoding.
        let mut lines: Vec<&str> = STATUS_CHANGE.lines().collect();
        lines.rotate_left(4);
        let reordered = normalise(&body(&lines.join("\n"))).expect("normalises");
        assert_eq!(first.events[0].dedup_key, reordered.events[0].dedup_key);
        let edited = normalise(&body(&STATUS_CHANGE.replace("=25000", "=26000"))).expect("ok");
        assert_ne!(first.events[0].dedup_key, edited.events[0].dedup_key);
        let other_account = normalise(&body(
            &STATUS_CHANGE.replace("account[id]=29847561", "account[id]=2"),
        ))
        .expect("ok");
        assert_ne!(first.events[0].dedup_key, other_account.events[0].dedup_key);
    }

    #[test]
    fn bodies_without_an_account_are_refused() {
        for bad in ["leads[add][0][id]=1", "account[id]=abc", "account=1", ""] {
            assert_eq!(
                normalise(&body(bad)),
                Err(NormaliseError::NoAccount),
                "{bad}"
            );
        }
    }
}
