//! `GET/POST/DELETE /api/v4/webhooks` on account hosts: a bearer token of an integration, an
//! account administrator behind it (403 otherwise) and a plan that includes API webhooks (402
//! otherwise), after the usual gate (rate limit, block, payment).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde_json::{Value, json};

use super::subscriptions::{MAX_PER_ACCOUNT, Refusal};
use super::{WebhookView, check_subscribe};
use crate::api::{authorize, hal, query_pairs};
use crate::crm::Invalid;
use crate::crm::v4::validation_errors;
use crate::faults::Route;
use crate::problem;
use crate::site::{Site, respond};

/// The account behind the call, once its rights and plan allow webhooks.
async fn gate(site: &Site) -> Result<i64, HttpResponse> {
    let account_id = authorize(site, Route::Webhooks).await?.account_id;
    let (admin, plan) = site.sim.with_state(|s| {
        s.accounts
            .get(&account_id)
            .map_or((false, false), |a| (a.admin, a.api_webhooks))
    });
    if !admin {
        return Err(problem::http(
            StatusCode::FORBIDDEN,
            "Webhooks are available to account administrators only",
        ));
    }
    if !plan {
        return Err(problem::http(
            StatusCode::PAYMENT_REQUIRED,
            "The account's plan does not include API webhooks",
        ));
    }
    Ok(account_id)
}

fn webhook_json(view: &WebhookView) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

fn bad_request(detail: &str) -> HttpResponse {
    problem::http(StatusCode::BAD_REQUEST, detail)
}

/// `GET /api/v4/webhooks[?filter[destination]=URL]`: 204 when there are none.
pub async fn list(site: Site) -> HttpResponse {
    respond(list_inner(site).await)
}

async fn list_inner(site: Site) -> Result<HttpResponse, HttpResponse> {
    let account_id = gate(&site).await?;
    let destination = query_pairs(&site)
        .into_iter()
        .find(|(key, _)| key == "filter[destination]")
        .map(|(_, value)| value);
    let hooks = site.sim.with_state(|s| {
        s.hooks
            .subscriptions
            .list(account_id, destination.as_deref())
    });
    if hooks.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    let items: Vec<Value> = hooks.iter().map(webhook_json).collect();
    Ok(hal(json!({
        "_total_items": items.len(),
        "_embedded": { "webhooks": items },
    })))
}

/// `POST /api/v4/webhooks` with `{destination, settings[], sort?}`.
pub async fn subscribe(site: Site, body: Bytes) -> HttpResponse {
    respond(subscribe_inner(site, body).await)
}

async fn subscribe_inner(site: Site, body: Bytes) -> Result<HttpResponse, HttpResponse> {
    let account_id = gate(&site).await?;
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&body) else {
        return Err(bad_request("Expected a JSON object"));
    };
    let mut problems: Vec<Invalid> = Vec::new();
    let destination = match object.get("destination") {
        Some(Value::String(destination)) => destination.clone(),
        _ => {
            problems.push(Invalid::new(
                "destination",
                "NotBlank",
                "This value should not be blank.",
            ));
            String::new()
        }
    };
    let settings: Vec<String> = match object.get("settings") {
        Some(Value::Array(codes)) => codes
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => Vec::new(),
    };
    let sort = object.get("sort").and_then(Value::as_i64);
    let request = match check_subscribe(&destination, &settings, sort) {
        Ok(request) if problems.is_empty() => request,
        Ok(_) => return Err(invalid(problems)),
        Err(found) => {
            problems.extend(found.into_iter().map(|(path, detail)| {
                let code = if path == "destination" {
                    "InvalidUrl"
                } else {
                    "NotSupportedChoice"
                };
                Invalid::new(path, code, detail)
            }));
            return Err(invalid(problems));
        }
    };
    site.sim.ensure_hook_sender();
    let view = site
        .sim
        .with_state(|s| s.subscribe_webhook(account_id, request))
        .map_err(|refusal| match refusal {
            Refusal::TooMany => bad_request(&format!(
                "The number of webhooks on one account is limited to {MAX_PER_ACCOUNT}"
            )),
            Refusal::UnknownDestination => bad_request("Unknown destination"),
        })?;
    Ok(hal(webhook_json(&view)))
}

fn invalid(problems: Vec<Invalid>) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("application/problem+json")
        .body(validation_errors(&[("0".to_owned(), problems)]).to_string())
}

/// `DELETE /api/v4/webhooks` with `{destination}`: 204, or 404 for an unknown destination.
pub async fn unsubscribe(site: Site, body: Bytes) -> HttpResponse {
    respond(unsubscribe_inner(site, body).await)
}

async fn unsubscribe_inner(site: Site, body: Bytes) -> Result<HttpResponse, HttpResponse> {
    let account_id = gate(&site).await?;
    let destination = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("destination")?.as_str().map(str::to_owned))
        .ok_or_else(|| bad_request("Expected {\"destination\": URL}"))?;
    site.sim
        .with_state(|s| s.unsubscribe_webhook(account_id, &destination))
        .map_err(|_| problem::not_found("Webhook not found"))?;
    Ok(HttpResponse::NoContent().finish())
}
