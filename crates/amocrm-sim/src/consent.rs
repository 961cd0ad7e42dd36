//! The consent popup on `www.` hosts: `GET /oauth` shows the integration and the demo user's
//! accounts; `POST /oauth/decision` performs the install (secrets webhook first, then the code)
//! and sends the browser back to the integration in the requested `mode`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::web::Bytes;
use serde_json::json;

use crate::config::DEMO_USER_NAME;
use crate::faults::{FaultKind, Route};
use crate::html::{error_page, escape, javascript, page};
use crate::journal::{Event, note_client};
use crate::outbound;
use crate::site::{Site, respond};
use crate::store::{Integration, IntegrationKind};
use crate::tokens;

/// Scopes the metadata button may ask for.
const METADATA_SCOPES: [&str; 2] = ["crm", "notifications"];
/// What amoCRM shows when the secrets endpoint does not answer 200.
const CREATION_FAILED: &str = "Произошла ошибка создания, обратитесь к разработчику интеграции.";
const ONLY_ADMIN: &str = "Только администратор аккаунта может установить интеграцию (only an administrator can install).";

/// How the result travels back to the integration (`data-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The popup posts `{url}` to the page that opened it, which navigates itself.
    Popup,
    /// The popup itself is redirected to the Redirect URI.
    PostMessage,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Popup => "popup",
            Self::PostMessage => "post_message",
        }
    }
}

/// The integration the consent is for.
#[derive(Debug, Clone)]
enum Target {
    /// `client_id` of a registered integration.
    Existing { client_id: String },
    /// The metadata button: an integration to be created on Allow.
    Metadata {
        name: String,
        description: String,
        redirect_uri: String,
        secrets_uri: String,
        logo: Option<String>,
        scopes: Vec<String>,
    },
}

/// A validated consent request, from the page's query or the decision form.
#[derive(Debug, Clone)]
struct ConsentRequest {
    state: Option<String>,
    mode: Mode,
    origin: Option<String>,
    target: Target,
}

fn absolute_http_url(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

impl ConsentRequest {
    fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v != "null" && v != "undefined")
        };
        let mode = match get("mode").as_deref() {
            Some("popup") => Mode::Popup,
            Some("post_message") | None => Mode::PostMessage,
            Some(other) => return Err(format!("Unknown mode {other:?}")),
        };
        let target = match get("client_id") {
            Some(client_id) => Target::Existing { client_id },
            None => {
                let scopes: Vec<String> = pairs
                    .iter()
                    .filter(|(k, _)| k == "scopes[]" || k == "scopes")
                    .flat_map(|(_, v)| v.split(','))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let field =
                    |key: &str| get(key).ok_or_else(|| format!("Parameter {key} is required"));
                let (name, description) = (field("name")?, field("description")?);
                let (redirect_uri, secrets_uri) = (field("redirect_uri")?, field("secrets_uri")?);
                if scopes.is_empty() {
                    return Err("Parameter scopes is required".into());
                }
                if let Some(bad) = scopes
                    .iter()
                    .find(|s| !METADATA_SCOPES.contains(&s.as_str()))
                {
                    return Err(format!("Scope {bad:?} is not available to this button"));
                }
                for (key, value) in [
                    ("redirect_uri", &redirect_uri),
                    ("secrets_uri", &secrets_uri),
                ] {
                    if !absolute_http_url(value) {
                        return Err(format!("Parameter {key} must be an absolute URL"));
                    }
                }
                Target::Metadata {
                    name,
                    description,
                    redirect_uri,
                    secrets_uri,
                    logo: get("logo"),
                    scopes,
                }
            }
        };
        Ok(Self {
            state: get("state"),
            mode,
            origin: get("origin"),
            target,
        })
    }

    /// The request as hidden form fields, so the decision re-validates exactly what was shown.
    fn hidden_fields(&self) -> String {
        let mut fields: Vec<(&str, &str)> = vec![("mode", self.mode.as_str())];
        if let Some(state) = &self.state {
            fields.push(("state", state));
        }
        if let Some(origin) = &self.origin {
            fields.push(("origin", origin));
        }
        match &self.target {
            Target::Existing { client_id } => fields.push(("client_id", client_id)),
            Target::Metadata {
                name,
                description,
                redirect_uri,
                secrets_uri,
                logo,
                scopes,
            } => {
                fields.extend([
                    ("name", name.as_str()),
                    ("description", description.as_str()),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("secrets_uri", secrets_uri.as_str()),
                ]);
                if let Some(logo) = logo {
                    fields.push(("logo", logo));
                }
                fields.extend(scopes.iter().map(|s| ("scopes[]", s.as_str())));
            }
        }
        fields
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(k),
                    escape(v)
                )
            })
            .collect()
    }

    /// The origin of the page that opened the popup, the only target we post results to.
    fn opener_origin(&self) -> Option<String> {
        let url = url::Url::parse(self.origin.as_deref()?).ok()?;
        let origin = url.origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    }
}

/// What the consent page displays about the integration.
struct Shown {
    name: String,
    description: String,
    logo: Option<String>,
    scopes: Vec<String>,
}

fn shown(site: &Site, request: &ConsentRequest) -> Result<Shown, HttpResponse> {
    match &request.target {
        Target::Metadata {
            name,
            description,
            logo,
            scopes,
            ..
        } => Ok(Shown {
            name: name.clone(),
            description: description.clone(),
            logo: logo.clone(),
            scopes: scopes.clone(),
        }),
        Target::Existing { client_id } => site
            .sim
            .with_state(|s| {
                s.integrations.get(client_id).map(|i| Shown {
                    name: i.name.clone(),
                    description: i.description.clone(),
                    logo: i.logo.clone(),
                    scopes: i.scopes.clone(),
                })
            })
            .ok_or_else(|| {
                error_page(
                    StatusCode::BAD_REQUEST,
                    "Интеграция не найдена (unknown client_id)",
                )
            }),
    }
}

fn pairs_of(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// `GET /oauth` and `GET /oauth/`
pub async fn consent_page(site: Site) -> HttpResponse {
    respond(consent_page_inner(site).await)
}

async fn consent_page_inner(site: Site) -> Result<HttpResponse, HttpResponse> {
    site.enter(Route::Consent).await?;
    let platform = site.require_consent_host()?;
    let request = ConsentRequest::parse(&pairs_of(site.req.query_string().as_bytes()))
        .map_err(|message| error_page(StatusCode::BAD_REQUEST, &message))?;
    let shown = shown(&site, &request)?;
    let accounts = site.sim.with_state(|s| {
        s.accounts
            .values()
            .filter(|a| a.platform == platform)
            .map(|a| (a.id, a.name.clone(), a.host(), a.admin))
            .collect::<Vec<_>>()
    });
    let account_options: String = accounts
        .iter()
        .enumerate()
        .map(|(index, (id, name, host, admin))| {
            format!(
                "<label><input type=\"radio\" name=\"account_id\" value=\"{id}\"{checked}> \
                 <span class=\"account-name\">{}</span> <span class=\"muted\">{} — {}</span></label>",
                escape(name),
                escape(host),
                if *admin { "администратор" } else { "пользователь" },
                checked = if index == 0 { " checked" } else { "" },
            )
        })
        .collect();
    let logo = shown
        .logo
        .as_deref()
        .filter(|l| absolute_http_url(l))
        .map(|l| {
            format!(
                "<img class=\"logo\" alt=\"\" referrerpolicy=\"no-referrer\" src=\"{}\">",
                escape(l)
            )
        })
        .unwrap_or_default();
    let scopes: String = shown
        .scopes
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let body = format!(
        "<p class=\"muted\">Вы вошли как <b id=\"sim-user\">{user}</b></p>\
         <div class=\"card\">{logo}<h1 id=\"sim-integration-name\">{name}</h1>\
         <p id=\"sim-integration-description\">{description}</p>\
         <p>Интеграция запрашивает доступ:</p><ul>{scopes}</ul></div>\
         <form method=\"post\" action=\"{action}\" id=\"sim-consent-form\">{hidden}\
         <div class=\"card\"><p>Аккаунт:</p>{account_options}</div>\
         <button type=\"submit\" name=\"decision\" value=\"allow\" id=\"sim-allow\">Разрешить</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"sim-deny\">Отказать</button>\
         </form><p class=\"muted\">{platform_host} · amocrm-sim</p>",
        user = escape(DEMO_USER_NAME),
        name = escape(&shown.name),
        description = escape(&shown.description),
        action = escape(&format!("{}/oauth/decision", site.base)),
        hidden = request.hidden_fields(),
        platform_host = escape(platform.consent_host()),
    );
    Ok(page(StatusCode::OK, "Предоставить доступ", &body))
}

/// `POST /oauth/decision`: Allow or Decline.
pub async fn decision(site: Site, body: Bytes) -> HttpResponse {
    respond(decision_inner(site, body).await)
}

async fn decision_inner(site: Site, body: Bytes) -> Result<HttpResponse, HttpResponse> {
    site.enter(Route::Decision).await?;
    let platform = site.require_consent_host()?;
    let pairs = pairs_of(&body);
    let request = ConsentRequest::parse(&pairs)
        .map_err(|message| error_page(StatusCode::BAD_REQUEST, &message))?;
    let field = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let allow = match field("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "decision must be allow or deny",
            ));
        }
    };
    if !allow {
        return decline(&site, &request);
    }
    let account_id = field("account_id")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| error_page(StatusCode::BAD_REQUEST, "Выберите аккаунт (account_id)"))?;
    let (subdomain, admin) = site
        .sim
        .with_state(|s| {
            s.accounts
                .get(&account_id)
                .filter(|a| a.platform == platform)
                .map(|a| (a.subdomain.clone(), a.admin))
        })
        .ok_or_else(|| error_page(StatusCode::BAD_REQUEST, "Нет доступа к этому аккаунту"))?;
    let client_id = match &request.target {
        Target::Existing { client_id } => authorize_existing(&site, client_id, account_id, admin)?,
        Target::Metadata { .. } if !admin => {
            return Err(error_page(StatusCode::FORBIDDEN, ONLY_ADMIN));
        }
        Target::Metadata { .. } => install_external(&site, &request, account_id).await?,
    };
    note_client(&site.req, &client_id, Some(account_id));
    let code = site
        .sim
        .with_state(|s| s.issue_code(&client_id, account_id));
    let platform_param = site.sim.with_state(|s| s.config.redirect_platform_param);
    let redirect_uri = redirect_uri_of(&site, &request)?;
    let mut params = vec![
        ("code", code),
        ("referer", platform.account_host(&subdomain)),
    ];
    if let Some(state) = &request.state {
        params.push(("state", state.clone()));
    }
    params.push(("client_id", client_id));
    if platform_param {
        params.push(("platform", platform.code().to_string()));
    }
    let url = with_query(&redirect_uri, &params)?;
    Ok(finish(&site, &request, &url, json!({ "url": url })))
}

/// Authorises a registered integration; installing it into the account needs an administrator.
fn authorize_existing(
    site: &Site,
    client_id: &str,
    account_id: i64,
    admin: bool,
) -> Result<String, HttpResponse> {
    site.sim.with_state(|s| {
        let integration = s.integrations.get_mut(client_id).ok_or_else(|| {
            error_page(
                StatusCode::BAD_REQUEST,
                "Интеграция не найдена (unknown client_id)",
            )
        })?;
        if !integration.installed_in.contains(&account_id) {
            if !admin {
                return Err(error_page(StatusCode::FORBIDDEN, ONLY_ADMIN));
            }
            integration.installed_in.insert(account_id);
        }
        Ok(client_id.to_owned())
    })
}

/// Creates the integration of a metadata button and delivers its keys; the integration only
/// exists if `secrets_uri` answered exactly 200.
async fn install_external(
    site: &Site,
    request: &ConsentRequest,
    account_id: i64,
) -> Result<String, HttpResponse> {
    let Target::Metadata {
        name,
        description,
        redirect_uri,
        secrets_uri,
        logo,
        scopes,
    } = &request.target
    else {
        return Err(error_page(StatusCode::BAD_REQUEST, "Not a metadata button"));
    };
    let integration = Integration {
        client_id: uuid::Uuid::new_v4().to_string(),
        client_secret: tokens::new_client_secret(),
        kind: IntegrationKind::External,
        name: name.clone(),
        description: description.clone(),
        redirect_uri: redirect_uri.clone(),
        secrets_uri: Some(secrets_uri.clone()),
        logo: logo.clone(),
        scopes: scopes.clone(),
        installed_in: [account_id].into(),
        created_at: site.sim.now(),
        tokens: Default::default(),
        api_refusal_probability: 0.0,
    };
    let (fault, format) = site.sim.with_state(|s| {
        (
            s.faults.trigger(Route::SecretsDelivery),
            s.config.secrets_format,
        )
    });
    let sends = if fault == Some(FaultKind::Duplicate) {
        2
    } else {
        1
    };
    if let Some(FaultKind::Latency { ms }) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let mut delivered = true;
    let mut failure_code = 0;
    for _ in 0..sends {
        let delivery = outbound::post_secrets(
            secrets_uri,
            format,
            &integration.client_id,
            &integration.client_secret,
            request.state.as_deref(),
        )
        .await;
        site.sim.with_state(|s| {
            s.stats.secrets_deliveries += 1;
            s.record(Event::SecretsDelivered {
                client_id: integration.client_id.clone(),
                url: secrets_uri.clone(),
                status: delivery.status,
                error: delivery.error.clone(),
                accepted: delivery.is_ok(),
            });
        });
        if !delivery.is_ok() {
            delivered = false;
            failure_code = delivery.status.unwrap_or(0);
        }
    }
    if !delivered {
        return Err(error_page(
            StatusCode::BAD_GATEWAY,
            &format!("{CREATION_FAILED} (Code {failure_code})"),
        ));
    }
    let client_id = integration.client_id.clone();
    site.sim.with_state(|s| {
        s.integrations.insert(client_id.clone(), integration);
        s.record(Event::IntegrationCreated {
            client_id: client_id.clone(),
            account_id,
        });
    });
    Ok(client_id)
}

/// Where the browser goes back to: the button's `redirect_uri`, or the registered integration's.
fn redirect_uri_of(site: &Site, request: &ConsentRequest) -> Result<String, HttpResponse> {
    match &request.target {
        Target::Metadata { redirect_uri, .. } => Ok(redirect_uri.clone()),
        Target::Existing { client_id } => site
            .sim
            .with_state(|s| {
                s.integrations
                    .get(client_id)
                    .map(|i| i.redirect_uri.clone())
            })
            .ok_or_else(|| {
                error_page(
                    StatusCode::BAD_REQUEST,
                    "Интеграция не найдена (unknown client_id)",
                )
            }),
    }
}

fn with_query(base: &str, params: &[(&str, String)]) -> Result<String, HttpResponse> {
    let mut url = url::Url::parse(base)
        .map_err(|_| error_page(StatusCode::BAD_REQUEST, "redirect_uri is not a valid URL"))?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(url.into())
}

/// Decline: `redirect_uri?error=access_denied&state=..(&client_id=..)`.
fn decline(site: &Site, request: &ConsentRequest) -> Result<HttpResponse, HttpResponse> {
    let client_id = match &request.target {
        Target::Existing { client_id } => Some(client_id.clone()),
        Target::Metadata { .. } => None,
    };
    let redirect_uri = redirect_uri_of(site, request)?;
    let mut params = vec![("error", "access_denied".to_owned())];
    if let Some(state) = &request.state {
        params.push(("state", state.clone()));
    }
    if let Some(client_id) = &client_id {
        params.push(("client_id", client_id.clone()));
    }
    let url = with_query(&redirect_uri, &params)?;
    let message =
        json!({ "error": "access_denied", "client_id": client_id, "state": request.state });
    Ok(finish(site, request, &url, message))
}

/// Sends the browser on: a 302 in `post_message` mode; in `popup` mode a page whose script posts
/// `message` to the opener (at the opener's own origin only) and closes, or navigates itself when
/// there is no opener (tests without popups).
fn finish(
    site: &Site,
    request: &ConsentRequest,
    url: &str,
    message: serde_json::Value,
) -> HttpResponse {
    if request.mode == Mode::PostMessage {
        return HttpResponse::Found()
            .insert_header((LOCATION, url))
            .insert_header(("Cache-Control", "no-store"))
            .finish();
    }
    let body = format!(
        "<div id=\"sim-complete\" data-url=\"{url}\" data-origin=\"{origin}\" data-message=\"{message}\">\
         <p>Готово. <a id=\"sim-continue\" href=\"{url}\">Продолжить</a></p></div>\
         <script src=\"{script}\"></script>",
        url = escape(url),
        origin = escape(&request.opener_origin().unwrap_or_default()),
        message = escape(&message.to_string()),
        script = escape(&format!("{}/oauth/complete.js", site.base)),
    );
    page(StatusCode::OK, "Готово", &body)
}

/// `GET /oauth/complete.js`: the popup-mode result script (a file, so it passes a strict CSP).
pub async fn complete_js(site: Site) -> HttpResponse {
    respond(
        site.require_consent_host()
            .map(|_| javascript(include_str!("assets/complete.js"))),
    )
}
