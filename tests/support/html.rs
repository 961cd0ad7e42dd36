//! amolink's pages read the way a browser reads them: parsed by `scraper` (html5ever), queried
//! with CSS selectors, entities decoded. Tests that look at a page's structure — forms, links,
//! attributes, the CSRF field — use this instead of searching the markup as text, so a change of
//! attribute order or quoting cannot fool them.

use scraper::{Html, Selector};

/// A parsed page.
pub struct Page(Html);

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad selector `{css}`: {e}"))
}

impl Page {
    #[must_use]
    pub fn parse(html: &str) -> Self {
        Self(Html::parse_document(html))
    }

    /// `name` of the first element matching `css`.
    #[must_use]
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.attrs(css, name).into_iter().next()
    }

    /// `name` of every element matching `css`, in document order.
    #[must_use]
    pub fn attrs(&self, css: &str, name: &str) -> Vec<String> {
        self.0
            .select(&selector(css))
            .filter_map(|element| element.value().attr(name))
            .map(str::to_owned)
            .collect()
    }

    /// The text of the first element matching `css`.
    #[must_use]
    pub fn text(&self, css: &str) -> Option<String> {
        self.texts(css).into_iter().next()
    }

    /// The text of every element matching `css`, in document order.
    #[must_use]
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.0
            .select(&selector(css))
            .map(|element| element.text().collect())
            .collect()
    }

    /// The id in the first link or form target under `prefix`: for `prefix` `/connections/`,
    /// the `{id}` of the first `href` or `action` of the form `/connections/{id}[/…]`.
    #[must_use]
    pub fn id_after(&self, prefix: &str) -> Option<String> {
        let css = format!("a[href^=\"{prefix}\"], form[action^=\"{prefix}\"]");
        self.0.select(&selector(&css)).find_map(|element| {
            let target = element
                .value()
                .attr("href")
                .or_else(|| element.value().attr("action"))?;
            let rest = target.strip_prefix(prefix)?;
            let id = rest.split(['/', '?', '#']).next()?;
            (!id.is_empty()).then(|| id.to_owned())
        })
    }
}

/// Text as a browser shows it: entities (`&amp;`, `&#34;`, …) decoded.
#[must_use]
pub fn html_unescape(raw: &str) -> String {
    Html::parse_fragment(raw).root_element().text().collect()
}
