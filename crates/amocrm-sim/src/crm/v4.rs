//! The API v4 JSON of leads, contacts and pipelines: rendering them as amoCRM does, and reading
//! request bodies with amoCRM's strictness (wrong types are validation errors, unknown fields
//! are ignored).

use serde_json::{Map, Value, json};

use super::catalog::{Catalog, Field, FieldType, Pipeline};
use super::{
    Contact, ContactInput, FieldInput, FieldRef, FieldValues, Invalid, ItemInput, Lead, LeadInput,
};

/// Where an entity lives: used for `_links` and `account_id`.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub account_id: i64,
    pub host: &'a str,
}

impl Site<'_> {
    pub fn link(&self, path: &str) -> Value {
        json!({ "self": { "href": format!("https://{}{path}", self.host) } })
    }
}

fn fields_json(definitions: &[Field], values: &[FieldValues]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    let rendered: Vec<Value> = values
        .iter()
        .filter_map(|stored| {
            let field = definitions.iter().find(|d| d.id == stored.field_id)?;
            let items: Vec<Value> = stored
                .values
                .iter()
                .map(|item| {
                    let mut value = json!({ "value": item.value });
                    if let Some(id) = item.enum_id {
                        value["enum_id"] = json!(id);
                        if field.kind == FieldType::MultiText {
                            let code = field.enums.iter().find(|e| e.id == id).and_then(|e| e.code);
                            value["enum_code"] = json!(code);
                        }
                    }
                    value
                })
                .collect();
            Some(json!({
                "field_id": field.id,
                "field_name": field.name,
                "field_code": field.code,
                "field_type": field.kind.as_str(),
                "values": items,
            }))
        })
        .collect();
    Value::Array(rendered)
}

/// A lead as `GET /api/v4/leads` shows it; `with_contacts` adds `_embedded.contacts`.
pub fn lead(lead: &Lead, catalog: &Catalog, site: Site<'_>, with_contacts: bool) -> Value {
    let mut embedded = json!({ "tags": [], "companies": [] });
    if with_contacts {
        let contacts: Vec<Value> = lead
            .contact_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                json!({
                    "id": id,
                    "is_main": i == 0,
                    "_links": site.link(&format!("/api/v4/contacts/{id}")),
                })
            })
            .collect();
        embedded["contacts"] = Value::Array(contacts);
    }
    json!({
        "id": lead.id,
        "name": lead.name,
        "price": lead.price,
        "responsible_user_id": lead.responsible_user_id,
        "group_id": 0,
        "status_id": lead.status_id,
        "pipeline_id": lead.pipeline_id,
        "loss_reason_id": null,
        "created_by": lead.created_by,
        "updated_by": lead.updated_by,
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
        "closed_at": lead.closed_at,
        "closest_task_at": null,
        "is_deleted": false,
        "custom_fields_values": fields_json(&catalog.lead_fields, &lead.custom_fields),
        "score": null,
        "account_id": site.account_id,
        "labor_cost": null,
        "_links": site.link(&format!("/api/v4/leads/{}", lead.id)),
        "_embedded": embedded,
    })
}

/// A contact as `GET /api/v4/contacts` shows it; `leads` are the ids of its leads when
/// `with=leads` was asked for.
pub fn contact(
    contact: &Contact,
    catalog: &Catalog,
    site: Site<'_>,
    leads: Option<&[i64]>,
) -> Value {
    let mut embedded = json!({ "tags": [], "companies": [] });
    if let Some(leads) = leads {
        let leads: Vec<Value> = leads
            .iter()
            .map(|id| json!({ "id": id, "_links": site.link(&format!("/api/v4/leads/{id}")) }))
            .collect();
        embedded["leads"] = Value::Array(leads);
    }
    json!({
        "id": contact.id,
        "name": contact.name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "responsible_user_id": contact.responsible_user_id,
        "group_id": 0,
        "created_by": contact.created_by,
        "updated_by": contact.updated_by,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
        "closest_task_at": null,
        "is_deleted": false,
        "is_unsorted": false,
        "custom_fields_values": fields_json(&catalog.contact_fields, &contact.custom_fields),
        "account_id": site.account_id,
        "_links": site.link(&format!("/api/v4/contacts/{}", contact.id)),
        "_embedded": embedded,
    })
}

/// A pipeline with its statuses, as `GET /api/v4/leads/pipelines` shows it.
pub fn pipeline(pipeline: &Pipeline, site: Site<'_>) -> Value {
    let statuses: Vec<Value> = pipeline
        .statuses
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "sort": s.sort,
                "is_editable": s.id != super::catalog::WON && s.id != super::catalog::LOST,
                "pipeline_id": pipeline.id,
                "color": s.color,
                "type": s.kind,
                "account_id": site.account_id,
                "_links": site.link(&format!(
                    "/api/v4/leads/pipelines/{}/statuses/{}",
                    pipeline.id, s.id
                )),
            })
        })
        .collect();
    json!({
        "id": pipeline.id,
        "name": pipeline.name,
        "sort": pipeline.sort,
        "is_main": pipeline.is_main,
        "is_unsorted_on": pipeline.is_main,
        "is_archive": false,
        "account_id": site.account_id,
        "_links": site.link(&format!("/api/v4/leads/pipelines/{}", pipeline.id)),
        "_embedded": { "statuses": statuses },
    })
}

/// Reads typed fields out of one request object, collecting every type error.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<Invalid>,
}

impl<'a> Reader<'a> {
    fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    fn wrong_type(&mut self, path: &str, kind: &str) {
        self.errors.push(Invalid::new(
            path,
            "InvalidType",
            format!("This value should be of type {kind}."),
        ));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.object.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            _ => {
                self.wrong_type(key, "string");
                None
            }
        }
    }

    fn int(&mut self, key: &str) -> Option<i64> {
        match self.object.get(key)? {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::Null => None,
            _ => {
                self.wrong_type(key, "int");
                None
            }
        }
    }

    fn fields(&mut self) -> Vec<FieldInput> {
        let Some(raw) = self.object.get("custom_fields_values") else {
            return Vec::new();
        };
        let Some(list) = raw.as_array() else {
            if !raw.is_null() {
                self.wrong_type("custom_fields_values", "array");
            }
            return Vec::new();
        };
        let mut inputs = Vec::new();
        for (index, entry) in list.iter().enumerate() {
            let path = format!("custom_fields_values.{index}");
            let field = match (entry.get("field_id"), entry.get("field_code")) {
                (Some(Value::Number(n)), _) if n.is_i64() => n.as_i64().map(FieldRef::Id),
                (_, Some(Value::String(code))) => Some(FieldRef::Code(code.clone())),
                _ => None,
            };
            let Some(field) = field else {
                self.errors.push(Invalid::new(
                    format!("{path}.field_id"),
                    "NotBlank",
                    "This value should not be blank.",
                ));
                continue;
            };
            let values = match entry.get("values") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|item| ItemInput {
                            value: item.get("value").filter(|v| !v.is_null()).cloned(),
                            enum_id: item.get("enum_id").and_then(Value::as_i64),
                            enum_code: item
                                .get("enum_code")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                        })
                        .collect(),
                ),
                Some(_) => {
                    self.wrong_type(&format!("{path}.values"), "array");
                    continue;
                }
            };
            inputs.push(FieldInput { field, values });
        }
        inputs
    }

    fn embedded_ids(&mut self, key: &str) -> Option<Vec<i64>> {
        let list = self.object.get("_embedded")?.get(key)?;
        let Some(list) = list.as_array() else {
            self.wrong_type(&format!("_embedded.{key}"), "array");
            return None;
        };
        let mut ids = Vec::new();
        for (index, item) in list.iter().enumerate() {
            match item.get("id").and_then(Value::as_i64) {
                Some(id) => ids.push(id),
                None => self.wrong_type(&format!("_embedded.{key}.{index}.id"), "int"),
            }
        }
        Some(ids)
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<Invalid>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// The lead fields of one request object.
pub fn lead_input(object: &Map<String, Value>) -> Result<LeadInput, Vec<Invalid>> {
    let mut reader = Reader::new(object);
    let input = LeadInput {
        name: reader.string("name"),
        price: reader.int("price"),
        status_id: reader.int("status_id"),
        pipeline_id: reader.int("pipeline_id"),
        responsible_user_id: reader.int("responsible_user_id"),
        custom_fields: reader.fields(),
        contact_ids: reader.embedded_ids("contacts"),
    };
    reader.finish(input)
}

/// The contact fields of one request object.
pub fn contact_input(object: &Map<String, Value>) -> Result<ContactInput, Vec<Invalid>> {
    let mut reader = Reader::new(object);
    let input = ContactInput {
        name: reader.string("name"),
        first_name: reader.string("first_name"),
        last_name: reader.string("last_name"),
        responsible_user_id: reader.int("responsible_user_id"),
        custom_fields: reader.fields(),
    };
    reader.finish(input)
}

/// The `id` of a PATCH item.
pub fn id_of(object: &Map<String, Value>) -> Result<i64, Vec<Invalid>> {
    let mut reader = Reader::new(object);
    match reader.int("id") {
        Some(id) => reader.finish(id),
        None => {
            let mut errors = reader.errors;
            if errors.is_empty() {
                errors.push(Invalid::new(
                    "id",
                    "NotBlank",
                    "This value should not be blank.",
                ));
            }
            Err(errors)
        }
    }
}

/// amoCRM's 400 body for requests whose items broke rules; `failures` pairs each item's
/// `request_id` with its errors.
pub fn validation_errors(failures: &[(String, Vec<Invalid>)]) -> Value {
    let items: Vec<Value> = failures
        .iter()
        .map(|(request_id, errors)| {
            let errors: Vec<Value> = errors
                .iter()
                .map(|e| json!({ "code": e.code, "path": e.path, "detail": e.detail }))
                .collect();
            json!({ "request_id": request_id, "errors": errors })
        })
        .collect();
    json!({
        "validation-errors": items,
        "title": "Bad Request",
        "type": "https://httpstatus.es/400",
        "status": 400,
        "detail": "Request validation failed",
    })
}
