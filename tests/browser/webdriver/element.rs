//! An element found on the current page. It is a reference into the browser's DOM: it goes stale
//! when the page navigates, so find elements again after every navigation.

use std::marker::PhantomData;

use anyhow::Result;

use super::{Driver, bounded};

/// An element of the current page (see [`Driver::find`]); it borrows the driver so it cannot
/// outlive the session.
pub struct Element<'d> {
    element: fantoccini::elements::Element,
    _driver: PhantomData<&'d Driver>,
}

impl Element<'_> {
    pub(super) fn new(element: fantoccini::elements::Element) -> Self {
        Self {
            element,
            _driver: PhantomData,
        }
    }

    /// Clicks it like a person would: scrolled into view, a trusted event (so a popup it opens
    /// is not blocked), and an error if something else covers it.
    pub async fn click(&self) -> Result<()> {
        bounded("click", self.element.click()).await
    }

    /// Types `text` into it (an input, a textarea, or a `<select>`, where typing picks the
    /// option whose label starts with the text), after focusing it like a click would.
    pub async fn send_keys(&self, text: &str) -> Result<()> {
        bounded("send keys", self.element.send_keys(text)).await
    }

    /// Empties an input or textarea.
    pub async fn clear(&self) -> Result<()> {
        bounded("clear", self.element.clear()).await
    }

    /// Its rendered text, as a person reads it (hidden parts excluded).
    pub async fn text(&self) -> Result<String> {
        bounded("element text", self.element.text()).await
    }

    /// The attribute as written in the markup; `None` when it is absent.
    pub async fn attribute(&self, name: &str) -> Result<Option<String>> {
        bounded(&format!("attribute {name}"), self.element.attr(name)).await
    }

    /// Whether a person can see it (not `display: none`, not zero-sized).
    pub async fn is_displayed(&self) -> Result<bool> {
        bounded("is displayed", self.element.is_displayed()).await
    }
}
