//! List parameters of `GET /api/v4/leads` and `/contacts`, roughly as amoCRM reads them:
//! `page`, `limit` (≤ 250), `order[id|created_at|updated_at]=asc|desc`, `query` (a search over
//! names and field values), `filter[id]`, `filter[responsible_user_id]`,
//! `filter[statuses][i][pipeline_id|status_id]` and `with`.

use serde_json::Value;

use super::{Contact, FieldValues, Lead};

/// Largest page the API serves.
pub const MAX_LIMIT: usize = 250;
const DEFAULT_LIMIT: usize = 50;

/// What the list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKey {
    Id,
    CreatedAt,
    UpdatedAt,
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub page: usize,
    pub limit: usize,
    pub order: OrderKey,
    pub descending: bool,
    pub query: Option<String>,
    pub ids: Vec<i64>,
    pub responsible: Vec<i64>,
    /// `(pipeline_id, status_id)` pairs; a missing status matches the whole pipeline.
    pub stages: Vec<(Option<i64>, Option<i64>)>,
    pub with: Vec<String>,
}

fn positive(key: &str, value: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("`{key}` must be a positive integer"))
}

fn ids(key: &str, value: &str) -> Result<Vec<i64>, String> {
    value
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{key}` must hold integers"))
        })
        .collect()
}

impl ListQuery {
    /// Reads the query pairs; malformed numbers are an error, unknown keys are ignored.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut list = Self {
            page: 1,
            limit: DEFAULT_LIMIT,
            order: OrderKey::Id,
            descending: false,
            query: None,
            ids: Vec::new(),
            responsible: Vec::new(),
            stages: Vec::new(),
            with: Vec::new(),
        };
        for (key, value) in pairs {
            let path: Vec<&str> = key
                .split('[')
                .map(|part| part.trim_end_matches(']'))
                .collect();
            match path.as_slice() {
                ["page"] => list.page = positive(key, value)?,
                ["limit"] => list.limit = positive(key, value)?.min(MAX_LIMIT),
                ["query"] => {
                    list.query = Some(value.trim().to_lowercase()).filter(|q| !q.is_empty());
                }
                ["with"] => list
                    .with
                    .extend(value.split(',').map(|w| w.trim().to_owned())),
                ["order", field] => {
                    list.order = match *field {
                        "created_at" => OrderKey::CreatedAt,
                        "updated_at" => OrderKey::UpdatedAt,
                        "id" => OrderKey::Id,
                        _ => return Err(format!("cannot order by `{field}`")),
                    };
                    list.descending = match value.as_str() {
                        "desc" => true,
                        "asc" => false,
                        _ => return Err("order must be `asc` or `desc`".to_owned()),
                    };
                }
                ["filter", "id", ..] => list.ids.extend(ids(key, value)?),
                ["filter", "responsible_user_id", ..] => {
                    list.responsible.extend(ids(key, value)?);
                }
                ["filter", "statuses", index, field] => {
                    let index = index
                        .parse::<usize>()
                        .ok()
                        .filter(|i| *i < MAX_LIMIT)
                        .ok_or_else(|| format!("`{key}`: bad index"))?;
                    let id = ids(key, value)?.first().copied();
                    if list.stages.len() <= index {
                        list.stages.resize(index + 1, (None, None));
                    }
                    match *field {
                        "pipeline_id" => list.stages[index].0 = id,
                        "status_id" => list.stages[index].1 = id,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(list)
    }

    /// Whether `with` names `part`.
    pub fn wants(&self, part: &str) -> bool {
        self.with.iter().any(|w| w == part)
    }

    /// The requested page of `items` (already in id order) and whether another page follows.
    pub fn select<'a, T: Listable>(
        &self,
        items: impl Iterator<Item = &'a T>,
    ) -> (Vec<&'a T>, bool) {
        let mut matching: Vec<&T> = items.filter(|item| self.matches(*item)).collect();
        let key = |item: &&T| match self.order {
            OrderKey::Id => (item.id(), item.id()),
            OrderKey::CreatedAt => (item.created_at(), item.id()),
            OrderKey::UpdatedAt => (item.updated_at(), item.id()),
        };
        matching.sort_by_key(key);
        if self.descending {
            matching.reverse();
        }
        let start = self.page.saturating_sub(1).saturating_mul(self.limit);
        let has_next = matching.len() > start.saturating_add(self.limit);
        let page = matching.into_iter().skip(start).take(self.limit).collect();
        (page, has_next)
    }

    fn matches<T: Listable>(&self, item: &T) -> bool {
        (self.ids.is_empty() || self.ids.contains(&item.id()))
            && (self.responsible.is_empty() || self.responsible.contains(&item.responsible()))
            && (self.stages.is_empty()
                || item.stage().is_some_and(|(pipeline, status)| {
                    self.stages.iter().any(|(p, s)| {
                        p.is_none_or(|p| p == pipeline) && s.is_none_or(|s| s == status)
                    })
                }))
            && self.query.as_deref().is_none_or(|q| item.mentions(q))
    }
}

/// What listing needs from an entity.
pub trait Listable {
    fn id(&self) -> i64;
    fn created_at(&self) -> i64;
    fn updated_at(&self) -> i64;
    fn responsible(&self) -> i64;
    /// `(pipeline_id, status_id)` for leads.
    fn stage(&self) -> Option<(i64, i64)>;
    /// Whether the (lowercase) search text occurs in the entity.
    fn mentions(&self, query: &str) -> bool;
}

fn fields_mention(fields: &[FieldValues], query: &str) -> bool {
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    fields.iter().flat_map(|f| &f.values).any(|item| {
        let text = match &item.value {
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        };
        // Phone numbers are found whatever their punctuation.
        text.contains(query)
            || (digits.len() >= 3
                && text
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
                    .contains(&digits))
    })
}

impl Listable for Lead {
    fn id(&self) -> i64 {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
    fn responsible(&self) -> i64 {
        self.responsible_user_id
    }
    fn stage(&self) -> Option<(i64, i64)> {
        Some((self.pipeline_id, self.status_id))
    }
    fn mentions(&self, query: &str) -> bool {
        self.name.to_lowercase().contains(query)
            || self.id.to_string() == query
            || fields_mention(&self.custom_fields, query)
    }
}

impl Listable for Contact {
    fn id(&self) -> i64 {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
    fn responsible(&self) -> i64 {
        self.responsible_user_id
    }
    fn stage(&self) -> Option<(i64, i64)> {
        None
    }
    fn mentions(&self, query: &str) -> bool {
        self.name.to_lowercase().contains(query)
            || self.id.to_string() == query
            || fields_mention(&self.custom_fields, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn parses_amocrm_style_parameters() {
        let query = ListQuery::parse(&pairs(
            "page=2&limit=500&order[created_at]=desc&query=%D0%98%D0%B2%D0%B0%D0%BD\
             &filter[id][]=1&filter[id][]=2&filter[statuses][0][pipeline_id]=7\
             &filter[statuses][0][status_id]=142&with=contacts,catalog_elements",
        ))
        .expect("valid");
        assert_eq!(query.page, 2);
        assert_eq!(query.limit, MAX_LIMIT);
        assert_eq!((query.order, query.descending), (OrderKey::CreatedAt, true));
        assert_eq!(query.query.as_deref(), Some("иван"));
        assert_eq!(query.ids, vec![1, 2]);
        assert_eq!(query.stages, vec![(Some(7), Some(142))]);
        assert!(query.wants("contacts"));
        for bad in [
            "page=0",
            "limit=x",
            "order[name]=asc",
            "order[id]=up",
            "filter[id]=a",
            "filter[statuses][99999999999][status_id]=1",
        ] {
            assert!(ListQuery::parse(&pairs(bad)).is_err(), "{bad}");
        }
    }
}
