//! amoCRM's webhook bodies, expanded: PHP-style bracket keys (`leads[status][0][id]=1`) into JSON.
//!
//! amoCRM posts `application/x-www-form-urlencoded` bodies whose keys spell a nested structure
//! the way PHP's `$_POST` reads it (amocrm-webhooks.md §2.2, §2.7). No crate expands them the way
//! these bodies need (`serde_qs` turns numeric keys into lists eagerly and refuses mixed shapes),
//! so this is hand-written, with these rules:
//!
//! - **Numeric keys stay map keys until a list is proven.** A container becomes a JSON array only
//!   when its keys are exactly `0, 1, …, n-1` in canonical decimal; `linked_leads_id[15319601]`
//!   stays an object keyed by the lead id. Each body is expanded on its own, so one path can be a
//!   list in one event and an object in another (a radio field's `values[value]=…`).
//! - **Every value stays the string amoCRM sent.** Typing is the normaliser's job.
//! - **Hostile keys are data.** `a[__proto__]` is an ordinary key (nothing here has prototypes);
//!   a key with unbalanced brackets or text after a `]` is kept whole as a literal top-level key
//!   rather than guessed at; `a[]` appends, as in PHP; an empty name is dropped.
//! - **Bounded.** At most [`MAX_FIELDS`] pairs, [`MAX_DEPTH`] levels and [`MAX_KEY_BYTES`] per
//!   key; anything beyond is refused as a whole with a [`FormError`], never truncated silently.
//! - Later pairs win over earlier ones on the same path (PHP's rule), whether the earlier one was
//!   a value or a nested structure.
//!
//! Expansion never panics on any input; property tests at the bottom hold it to that.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The most `key=value` pairs one body may hold. amoCRM sends one pair per field of every item
/// (a lead with many custom fields is a few hundred); PHP's default is 1 000.
pub const MAX_FIELDS: usize = 20_000;
/// The deepest nesting accepted (`a[b][c]` is depth 3). amoCRM's deepest known path,
/// `leads[status][0][custom_fields][0][values][0][value]`, is 7; PHP's default limit is 64.
pub const MAX_DEPTH: usize = 32;
/// The longest key accepted, in bytes once decoded.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a body could not be expanded. Each variant names the bound that was crossed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the body has more than {MAX_FIELDS} fields")]
    TooManyFields,
    #[error("a key is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("a key is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
}

/// A node of the tree being built. Branches keep their keys as text until the end.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

impl Node {
    fn branch() -> Self {
        Self::Branch(BTreeMap::new())
    }
}

/// Splits a key into its path: `a[b][0]` → `["a", "b", "0"]`; `a[]` → `["a", ""]` (append).
/// A key whose brackets are not well formed is one literal segment.
fn path(key: &str) -> Vec<&str> {
    let Some(open) = key.find('[') else {
        return vec![key];
    };
    let mut segments = vec![&key[..open]];
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let well_formed = rest
            .strip_prefix('[')
            .and_then(|inner| inner.find(']').map(|close| (inner, close)));
        let Some((inner, close)) = well_formed else {
            return vec![key];
        };
        let segment = &inner[..close];
        if segment.contains('[') {
            return vec![key];
        }
        segments.push(segment);
        rest = &inner[close + 1..];
    }
    segments
}

/// The key for an append (`a[]`): one past the largest canonical index already present.
fn next_index(map: &BTreeMap<String, Node>) -> String {
    map.keys()
        .filter_map(|k| canonical_index(k))
        .max()
        .map_or(0, |max| max.saturating_add(1))
        .to_string()
}

/// `Some(n)` when `key` is a canonical decimal index: `0`, or digits not starting with `0`.
fn canonical_index(key: &str) -> Option<usize> {
    let canonical = !key.is_empty()
        && key.len() <= 9
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if canonical { key.parse().ok() } else { None }
}

fn insert(root: &mut BTreeMap<String, Node>, segments: &[&str], value: String) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut map = root;
    for segment in parents {
        let key = if segment.is_empty() {
            next_index(map)
        } else {
            (*segment).to_owned()
        };
        let slot = map.entry(key).or_insert_with(Node::branch);
        if matches!(slot, Node::Leaf(_)) {
            *slot = Node::branch();
        }
        let Node::Branch(child) = slot else {
            return;
        };
        map = child;
    }
    let key = if last.is_empty() {
        next_index(map)
    } else {
        (*last).to_owned()
    };
    map.insert(key, Node::Leaf(value));
}

/// Expands decoded pairs into one JSON object.
///
/// # Errors
/// [`FormError`] when a bound is crossed.
pub fn expand_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Map<String, Value>, FormError> {
    let mut root = BTreeMap::new();
    for (count, (key, value)) in pairs.into_iter().enumerate() {
        if count >= MAX_FIELDS {
            return Err(FormError::TooManyFields);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(FormError::KeyTooLong);
        }
        let segments = path(key);
        if segments.len() > MAX_DEPTH {
            return Err(FormError::TooDeep);
        }
        if segments.first().is_some_and(|name| name.is_empty()) {
            continue;
        }
        insert(&mut root, &segments, value.to_owned());
    }
    Ok(root
        .into_iter()
        .map(|(key, node)| (key, to_json(node)))
        .collect())
}

/// A leaf is its string; a branch is a list when its keys are exactly `0..n`, else an object.
fn to_json(node: Node) -> Value {
    match node {
        Node::Leaf(text) => Value::String(text),
        Node::Branch(map) => {
            let is_list = {
                let mut indices: Vec<usize> = Vec::with_capacity(map.len());
                let all = map.keys().all(|key| {
                    canonical_index(key).is_some_and(|index| {
                        indices.push(index);
                        true
                    })
                });
                indices.sort_unstable();
                all && indices.iter().enumerate().all(|(i, index)| i == *index)
            };
            if is_list {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .filter_map(|(key, node)| Some((canonical_index(&key)?, to_json(node))))
                    .collect();
                items.sort_by_key(|(index, _)| *index);
                Value::Array(items.into_iter().map(|(_, value)| value).collect())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(key, node)| (key, to_json(node)))
                        .collect(),
                )
            }
        }
    }
}

/// Decodes an `application/x-www-form-urlencoded` body and expands it. Bytes that are not UTF-8
/// after decoding are replaced (U+FFFD), as every other form reader does.
///
/// # Errors
/// [`FormError`] when a bound is crossed.
pub fn expand(body: &[u8]) -> Result<Map<String, Value>, FormError> {
    let decoded: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .take(MAX_FIELDS.saturating_add(1))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    expand_pairs(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The value of one flat key (e.g. `account[id]`) without expanding the body: what the receiver
/// needs to check a delivery before storing it. The last occurrence wins, as in [`expand`].
#[must_use]
pub fn find(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .take(MAX_FIELDS)
        .filter(|(k, _)| k == key)
        .last()
        .map(|(_, v)| v.into_owned())
}

/// The inverse of [`expand`] for tests and the simulator-free examples: flattens a JSON value
/// into bracket pairs (`a[b][0]=…`). Strings are sent as they are; other scalars as their JSON
/// text; empty containers produce nothing (as in PHP's `http_build_query`).
#[must_use]
pub fn flatten(value: &Map<String, Value>) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    walk(&format!("{prefix}[{key}]"), child, out);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{index}]"), child, out);
                }
            }
            Value::String(text) => out.push((prefix.to_owned(), text.clone())),
            Value::Null => out.push((prefix.to_owned(), String::new())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    for (key, child) in value {
        match child {
            Value::Object(_) | Value::Array(_) => walk(key, child, &mut out),
            Value::String(text) => out.push((key.clone(), text.clone())),
            Value::Null => out.push((key.clone(), String::new())),
            other => out.push((key.clone(), other.to_string())),
        }
    }
    out
}

/// Encodes pairs as a form body.
#[must_use]
pub fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn expanded(body: &str) -> Value {
        Value::Object(expand(body.as_bytes()).expect("expands"))
    }

    #[test]
    fn the_status_change_example_expands_faithfully() {
        let body = "account%5Bsubdomain%5D=acme&account%5Bid%5D=29847561\
&account%5B_links%5D%5Bself%5D=https%3A%2F%2Facme.amocrm.ru\
&leads%5Bstatus%5D%5B0%5D%5Bid%5D=33812045&leads%5Bstatus%5D%5B0%5D%5Bname%5D=Order+%231182\
&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=Website";
        assert_eq!(
            expanded(body),
            json!({
                "account": {"subdomain": "acme", "id": "29847561",
                            "_links": {"self": "https://acme.amocrm.ru"}},
                "leads": {"status": [{
                    "id": "33812045",
                    "name": "Order #1182",
                    "custom_fields": [{"values": [{"value": "Website"}]}],
                }]},
            })
        );
    }

    #[test]
    fn numeric_keys_stay_map_keys_until_a_list_is_proven() {
        assert_eq!(
            expanded("c[linked_leads_id][15319601][ID]=15319601"),
            json!({"c": {"linked_leads_id": {"15319601": {"ID": "15319601"}}}})
        );
        // A gap, a leading zero or a sign is not a list.
        assert_eq!(
            expanded("a[0]=x&a[2]=y"),
            json!({"a": {"0": "x", "2": "y"}})
        );
        assert_eq!(
            expanded("a[0]=x&a[01]=y"),
            json!({"a": {"0": "x", "01": "y"}})
        );
        assert_eq!(expanded("a[1]=x&a[0]=y"), json!({"a": ["y", "x"]}));
        assert_eq!(
            expanded(
                "a[10]=k&a[0]=x&a[1]=x&a[2]=x&a[3]=x&a[4]=x&a[5]=x&a[6]=x&a[7]=x&a[8]=x&a[9]=x"
            )["a"][10],
            json!("k")
        );
    }

    #[test]
    fn one_path_can_be_a_list_in_one_event_and_a_map_in_another() {
        let date = expanded("f[values][0]=1729717200");
        let radio = expanded("f[values][value]=2&f[values][enum]=566642");
        assert_eq!(date["f"]["values"], json!(["1729717200"]));
        assert_eq!(
            radio["f"]["values"],
            json!({"value": "2", "enum": "566642"})
        );
    }

    #[test]
    fn hostile_keys_are_plain_data() {
        assert_eq!(
            expanded("a[__proto__][polluted]=1&constructor[prototype][x]=2"),
            json!({"a": {"__proto__": {"polluted": "1"}},
                   "constructor": {"prototype": {"x": "2"}}})
        );
        // Unbalanced or trailing text: the key is kept whole.
        assert_eq!(expanded("a[b=1"), json!({"a[b": "1"}));
        assert_eq!(expanded("a]b[=1"), json!({"a]b[": "1"}));
        assert_eq!(expanded("a[b]c=1"), json!({"a[b]c": "1"}));
        assert_eq!(expanded("a[b[c]]=1"), json!({"a[b[c]]": "1"}));
        // Appends and empty names.
        assert_eq!(expanded("a[]=x&a[]=y"), json!({"a": ["x", "y"]}));
        assert_eq!(expanded("=x&[a]=y"), json!({}));
        assert_eq!(expanded("a[][b]=1"), json!({"a": [{"b": "1"}]}));
        assert_eq!(expanded("a[]"), json!({"a": [""]}));
        // The later pair wins, whatever shape the earlier one had.
        assert_eq!(expanded("a=1&a[b]=2"), json!({"a": {"b": "2"}}));
        assert_eq!(expanded("a[b]=2&a=1"), json!({"a": "1"}));
        // Not UTF-8 after decoding: replaced, not refused.
        assert_eq!(expanded("a=%FF"), json!({"a": "\u{FFFD}"}));
    }

    #[test]
    fn bounds_are_refused_as_a_whole() {
        let deep = format!("a{}=1", "[x]".repeat(MAX_DEPTH));
        assert_eq!(expand(deep.as_bytes()), Err(FormError::TooDeep));
        let ok = format!("a{}=1", "[x]".repeat(MAX_DEPTH - 1));
        assert!(expand(ok.as_bytes()).is_ok());
        let long = format!("{}=1", "k".repeat(MAX_KEY_BYTES + 1));
        assert_eq!(expand(long.as_bytes()), Err(FormError::KeyTooLong));
        let many = "a=1&".repeat(MAX_FIELDS + 1);
        assert_eq!(expand(many.as_bytes()), Err(FormError::TooManyFields));
    }

    #[test]
    fn find_reads_one_flat_key() {
        let body = b"leads%5Badd%5D%5B0%5D%5Bid%5D=1&account%5Bid%5D=29847561";
        assert_eq!(find(body, "account[id]").as_deref(), Some("29847561"));
        assert_eq!(find(body, "account[subdomain]"), None);
    }

    /// Keys that survive a round trip: no brackets, not empty.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{1,8}",
            "[0-9]{1,4}",
            Just("__proto__".to_owned()),
            "[^\\[\\]]{1,6}",
        ]
    }

    /// Trees as expansion produces them: no empty containers, and objects whose keys are not
    /// exactly `0..n` (those become lists).
    fn tree() -> impl Strategy<Value = Value> {
        let leaf = "[^\u{0}]{0,12}".prop_map(Value::String);
        leaf.prop_recursive(6, 200, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..5).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 1..5).prop_map(|map| {
                    let mut object: Map<String, Value> = map.into_iter().collect();
                    if object.keys().all(|k| canonical_index(k).is_some()) {
                        object.insert("not_an_index".into(), Value::String("x".into()));
                    }
                    Value::Object(object)
                }),
            ]
        })
    }

    fn root() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-z_]{1,8}", tree(), 1..5)
            .prop_map(|map| map.into_iter().collect())
    }

    proptest! {
        #[test]
        fn flatten_then_expand_round_trips(value in root()) {
            let body = encode(&flatten(&value));
            prop_assert_eq!(expand(body.as_bytes()), Ok(value));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2000)) {
            let _ = expand(&body);
            let _ = find(&body, "account[id]");
        }

        #[test]
        fn arbitrary_bracket_keys_never_panic(
            keys in prop::collection::vec("[a-z\\[\\]0-9_]{0,40}", 0..200),
        ) {
            let pairs: Vec<(String, String)> =
                keys.into_iter().map(|k| (k, "v".to_owned())).collect();
            let _ = expand(encode(&pairs).as_bytes());
        }
    }

    #[test]
    fn ten_thousand_keys_expand() {
        let pairs: Vec<(String, String)> = (0..10_000)
            .map(|i| {
                (
                    format!("leads[add][{}][custom_fields][{i}][id]", i % 10),
                    i.to_string(),
                )
            })
            .collect();
        let tree = expand(encode(&pairs).as_bytes()).expect("within bounds");
        let leads = tree["leads"]["add"].as_array().expect("a list of 10 leads");
        assert_eq!(leads.len(), 10);
        assert_eq!(leads[3]["custom_fields"]["9993"]["id"], "9993");
    }

    #[test]
    fn deep_nesting_is_bounded_not_recursed_into() {
        let body = format!("a{}=1", "[0]".repeat(100_000));
        assert_eq!(expand(body.as_bytes()), Err(FormError::KeyTooLong));
        let body = format!("a{}=1", "[]".repeat(MAX_DEPTH + 5));
        assert_eq!(expand(body.as_bytes()), Err(FormError::TooDeep));
    }
}
