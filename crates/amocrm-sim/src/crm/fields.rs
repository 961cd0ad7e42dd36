//! Custom-field values as requests send them, checked against the field definitions: select
//! fields take an enum (by id or by its text), multitext fields (phones, e-mails) a text and an
//! enum code, numeric fields a number, date fields a Unix timestamp.

use serde_json::Value;

use super::catalog::{Field, FieldType};
use super::{FieldItem, FieldValues, Invalid};

/// New values for a custom field; `None` clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInput {
    pub field: FieldRef,
    pub values: Option<Vec<ItemInput>>,
}

/// A field named by id or by code.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    Id(i64),
    Code(String),
}

/// One value as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemInput {
    pub value: Option<Value>,
    pub enum_id: Option<i64>,
    pub enum_code: Option<String>,
}

/// Applies custom-field inputs to `stored`, checking them against the definitions.
pub fn apply_fields(
    definitions: &[Field],
    stored: &mut Vec<FieldValues>,
    inputs: Vec<FieldInput>,
    errors: &mut Vec<Invalid>,
) {
    for (index, input) in inputs.into_iter().enumerate() {
        let path = format!("custom_fields_values.{index}");
        let definition = definitions.iter().find(|d| match &input.field {
            FieldRef::Id(id) => d.id == *id,
            FieldRef::Code(code) => d.code.is_some_and(|c| c.eq_ignore_ascii_case(code)),
        });
        let Some(definition) = definition else {
            errors.push(Invalid::choice(format!("{path}.field_id")));
            continue;
        };
        stored.retain(|f| f.field_id != definition.id);
        let Some(items) = input.values.filter(|v| !v.is_empty()) else {
            continue;
        };
        let mut values = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match field_item(definition, item) {
                Ok(value) => values.push(value),
                Err(detail) => errors.push(Invalid::new(
                    format!("{path}.values.{i}.value"),
                    "InvalidValue",
                    detail,
                )),
            }
        }
        stored.push(FieldValues {
            field_id: definition.id,
            values,
        });
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One value checked against its field's type.
fn field_item(field: &Field, item: ItemInput) -> Result<FieldItem, String> {
    match field.kind {
        FieldType::Select => {
            let chosen = field.enums.iter().find(|e| {
                item.enum_id == Some(e.id)
                    || item
                        .value
                        .as_ref()
                        .and_then(scalar_text)
                        .is_some_and(|v| v == e.value)
            });
            chosen
                .map(|e| FieldItem {
                    value: Value::String(e.value.clone()),
                    enum_id: Some(e.id),
                })
                .ok_or_else(|| "The value you selected is not a valid choice.".to_owned())
        }
        FieldType::MultiText => {
            let text = item
                .value
                .as_ref()
                .and_then(scalar_text)
                .filter(|t| !t.is_empty())
                .ok_or("This value should not be blank.")?;
            let chosen = field
                .enums
                .iter()
                .find(|e| {
                    item.enum_id == Some(e.id)
                        || item.enum_code.as_deref().is_some_and(|c| {
                            e.code.is_some_and(|code| code.eq_ignore_ascii_case(c))
                        })
                })
                .or(field.enums.first());
            Ok(FieldItem {
                value: Value::String(text),
                enum_id: chosen.map(|e| e.id),
            })
        }
        FieldType::Numeric => {
            let text = item
                .value
                .as_ref()
                .and_then(scalar_text)
                .filter(|t| t.parse::<f64>().is_ok())
                .ok_or("This value should be a number.")?;
            Ok(FieldItem {
                value: Value::String(text),
                enum_id: None,
            })
        }
        FieldType::Date => {
            let timestamp = match item.value {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse::<i64>().ok(),
                _ => None,
            }
            .ok_or("This value should be a Unix timestamp.")?;
            Ok(FieldItem {
                value: Value::from(timestamp),
                enum_id: None,
            })
        }
        FieldType::Text => {
            let text = item
                .value
                .as_ref()
                .and_then(scalar_text)
                .ok_or("This value should be of type string.")?;
            Ok(FieldItem {
                value: Value::String(text),
                enum_id: None,
            })
        }
    }
}
