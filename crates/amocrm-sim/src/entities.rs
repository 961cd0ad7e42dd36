//! `/api/v4/leads` and `/api/v4/contacts` on account hosts: list (HAL pages, 204 when empty),
//! one by id, create (`POST`, an array), update (`PATCH` an array, or one by id), and the lead
//! pipelines — in amoCRM's v4 shapes, behind the same gate as every API call.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde_json::{Map, Value, json};

use crate::api::{authorize, hal, query_pairs, with_account};
use crate::changes::ChangeError;
use crate::crm::listing::{ListQuery, MAX_LIMIT};
use crate::crm::v4::{self, Site as Place};
use crate::crm::{Actor, Change, Contact, Crm, Invalid, Lead};
use crate::faults::Route;
use crate::problem;
use crate::site::{Site, respond};
use crate::store::Account;

/// Which entity collection a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Leads,
    Contacts,
}

impl Collection {
    fn name(self) -> &'static str {
        match self {
            Self::Leads => "leads",
            Self::Contacts => "contacts",
        }
    }

    fn route(self) -> Route {
        match self {
            Self::Leads => Route::Leads,
            Self::Contacts => Route::Contacts,
        }
    }

    /// One entity as the API shows it, `None` if it does not exist.
    fn render(self, account: &Account, id: i64, query: &ListQuery) -> Option<Value> {
        let host = account.host();
        let place = Place {
            account_id: account.id,
            host: &host,
        };
        let crm = &account.crm;
        match self {
            Self::Leads => crm
                .leads
                .get(&id)
                .map(|lead| v4::lead(lead, crm.catalog(), place, query.wants("contacts"))),
            Self::Contacts => crm.contacts.get(&id).map(|contact| {
                let leads = query.wants("leads").then(|| leads_of(crm, id));
                v4::contact(contact, crm.catalog(), place, leads.as_deref())
            }),
        }
    }

    /// The ids of one page and whether another follows.
    fn page(self, crm: &Crm, query: &ListQuery) -> (Vec<i64>, bool) {
        match self {
            Self::Leads => {
                let (items, more) = query.select(crm.leads.values());
                (items.iter().map(|l| l.id).collect(), more)
            }
            Self::Contacts => {
                let (items, more) = query.select(crm.contacts.values());
                (items.iter().map(|c| c.id).collect(), more)
            }
        }
    }

    /// Creates one entity from a request object.
    fn create(
        self,
        crm: &mut Crm,
        object: &Map<String, Value>,
        actor: Actor,
    ) -> Result<(i64, Change), Vec<Invalid>> {
        match self {
            Self::Leads => {
                let lead = crm.add_lead(v4::lead_input(object)?, actor)?;
                Ok((lead.id, Change::LeadAdded(lead)))
            }
            Self::Contacts => {
                let contact = crm.add_contact(v4::contact_input(object)?, actor)?;
                Ok((contact.id, Change::ContactAdded(contact)))
            }
        }
    }

    /// Removes an entity without announcing it (undoing part of a failed batch).
    fn forget(self, crm: &mut Crm, id: i64) {
        match self {
            Self::Leads => {
                crm.leads.remove(&id);
            }
            Self::Contacts => {
                crm.contacts.remove(&id);
            }
        }
    }

    /// Changes one entity from a request object (its `id` already read).
    fn update(
        self,
        crm: &mut Crm,
        id: i64,
        object: &Map<String, Value>,
        actor: Actor,
    ) -> Result<(i64, Vec<Change>), Vec<Invalid>> {
        let changes = match self {
            Self::Leads => crm.update_lead(id, v4::lead_input(object)?, actor)?,
            Self::Contacts => vec![crm.update_contact(id, v4::contact_input(object)?, actor)?],
        };
        Ok((id, changes))
    }

    /// Copies of the entities `ids` name, to undo a failed batch with.
    fn snapshot(self, crm: &Crm, ids: &[i64]) -> Snapshot {
        match self {
            Self::Leads => Snapshot::Leads(
                ids.iter()
                    .filter_map(|id| crm.leads.get(id).cloned())
                    .collect(),
            ),
            Self::Contacts => Snapshot::Contacts(
                ids.iter()
                    .filter_map(|id| crm.contacts.get(id).cloned())
                    .collect(),
            ),
        }
    }

    fn updated_at(self, crm: &Crm, id: i64) -> Option<i64> {
        match self {
            Self::Leads => crm.leads.get(&id).map(|l| l.updated_at),
            Self::Contacts => crm.contacts.get(&id).map(|c| c.updated_at),
        }
    }
}

/// Entities as they were before a batch.
enum Snapshot {
    Leads(Vec<Lead>),
    Contacts(Vec<Contact>),
}

impl Snapshot {
    fn restore(self, crm: &mut Crm) {
        match self {
            Self::Leads(leads) => {
                for lead in leads {
                    crm.leads.insert(lead.id, lead);
                }
            }
            Self::Contacts(contacts) => {
                for contact in contacts {
                    crm.contacts.insert(contact.id, contact);
                }
            }
        }
    }
}

/// The leads a contact is linked to.
fn leads_of(crm: &Crm, contact_id: i64) -> Vec<i64> {
    crm.leads
        .values()
        .filter(|l| l.contact_ids.contains(&contact_id))
        .map(|l| l.id)
        .collect()
}

fn bad_request(detail: &str) -> HttpResponse {
    problem::http(StatusCode::BAD_REQUEST, detail)
}

fn invalid(failures: &[(String, Vec<Invalid>)]) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("application/problem+json")
        .body(v4::validation_errors(failures).to_string())
}

/// The `{id}` path segment.
fn path_id(site: &Site) -> Result<i64, HttpResponse> {
    site.req
        .match_info()
        .get("id")
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| problem::not_found("Not found"))
}

/// `href` of a list page: the request's own parameters with `page` replaced.
fn page_href(host: &str, name: &str, pairs: &[(String, String)], page: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(k, _)| k != "page") {
        query.append_pair(key, value);
    }
    query.append_pair("page", &page.to_string());
    format!("https://{host}/api/v4/{name}?{}", query.finish())
}

/// `GET /api/v4/{leads|contacts}`
pub async fn list(site: Site, collection: Collection) -> HttpResponse {
    respond(list_inner(site, collection).await)
}

async fn list_inner(site: Site, collection: Collection) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, collection.route()).await?.account_id;
    let pairs = query_pairs(&site);
    let query = ListQuery::parse(&pairs).map_err(|e| bad_request(&e))?;
    let name = collection.name();
    let body = with_account(&site, account_id, |account, _| {
        let (ids, has_next) = collection.page(&account.crm, &query);
        if ids.is_empty() {
            return None;
        }
        let items: Vec<Value> = ids
            .iter()
            .filter_map(|id| collection.render(account, *id, &query))
            .collect();
        let host = account.host();
        let mut links = json!({ "self": { "href": page_href(&host, name, &pairs, query.page) } });
        if has_next {
            links["next"] = json!({ "href": page_href(&host, name, &pairs, query.page + 1) });
        }
        if query.page > 1 {
            links["prev"] = json!({ "href": page_href(&host, name, &pairs, query.page - 1) });
        }
        Some(json!({
            "_page": query.page,
            "_links": links,
            "_embedded": { name: items },
        }))
    })?;
    Ok(body.map_or_else(|| HttpResponse::NoContent().finish(), hal))
}

/// `GET /api/v4/{leads|contacts}/{id}`: 204 when there is no such entity, as amoCRM answers.
pub async fn get_one(site: Site, collection: Collection) -> HttpResponse {
    respond(get_one_inner(site, collection).await)
}

async fn get_one_inner(site: Site, collection: Collection) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, collection.route()).await?.account_id;
    let id = path_id(&site)?;
    let query = ListQuery::parse(&query_pairs(&site)).map_err(|e| bad_request(&e))?;
    let body = with_account(&site, account_id, |account, _| {
        collection.render(account, id, &query)
    })?;
    Ok(body.map_or_else(|| HttpResponse::NoContent().finish(), hal))
}

/// The request objects of a batch body: a JSON array of 1 to 250 objects.
fn batch(body: &[u8]) -> Result<Vec<Map<String, Value>>, HttpResponse> {
    let objects = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) if (1..=MAX_LIMIT).contains(&items.len()) => items,
        _ => return Err(bad_request("Expected a JSON array of 1 to 250 objects")),
    };
    objects
        .into_iter()
        .map(|item| match item {
            Value::Object(object) => Ok(object),
            _ => Err(bad_request("Expected a JSON array of 1 to 250 objects")),
        })
        .collect()
}

/// The `request_id` amoCRM echoes: the client's own, else the item's index.
fn request_id(object: &Map<String, Value>, index: usize) -> String {
    match object.get("request_id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => index.to_string(),
    }
}

fn account_gone<E>(error: ChangeError<E>) -> Result<E, HttpResponse> {
    match error {
        ChangeError::UnknownAccount(_) => Err(problem::not_found("Account not found")),
        ChangeError::Rejected(failures) => Ok(failures),
    }
}

/// `POST /api/v4/{leads|contacts}`: all or nothing.
pub async fn create(site: Site, collection: Collection, body: Bytes) -> HttpResponse {
    respond(create_inner(site, collection, body).await)
}

async fn create_inner(
    site: Site,
    collection: Collection,
    body: Bytes,
) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, collection.route()).await?.account_id;
    let objects = batch(&body)?;
    let result = site.sim.with_state(|s| {
        s.change_crm(account_id, |crm, actor| {
            let mut created = Vec::new();
            let mut changes = Vec::new();
            let mut failures = Vec::new();
            for (index, object) in objects.iter().enumerate() {
                match collection.create(crm, object, actor) {
                    Ok((id, change)) => {
                        created.push((id, request_id(object, index)));
                        changes.push(change);
                    }
                    Err(errors) => failures.push((request_id(object, index), errors)),
                }
            }
            if failures.is_empty() {
                Ok((created, changes))
            } else {
                for (id, _) in created {
                    collection.forget(crm, id);
                }
                Err(failures)
            }
        })
    });
    let created = match result {
        Ok(created) => created,
        Err(error) => return Err(invalid(&account_gone(error)?)),
    };
    let host = with_account(&site, account_id, |account, _| account.host())?;
    let name = collection.name();
    let items: Vec<Value> = created
        .into_iter()
        .map(|(id, request_id)| {
            json!({
                "id": id,
                "request_id": request_id,
                "_links": { "self": { "href": format!("https://{host}/api/v4/{name}/{id}") } },
            })
        })
        .collect();
    Ok(hal(json!({
        "_links": { "self": { "href": format!("https://{host}/api/v4/{name}") } },
        "_embedded": { name: items },
    })))
}

/// `PATCH /api/v4/{leads|contacts}`: an array of objects with their `id`; all or nothing.
pub async fn update_many(site: Site, collection: Collection, body: Bytes) -> HttpResponse {
    respond(update_inner(site, collection, body, None).await)
}

/// `PATCH /api/v4/{leads|contacts}/{id}`: one object.
pub async fn update_one(site: Site, collection: Collection, body: Bytes) -> HttpResponse {
    let id = match path_id(&site) {
        Ok(id) => id,
        Err(response) => return response,
    };
    respond(update_inner(site, collection, body, Some(id)).await)
}

async fn update_inner(
    site: Site,
    collection: Collection,
    body: Bytes,
    single: Option<i64>,
) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, collection.route()).await?.account_id;
    let objects = match single {
        Some(_) => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(object)) => vec![object],
            _ => return Err(bad_request("Expected a JSON object")),
        },
        None => batch(&body)?,
    };
    let result = site.sim.with_state(|s| {
        s.change_crm(account_id, |crm, actor| {
            let mut failures = Vec::new();
            let mut targets = Vec::new();
            for (index, object) in objects.iter().enumerate() {
                let request = request_id(object, index);
                match single.map_or_else(|| v4::id_of(object), Ok) {
                    Ok(id) => targets.push((id, request, object)),
                    Err(errors) => failures.push((request, errors)),
                }
            }
            if !failures.is_empty() {
                return Err(failures);
            }
            // A failing item undoes the items before it, so a batch is all or nothing.
            let ids: Vec<i64> = targets.iter().map(|(id, _, _)| *id).collect();
            let before = collection.snapshot(crm, &ids);
            let mut updated = Vec::new();
            let mut changes = Vec::new();
            for (id, request, object) in targets {
                match collection.update(crm, id, object, actor) {
                    Ok((id, mut made)) => {
                        let updated_at = collection.updated_at(crm, id).unwrap_or(actor.now);
                        updated.push((id, request, updated_at));
                        changes.append(&mut made);
                    }
                    Err(errors) => {
                        before.restore(crm);
                        return Err(vec![(request, errors)]);
                    }
                }
            }
            Ok((updated, changes))
        })
    });
    let updated = match result {
        Ok(updated) => updated,
        Err(error) => {
            let failures = account_gone(error)?;
            let missing = failures
                .iter()
                .all(|(_, errors)| errors.iter().all(|e| e.code == "NotFound"));
            if single.is_some() && missing {
                return Err(problem::not_found("Entity not found"));
            }
            return Err(invalid(&failures));
        }
    };
    let host = with_account(&site, account_id, |account, _| account.host())?;
    let name = collection.name();
    let item = |id: i64, request_id: Option<String>, updated_at: i64| {
        let mut item = json!({
            "id": id,
            "updated_at": updated_at,
            "_links": { "self": { "href": format!("https://{host}/api/v4/{name}/{id}") } },
        });
        if let Some(request_id) = request_id {
            item["request_id"] = json!(request_id);
        }
        item
    };
    if single.is_some()
        && let Some((id, _, updated_at)) = updated.first()
    {
        return Ok(hal(item(*id, None, *updated_at)));
    }
    let items: Vec<Value> = updated
        .into_iter()
        .map(|(id, request_id, updated_at)| item(id, Some(request_id), updated_at))
        .collect();
    Ok(hal(json!({
        "_links": { "self": { "href": format!("https://{host}/api/v4/{name}") } },
        "_embedded": { name: items },
    })))
}

/// `GET /api/v4/leads/pipelines`
pub async fn pipelines(site: Site) -> HttpResponse {
    respond(pipelines_inner(site).await)
}

async fn pipelines_inner(site: Site) -> Result<HttpResponse, HttpResponse> {
    let account_id = authorize(&site, Route::Leads).await?.account_id;
    let body = with_account(&site, account_id, |account, _| {
        let host = account.host();
        let place = Place {
            account_id: account.id,
            host: &host,
        };
        let pipelines: Vec<Value> = account
            .crm
            .catalog()
            .pipelines
            .iter()
            .map(|p| v4::pipeline(p, place))
            .collect();
        json!({
            "_total_items": pipelines.len(),
            "_links": place.link("/api/v4/leads/pipelines"),
            "_embedded": { "pipelines": pipelines },
        })
    })?;
    Ok(hal(body))
}
