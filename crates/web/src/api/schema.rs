//! JSON Schemas (the OpenAPI 3.0 dialect) for the API.
//!
//! Request and response bodies are the serde types the handlers (de)serialise, their schemas
//! derived by `utoipa`'s `ToSchema` (4.x, which speaks OpenAPI 3.0), so a field added to a
//! struct is in the document without anyone writing it down. [`Schema`] builds the small inline
//! pieces that are not serde types (query and path parameters). A unit test serialises a sample
//! of each body and validates it against the document, and another checks that every component
//! is exactly the derived schema.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use utoipa::{
    ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, SchemaFormat, SchemaType},
    },
};

/// A schema fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema(pub Value);

impl Schema {
    fn typed(kind: &str) -> Self {
        Self(json!({ "type": kind }))
    }

    #[must_use]
    pub fn string() -> Self {
        Self::typed("string")
    }

    #[must_use]
    pub fn uuid() -> Self {
        Self::string().format("uuid")
    }

    #[must_use]
    pub fn date_time() -> Self {
        Self::string().format("date-time")
    }

    #[must_use]
    pub fn int64() -> Self {
        Self::typed("integer").format("int64")
    }

    #[must_use]
    pub fn integer() -> Self {
        Self::typed("integer")
    }

    #[must_use]
    pub fn boolean() -> Self {
        Self::typed("boolean")
    }

    /// A string limited to `values`.
    #[must_use]
    pub fn one_of(values: &[&str]) -> Self {
        Self(json!({ "type": "string", "enum": values }))
    }

    /// Any JSON object (free-form).
    #[must_use]
    pub fn free_object() -> Self {
        Self(json!({ "type": "object", "additionalProperties": true }))
    }

    #[must_use]
    pub fn array(items: Self) -> Self {
        Self(json!({ "type": "array", "items": items.0 }))
    }

    /// An object with exactly these properties; `true` marks a required one.
    #[must_use]
    pub fn object(properties: &[(&str, Self, bool)]) -> Self {
        let mut props = Map::new();
        let mut required = Vec::new();
        for (name, schema, is_required) in properties {
            props.insert((*name).to_owned(), schema.0.clone());
            if *is_required {
                required.push(Value::from(*name));
            }
        }
        let mut object = json!({
            "type": "object",
            "properties": props,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            object["required"] = Value::Array(required);
        }
        Self(object)
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        if let Value::Object(map) = &mut self.0 {
            map.insert(key.to_owned(), value);
        }
        self
    }

    #[must_use]
    pub fn format(self, format: &str) -> Self {
        self.set("format", format.into())
    }

    #[must_use]
    pub fn nullable(self) -> Self {
        self.set("nullable", true.into())
    }

    #[must_use]
    pub fn describe(self, text: &str) -> Self {
        self.set("description", text.into())
    }

    #[must_use]
    pub fn length(self, min: usize, max: usize) -> Self {
        self.set("minLength", min.into())
            .set("maxLength", max.into())
    }

    #[must_use]
    pub fn pattern(self, pattern: &str) -> Self {
        self.set("pattern", pattern.into())
    }

    #[must_use]
    pub fn range(self, min: i64, max: i64) -> Self {
        self.set("minimum", min.into()).set("maximum", max.into())
    }

    #[must_use]
    pub fn default_value(self, value: Value) -> Self {
        self.set("default", value)
    }

    #[must_use]
    pub fn example(self, value: Value) -> Self {
        self.set("example", value)
    }
}

/// The name `T`'s derived schema is filed under in `components/schemas`.
#[must_use]
pub fn name_of<T: ToSchema<'static>>() -> &'static str {
    T::schema().0
}

/// `T`'s derived schema as JSON.
#[must_use]
pub fn derived<T: ToSchema<'static>>() -> Value {
    serde_json::to_value(T::schema().1).unwrap_or(Value::Null)
}

/// A string limited to `values`, for `#[schema(schema_with = …)]` on fields whose values come
/// from a domain enum.
#[must_use]
pub fn string_enum<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> RefOr<utoipa::openapi::Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::String)
        .enum_values(Some(values))
        .into()
}

/// A URI string, described (`utoipa` 4 has no `uri` format of its own).
#[must_use]
pub fn uri(description: &str) -> RefOr<utoipa::openapi::Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::String)
        .format(Some(SchemaFormat::Custom("uri".to_owned())))
        .description(Some(description))
        .into()
}

/// The document's `components/schemas`, filled as operations reference types.
#[derive(Debug, Default)]
pub struct Components {
    schemas: BTreeMap<String, Value>,
}

impl Components {
    /// A `$ref` to `T`, adding its derived schema on first use. A type that refers to another
    /// named type references that one too (the `every_reference_resolves` test checks it).
    pub fn reference<T: ToSchema<'static>>(&mut self) -> Schema {
        let name = name_of::<T>();
        self.schemas
            .entry(name.to_owned())
            .or_insert_with(derived::<T>);
        Schema(json!({ "$ref": format!("#/components/schemas/{name}") }))
    }

    #[must_use]
    pub fn into_value(self) -> Value {
        Value::Object(self.schemas.into_iter().collect())
    }
}

/// The characters an end-user id may not contain, as a JSON Schema pattern (kept identical to
/// `domain::end_user::EndUserId`).
pub const PRINTABLE_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F]+$";

/// A deliberately small validator for the subset of JSON Schema this API uses; only for tests
/// that keep the schemas and the serialized types in step.
#[cfg(test)]
pub(crate) fn validate(value: &Value, schema: &Value, components: &Value) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = components
            .get(name)
            .ok_or_else(|| format!("unresolved $ref {reference}"))?;
        return validate(value, target, components);
    }
    if value.is_null() {
        return if schema.get("nullable") == Some(&Value::Bool(true)) {
            Ok(())
        } else {
            Err(format!("null where {schema} is not nullable"))
        };
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{value} is not one of {allowed:?}"));
    }
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let ok = match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !ok {
        return Err(format!("{value} is not of type {kind}"));
    }
    if let (Some(text), Some("date-time")) =
        (value.as_str(), schema.get("format").and_then(Value::as_str))
    {
        chrono::DateTime::parse_from_rfc3339(text).map_err(|e| format!("{text}: {e}"))?;
    }
    if let (Some(text), Some("uuid")) =
        (value.as_str(), schema.get("format").and_then(Value::as_str))
    {
        uuid::Uuid::parse_str(text).map_err(|e| format!("{text}: {e}"))?;
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for item in list {
            validate(item, items, components)?;
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return Err(format!("missing required property {name}"));
            }
        }
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => {
                    validate(field, field_schema, components)
                        .map_err(|e| format!("{name}: {e}"))?;
                }
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("property {name} is not in the schema"));
                }
                None => {}
            }
        }
    }
    Ok(())
}
