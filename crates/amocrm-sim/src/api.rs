//! The account API (`/api/v4/...`) and the domain lookup, on account hosts.
//!
//! The account and users refused the way amoCRM refuses external integrations (leads and contacts
//! are in `entities.rs`). Every call passes the same gate as the real thing: bearer token,
//! account match, rate limit, payment.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::config::DEMO_USER_ID;
use crate::crm::catalog::Lang;
use crate::faults::Route;
use crate::grants::Bearer;
use crate::hosts::{Platform, SimHost};
use crate::journal::note_client;
use crate::limits::{Policy, Verdict};
use crate::problem;
use crate::site::{Site, respond};
use crate::store::{Account, State};

const HAL_JSON: &str = "application/hal+json";

pub(crate) fn hal(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(HAL_JSON)
        .body(body.to_string())
}

/// Authenticates an API call and applies rate limit, block and payment rules, in that order.
pub(crate) async fn authorize(site: &Site, route: Route) -> Result<Bearer, HttpResponse> {
    site.enter(route).await?;
    let account_id = site.account_id()?;
    let token = site
        .req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            problem::unauthorized("Authorization header with a Bearer token required")
        })?;
    site.sim.with_state(|s| {
        let bearer = s
            .authenticate_bearer(token, account_id)
            .map_err(problem::unauthorized)?;
        note_client(&site.req, &bearer.client_id, Some(account_id));
        if s.refuses_at_random(&bearer.client_id) {
            s.stats.api_refusals_injected += 1;
            return Err(problem::unauthorized("Access token has been revoked"));
        }
        admit(s, &bearer.client_id)?;
        let paid = s.accounts.get(&account_id).is_some_and(|a| a.paid);
        if !paid {
            return Err(problem::http(
                StatusCode::PAYMENT_REQUIRED,
                "Account is not paid",
            ));
        }
        Ok(bearer)
    })
}

fn admit(s: &mut State, client_id: &str) -> Result<(), HttpResponse> {
    let policy = Policy {
        per_sec: s.config.rate_limit_per_sec,
        violations_before_block: s.config.violations_before_block,
        block: Duration::from_secs(u64::try_from(s.config.block_secs).unwrap_or(0)),
    };
    match s.limiter.admit(client_id, policy) {
        Verdict::Allowed => Ok(()),
        Verdict::TooMany { retry_after } => {
            s.stats.rate_limited += 1;
            Err(problem::too_many_requests(retry_after))
        }
        Verdict::Blocked => {
            s.stats.blocked += 1;
            Err(problem::blocked())
        }
    }
}

/// Runs `f` on the (existing) account.
pub(crate) fn with_account<R>(
    site: &Site,
    id: i64,
    f: impl FnOnce(&mut Account, i64) -> R,
) -> Result<R, HttpResponse> {
    site.sim.with_state(|s| {
        let now = s.clock.now().timestamp();
        s.accounts
            .get_mut(&id)
            .map(|account| f(account, now))
            .ok_or_else(|| problem::not_found("Account not found"))
    })
}

pub(crate) fn query_pairs(site: &Site) -> Vec<(String, String)> {
    url::form_urlencoded::parse(site.req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// `GET /api/v4/account`
pub async fn account(site: Site) -> HttpResponse {
    respond(account_inner(site).await)
}

async fn account_inner(site: Site) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, Route::Account).await?.account_id;
    let with: Vec<String> = query_pairs(&site)
        .into_iter()
        .filter(|(k, _)| k == "with")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|p| p.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let body = with_account(&site, account_id, |account, _| account_json(account, &with))?;
    Ok(hal(body))
}

/// The always-present fields of amoCRM's account model plus the `with=` parts requested.
fn account_json(account: &Account, with: &[String]) -> Value {
    let (country, currency, symbol, timezone) = match account.platform {
        Platform::Amocrm => ("RU", "RUB", "₽", "Europe/Moscow"),
        Platform::Kommo => ("US", "USD", "$", "America/New_York"),
    };
    let created = account.created_at.timestamp();
    let mut body = json!({
        "id": account.id,
        "name": account.name,
        "subdomain": account.subdomain,
        "created_at": created,
        "created_by": 0,
        "updated_at": created,
        "updated_by": 0,
        "current_user_id": DEMO_USER_ID,
        "country": country,
        "currency": currency,
        "currency_symbol": symbol,
        "customers_mode": "disabled",
        "is_unsorted_on": true,
        "mobile_feature_version": 0,
        "is_loss_reason_enabled": true,
        "is_helpbot_enabled": false,
        "is_technical_account": false,
        "contact_name_display_order": 1,
        "_links": { "self": { "href": format!("https://{}/api/v4/account", account.host()) } },
    });
    let mut embedded = serde_json::Map::new();
    for part in with {
        match part.as_str() {
            "amojo_id" => body["amojo_id"] = json!(stable_uuid(account.id)),
            "uuid" => body["uuid"] = json!(stable_uuid(account.id + 1)),
            "version" => body["version"] = json!(14),
            "drive_url" => {
                body["drive_url"] = json!(format!("https://drive-b.{}", account.platform.domain()))
            }
            "is_api_filter_enabled" => body["is_api_filter_enabled"] = json!(true),
            "amojo_rights" => {
                embedded.insert(
                    part.clone(),
                    json!({ "can_direct": true, "can_create_groups": true }),
                );
            }
            "users_groups" => {
                embedded.insert(
                    part.clone(),
                    json!([{ "id": 0, "name": "Отдел продаж", "uuid": null }]),
                );
            }
            "task_types" => {
                embedded.insert(
                    part.clone(),
                    json!([
                        { "id": 1, "name": "Связаться", "color": null, "icon_id": null, "code": "FOLLOW_UP" },
                        { "id": 2, "name": "Встреча", "color": null, "icon_id": null, "code": "MEETING" },
                    ]),
                );
            }
            "entity_names" => {
                embedded.insert(
                    part.clone(),
                    json!({ "leads": { "ru": { "gender": "m", "plural_form": { "dative": "сделкам" } } } }),
                );
            }
            "datetime_settings" => {
                embedded.insert(
                    part.clone(),
                    json!({
                        "date_pattern": "d.m.Y H:i",
                        "short_date_pattern": "d.m.Y",
                        "short_time_pattern": "H:i",
                        "date_format": "d.m.Y",
                        "time_format": "H:i",
                        "timezone": timezone,
                        "timezone_offset": "+03:00",
                    }),
                );
            }
            "invoices_settings" => {
                embedded.insert(
                    part.clone(),
                    json!({ "lang": "ru", "invoices_catalog_id": null }),
                );
            }
            _ => {}
        }
    }
    if !embedded.is_empty() {
        body["_embedded"] = Value::Object(embedded);
    }
    body
}

/// A UUID-shaped id that is stable for an account (tests may compare it across calls).
fn stable_uuid(seed: i64) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", seed & 0xffff_ffff, seed)
}

/// `GET /api/v4/users`: refused to external integrations unless configured otherwise.
pub async fn users(site: Site) -> HttpResponse {
    respond(users_inner(site).await)
}

async fn users_inner(site: Site) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, Route::Users).await?.account_id;
    if site.sim.with_state(|s| s.config.users_api_forbidden) {
        return Err(problem::http(
            StatusCode::FORBIDDEN,
            "External integrations have no access to user methods",
        ));
    }
    let (host, users) = with_account(&site, account_id, |account, _| {
        let lang = match account.crm.lang {
            Lang::Ru => "ru",
            Lang::En => "en",
        };
        let users: Vec<Value> = account
            .crm
            .catalog()
            .users
            .iter()
            .map(|user| {
                json!({
                    "id": user.id,
                    "name": user.name,
                    "email": format!("user{}@example.com", user.id),
                    "lang": lang,
                    "rights": { "is_admin": user.id == DEMO_USER_ID && account.admin },
                })
            })
            .collect();
        (account.host(), users)
    })?;
    Ok(hal(json!({
        "_page": 1,
        "_links": { "self": { "href": format!("https://{host}/api/v4/users?page=1&limit=50") } },
        "_embedded": { "users": users },
    })))
}

/// `GET /oauth2/account/current/subdomain` with `X-Refresh-Token`: where the account lives now.
/// Served on the `api-X` host and on account hosts, as the official library uses it.
pub async fn current_subdomain(site: Site) -> HttpResponse {
    respond(current_subdomain_inner(site).await)
}

async fn current_subdomain_inner(site: Site) -> Result<HttpResponse, HttpResponse> {
    site.enter(Route::Subdomain).await?;
    if let SimHost::Account { .. } = site.host {
        site.account_id()?;
    } else if !matches!(site.host, SimHost::Api(_)) {
        return Err(problem::not_found("Not found on this host"));
    }
    let refresh_token = site
        .req
        .headers()
        .get("x-refresh-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let platform = site.host.platform();
    site.sim.with_state(|s| {
        let account = s
            .refresh_token_account(&refresh_token)
            .and_then(|id| s.accounts.get(&id))
            .filter(|a| a.platform == platform)
            .ok_or_else(|| problem::unauthorized("Invalid refresh token"))?;
        Ok(HttpResponse::Ok().json(json!({
            "id": account.id,
            "subdomain": account.subdomain,
            "domain": account.host(),
            "top_level_domain": account.platform.top_level_domain(),
        })))
    })
}
