//! The account webhooks API: `GET`, `POST` and `DELETE /api/v4/webhooks` (amocrm-webhooks.md §1).
//!
//! Only an account administrator's token may use it, and only on plans with API webhooks; the
//! refusals arrive as [`AmoError::Forbidden`] (JSON, not the block page) and
//! [`AmoError::PaymentRequired`]. Subscriptions are keyed by destination URL: `DELETE` takes the
//! URL, not an id, and re-posting a URL updates it.

use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::{AmoClient, AmoError, host::AccountHost, problem::Endpoint};

const WEBHOOKS_PATH: &str = "/api/v4/webhooks";

/// One subscription as amoCRM lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountWebhook {
    pub id: i64,
    pub destination: String,
    /// amoCRM switched it off after too many failed deliveries (or for security reasons).
    #[serde(default)]
    pub disabled: bool,
    /// The event codes; accepted both as a list and as `{"code": 1}` (seen in the field).
    #[serde(default, deserialize_with = "settings")]
    pub settings: Vec<String>,
    #[serde(default)]
    pub account_id: Option<i64>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
}

fn settings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Value::Object(map) => map.into_iter().map(|(code, _)| code).collect(),
        _ => Vec::new(),
    })
}

#[derive(Deserialize)]
struct Listing {
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
}

#[derive(Deserialize)]
struct Embedded {
    #[serde(default)]
    webhooks: Vec<AccountWebhook>,
}

#[derive(Serialize)]
struct Subscribe<'a> {
    destination: &'a str,
    settings: &'a [&'a str],
}

#[derive(Serialize)]
struct Unsubscribe<'a> {
    destination: &'a str,
}

impl AmoClient {
    /// Lists the account's webhooks: `GET /api/v4/webhooks` (an empty answer is no webhooks).
    ///
    /// # Errors
    /// [`AmoError::Forbidden`] for a token of a non-admin user, [`AmoError::PaymentRequired`],
    /// [`AmoError::Unauthorized`], transport and HTTP errors, [`AmoError::InvalidResponse`].
    pub async fn webhooks(
        &self,
        host: &AccountHost,
        access_token: &SecretString,
    ) -> Result<Vec<AccountWebhook>, AmoError> {
        let request = self
            .request(Method::GET, host, WEBHOOKS_PATH, None)?
            .bearer_auth(access_token.expose_secret());
        let body = self.send_capped(request, Endpoint::Api).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let listing: Listing =
            serde_json::from_slice(&body).map_err(|_| AmoError::InvalidResponse)?;
        Ok(listing.embedded.map(|e| e.webhooks).unwrap_or_default())
    }

    /// Subscribes `destination` to `settings`: `POST /api/v4/webhooks` (re-posting a destination
    /// updates it).
    ///
    /// # Errors
    /// As [`AmoClient::webhooks`], and [`AmoError::BadRequest`] for a refused destination or code.
    pub async fn subscribe_webhook(
        &self,
        host: &AccountHost,
        access_token: &SecretString,
        destination: &str,
        settings: &[&str],
    ) -> Result<AccountWebhook, AmoError> {
        let request = self
            .request(Method::POST, host, WEBHOOKS_PATH, None)?
            .bearer_auth(access_token.expose_secret())
            .json(&Subscribe {
                destination,
                settings,
            });
        let body = self.send_capped(request, Endpoint::Api).await?;
        serde_json::from_slice(&body).map_err(|_| AmoError::InvalidResponse)
    }

    /// Unsubscribes `destination`: `DELETE /api/v4/webhooks` with the URL in the body. Answers
    /// `false` when amoCRM did not know it (already gone).
    ///
    /// # Errors
    /// As [`AmoClient::webhooks`].
    pub async fn unsubscribe_webhook(
        &self,
        host: &AccountHost,
        access_token: &SecretString,
        destination: &str,
    ) -> Result<bool, AmoError> {
        let request = self
            .request(Method::DELETE, host, WEBHOOKS_PATH, None)?
            .bearer_auth(access_token.expose_secret())
            .json(&Unsubscribe { destination });
        match self.send_capped(request, Endpoint::Api).await {
            Ok(_) => Ok(true),
            Err(AmoError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_accept_both_settings_shapes_and_no_embedded() {
        let listing: Listing = serde_json::from_str(
            r#"{"_total_items":2,"_embedded":{"webhooks":[
                {"id":1,"destination":"https://a/x","disabled":true,"settings":["add_lead"],"sort":1},
                {"id":2,"destination":"https://a/y","settings":{"status_lead":1}}]}}"#,
        )
        .expect("parses");
        let hooks = listing.embedded.expect("embedded").webhooks;
        assert_eq!(hooks[0].settings, vec!["add_lead"]);
        assert!(hooks[0].disabled);
        assert_eq!(hooks[1].settings, vec!["status_lead"]);
        assert!(!hooks[1].disabled);
        let empty: Listing = serde_json::from_str("{}").expect("parses");
        assert!(empty.embedded.is_none());
    }
}
