//! A tenant's customer going through the connect flow, over plain HTTP: the hosted page, the
//! simulator's consent page (Allow), and back to amolink's callback.

use crate::{Browser, TestApp};

/// Decodes the entities askama produces (`&#34;`, `&#38;`, `&amp;`, …).
#[must_use]
pub fn html_unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of `attribute="…"` in `html`, unescaped.
#[must_use]
pub fn attribute(html: &str, attribute: &str) -> Option<String> {
    let marker = format!("{attribute}=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html_unescape(&html[start..end]))
}

/// What the hosted connect page rendered into amoCRM's button tag.
#[derive(Debug, Clone)]
pub struct ButtonTag {
    pub class: String,
    pub state: String,
    pub name: String,
    pub description: String,
    pub redirect_uri: String,
    pub secrets_uri: String,
    pub logo: String,
    pub scopes: String,
    pub mode: String,
    pub src: String,
}

impl ButtonTag {
    #[must_use]
    pub fn parse(html: &str) -> Option<Self> {
        let tag_start = html.find("<script class=\"")?;
        let tag = &html[tag_start..];
        let tag = &tag[..tag.find("</script>")?];
        Some(Self {
            class: attribute(tag, "class")?,
            state: attribute(tag, "data-state")?,
            name: attribute(tag, "data-name")?,
            description: attribute(tag, "data-description")?,
            redirect_uri: attribute(tag, "data-redirect_uri")?,
            secrets_uri: attribute(tag, "data-secrets_uri")?,
            logo: attribute(tag, "data-logo")?,
            scopes: attribute(tag, "data-scopes")?,
            mode: attribute(tag, "data-mode")?,
            src: attribute(tag, "src")?,
        })
    }

    fn consent_host(&self) -> &'static str {
        if self.class == "kommo_oauth" {
            "www.kommo.com"
        } else {
            "www.amocrm.ru"
        }
    }
}

impl TestApp {
    /// The hosted connect links shown on a signed-in browser's dashboard.
    pub async fn connect_links(&self, tenant: &Browser) -> Vec<String> {
        let html = tenant.get_html("/dashboard").await;
        html.split("<code id=\"link-")
            .skip(1)
            .filter_map(|part| {
                let start = part.find('>')? + 1;
                let end = part.find("</code>")?;
                Some(html_unescape(&part[start..end]))
            })
            .collect()
    }

    /// A customer opens `connect_url`, and an administrator of `account_id` allows access on the
    /// simulator's consent page. Returns the customer's browser, the button tag it saw and the
    /// callback URL amoCRM redirected to (not yet followed).
    pub async fn consent(
        &self,
        connect_url: &str,
        account_id: i64,
    ) -> (Browser, ButtonTag, String) {
        let customer = self.browser();
        let page = customer.client.get(connect_url).send().await.unwrap();
        assert_eq!(page.status(), 200, "hosted connect page");
        let tag = ButtonTag::parse(&page.text().await.unwrap()).expect("button tag on the page");
        let callback = self.approve(&customer, &tag, account_id).await;
        (customer, tag, callback)
    }

    /// Submits Allow on the simulator's consent page for `tag`; returns the redirect target.
    pub async fn approve(&self, customer: &Browser, tag: &ButtonTag, account_id: i64) -> String {
        let account = account_id.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("state", &tag.state),
            ("mode", "post_message"),
            ("name", &tag.name),
            ("description", &tag.description),
            ("redirect_uri", &tag.redirect_uri),
            ("secrets_uri", &tag.secrets_uri),
            ("logo", &tag.logo),
            ("decision", "allow"),
            ("account_id", &account),
        ];
        form.extend(tag.scopes.split(',').map(|scope| ("scopes[]", scope)));
        let decision = customer
            .client
            .post(format!(
                "{}/_sim/site/{}/oauth/decision",
                self.sim_url,
                tag.consent_host()
            ))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            decision.status(),
            302,
            "consent accepted: {}",
            decision.text().await.unwrap_or_default()
        );
        decision.headers()["location"].to_str().unwrap().to_owned()
    }

    /// The whole flow; returns the customer's browser and amolink's answer to the callback.
    pub async fn connect_account(
        &self,
        connect_url: &str,
        account_id: i64,
    ) -> (Browser, reqwest::Response) {
        let (customer, _, callback) = self.consent(connect_url, account_id).await;
        let answer = customer.client.get(&callback).send().await.unwrap();
        (customer, answer)
    }
}
