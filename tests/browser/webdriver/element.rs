//! An element found on the current page. It is a reference into the browser's DOM: it goes stale
//! when the page navigates, so find elements again after every navigation.

use anyhow::{Context as _, Result};
use reqwest::Method;
use serde_json::{Value, json};

use super::Driver;

/// The W3C key under which element references travel.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An element of the current page (see [`Driver::find`]).
pub struct Element<'d> {
    driver: &'d Driver,
    id: String,
}

impl<'d> Element<'d> {
    /// Reads an element reference out of a command's answer.
    pub(super) fn from_reference(driver: &'d Driver, value: &Value) -> Result<Self> {
        let id = value[ELEMENT_KEY]
            .as_str()
            .with_context(|| format!("not an element reference: {value}"))?;
        Ok(Self {
            driver,
            id: id.to_owned(),
        })
    }

    /// Clicks it like a person would: scrolled into view, a trusted event (so a popup it opens
    /// is not blocked), and an error if something else covers it.
    pub async fn click(&self) -> Result<()> {
        self.command(Method::POST, "click", Some(json!({})))
            .await
            .map(drop)
    }

    /// Types `text` into it (an input, a textarea, or a `<select>`, where typing picks the
    /// option whose label starts with the text), after focusing it like a click would.
    pub async fn send_keys(&self, text: &str) -> Result<()> {
        self.command(Method::POST, "value", Some(json!({ "text": text })))
            .await
            .map(drop)
    }

    /// Empties an input or textarea.
    pub async fn clear(&self) -> Result<()> {
        self.command(Method::POST, "clear", Some(json!({})))
            .await
            .map(drop)
    }

    /// Its rendered text, as a person reads it (hidden parts excluded).
    pub async fn text(&self) -> Result<String> {
        string(self.command(Method::GET, "text", None).await?)
    }

    /// The attribute as written in the markup; `None` when it is absent.
    pub async fn attribute(&self, name: &str) -> Result<Option<String>> {
        match self
            .command(Method::GET, &format!("attribute/{name}"), None)
            .await?
        {
            Value::Null => Ok(None),
            value => string(value).map(Some),
        }
    }

    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.driver
            .command(method, &format!("element/{}/{path}", self.id), body)
            .await
    }
}

fn string(value: Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text),
        other => anyhow::bail!("expected a string, got {other}"),
    }
}
