//! A tenant's customer going through the connect flow, over plain HTTP: the hosted page, the
//! simulator's consent page (Allow), and back to amolink's callback.

use crate::{Browser, Page, TestApp};

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
    /// The first `<script class="…">` of the page: amoCRM's (or Kommo's) button tag.
    #[must_use]
    pub fn parse(html: &str) -> Option<Self> {
        const TAG: &str = "script[class]";
        let page = Page::parse(html);
        let attribute = |name: &str| page.attr(TAG, name);
        Some(Self {
            class: attribute("class")?,
            state: attribute("data-state")?,
            name: attribute("data-name")?,
            description: attribute("data-description")?,
            redirect_uri: attribute("data-redirect_uri")?,
            secrets_uri: attribute("data-secrets_uri")?,
            logo: attribute("data-logo")?,
            scopes: attribute("data-scopes")?,
            mode: attribute("data-mode")?,
            src: attribute("src")?,
        })
    }

    fn consent_host(&self) -> &'static str {
        if self.class == "kommo_oauth" {
            "www.kommo.com"
        } else {
            "www.amocrm.ru"
        }
    }

    /// Where the simulator at `sim_url` takes the consent page's decision for this button.
    #[must_use]
    pub fn decision_url(&self, sim_url: &str) -> String {
        format!("{sim_url}/_sim/site/{}/oauth/decision", self.consent_host())
    }

    /// The consent page's form with Allow chosen for `account` (an account id).
    #[must_use]
    pub fn allow_form<'a>(&'a self, account: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut form: Vec<(&str, &str)> = vec![
            ("state", &self.state),
            ("mode", "post_message"),
            ("name", &self.name),
            ("description", &self.description),
            ("redirect_uri", &self.redirect_uri),
            ("secrets_uri", &self.secrets_uri),
            ("logo", &self.logo),
            ("decision", "allow"),
            ("account_id", account),
        ];
        form.extend(self.scopes.split(',').map(|scope| ("scopes[]", scope)));
        form
    }
}

impl TestApp {
    /// The hosted connect links shown on a signed-in browser's dashboard.
    pub async fn connect_links(&self, tenant: &Browser) -> Vec<String> {
        let html = tenant.get_html("/dashboard").await;
        Page::parse(&html).texts("code[id^=\"link-\"]")
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
        let decision = customer
            .client
            .post(tag.decision_url(&self.sim_url))
            .form(&tag.allow_form(&account))
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
