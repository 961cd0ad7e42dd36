//! Demo data and the leads/contacts API in amoCRM's v4 shapes.

use amocrm_sim::{EntityKind, SimConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// These tests call the API more than 7 times a second.
async fn unlimited() -> Env {
    Env::new(SimConfig {
        rate_limit_per_sec: 0,
        ..SimConfig::default()
    })
    .await
}

fn items<'a>(page: &'a Value, name: &str) -> &'a Vec<Value> {
    page["_embedded"][name].as_array().expect("embedded items")
}

#[tokio::test]
async fn a_first_list_of_leads_shows_a_lived_in_account() {
    let env = Env::default().await;
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    let response = env.api(host, "/api/v4/leads", &tokens.access).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/hal+json")
    );
    let page: Value = response.json().await.expect("json");
    let leads = items(&page, "leads");
    assert!(leads.len() >= 10, "{}", leads.len());
    assert_eq!(page["_page"], 1);
    let pipelines = env
        .api_json(host, "/api/v4/leads/pipelines", &tokens.access)
        .await;
    let statuses: Vec<(i64, i64)> = items(&pipelines, "pipelines")
        .iter()
        .flat_map(|p| {
            p["_embedded"]["statuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |s| (p["id"].as_i64().unwrap_or(0), s["id"].as_i64().unwrap_or(0)))
        })
        .collect();
    assert!(statuses.len() >= 8);
    for lead in leads {
        assert_eq!(lead["account_id"], DEMO);
        let stage = (
            lead["pipeline_id"].as_i64().expect("pipeline"),
            lead["status_id"].as_i64().expect("status"),
        );
        assert!(statuses.contains(&stage), "{stage:?}");
        assert!(lead["price"].is_i64());
        assert!(
            lead["_links"]["self"]["href"]
                .as_str()
                .expect("href")
                .starts_with("https://demo.amocrm.ru/api/v4/leads/")
        );
        let source = &lead["custom_fields_values"][0];
        assert_eq!(source["field_name"], "Источник");
        assert!(source["values"][0]["enum_id"].is_i64());
    }
    let names: String = leads.iter().filter_map(|l| l["name"].as_str()).collect();
    assert!(names.contains("ООО «Вектор»"), "Russian names: {names}");
    assert!(
        leads
            .iter()
            .any(|l| l["status_id"] == 142 && l["closed_at"].is_i64())
    );

    let contacts = env
        .api_json(host, "/api/v4/contacts?limit=250", &tokens.access)
        .await;
    let first = &items(&contacts, "contacts")[0];
    assert_eq!(first["first_name"], "Иван");
    let phone = first["custom_fields_values"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["field_code"] == "PHONE")
        .expect("phone");
    assert_eq!(phone["values"][0]["enum_code"], "WORK");

    let (kommo, kommo_tokens) = env.connect(KOMMO).await;
    let english = env
        .api_json(&kommo.referer, "/api/v4/contacts", &kommo_tokens.access)
        .await;
    assert_eq!(items(&english, "contacts")[0]["name"], "John Carter");
}

#[tokio::test]
async fn list_parameters_page_order_search_and_filter() {
    let env = unlimited().await;
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    let get = |path: &'static str| env.api_json(host, path, &tokens.access);

    let first = get("/api/v4/leads?limit=5&order[id]=asc").await;
    assert_eq!(items(&first, "leads").len(), 5);
    let next = first["_links"]["next"]["href"].as_str().expect("next");
    assert!(
        next.contains("limit=5") && next.contains("page=2"),
        "{next}"
    );
    assert!(
        next.contains("order%5Bid%5D=asc"),
        "keeps the order: {next}"
    );
    let third = get("/api/v4/leads?limit=5&page=3").await;
    assert!(third["_links"].get("next").is_none());
    assert!(third["_links"]["prev"]["href"].is_string());
    assert_eq!(
        env.api(host, "/api/v4/leads?limit=5&page=4", &tokens.access)
            .await
            .status(),
        204
    );

    let newest = get("/api/v4/leads?order[created_at]=desc").await;
    let created: Vec<i64> = items(&newest, "leads")
        .iter()
        .filter_map(|l| l["created_at"].as_i64())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    let found = get("/api/v4/contacts?query=%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2").await;
    assert_eq!(items(&found, "contacts").len(), 1, "query=Петров");
    let by_phone = get("/api/v4/contacts?query=4951234567").await;
    assert_eq!(items(&by_phone, "contacts")[0]["last_name"], "Петров");
    assert_eq!(
        env.api(host, "/api/v4/contacts?query=zzzz", &tokens.access)
            .await
            .status(),
        204
    );

    let won = get(
        "/api/v4/leads?filter[statuses][0][pipeline_id]=7211390&filter[statuses][0][status_id]=142",
    )
    .await;
    assert!(items(&won, "leads").iter().all(|l| l["status_id"] == 142));
    let id = items(&first, "leads")[1]["id"].as_i64().expect("id");
    let one = env
        .api_json(
            host,
            &format!("/api/v4/leads?filter[id][]={id}&with=contacts"),
            &tokens.access,
        )
        .await;
    let lead = &items(&one, "leads")[0];
    assert_eq!(lead["id"], id);
    assert!(lead["_embedded"]["contacts"][0]["id"].is_i64());
    assert_eq!(lead["_embedded"]["contacts"][0]["is_main"], true);
    for bad in ["/api/v4/leads?page=0", "/api/v4/leads?order[name]=asc"] {
        let (status, _, body) = problem(env.api(host, bad, &tokens.access).await).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn create_get_and_patch_in_v4_shapes() {
    let env = unlimited().await;
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    let created = env
        .send(
            Method::POST,
            host,
            "/api/v4/contacts",
            &tokens.access,
            &json!([{
                "first_name": "Пётр", "last_name": "Сидоров",
                "custom_fields_values": [{ "field_code": "EMAIL", "values": [{ "value": "p@s.example", "enum_code": "WORK" }] }],
            }]),
        )
        .await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.expect("json");
    let contact_id = created["_embedded"]["contacts"][0]["id"]
        .as_i64()
        .expect("id");
    let lead_body = json!([{
        "name": "Новая сделка", "price": 5000, "status_id": 61457203, "pipeline_id": 7211390,
        "request_id": "mine",
        "custom_fields_values": [{ "field_id": 1118164, "values": [{ "enum_id": 908108 }] }],
        "_embedded": { "contacts": [{ "id": contact_id }] },
    }]);
    let created: Value = env
        .send(
            Method::POST,
            host,
            "/api/v4/leads",
            &tokens.access,
            &lead_body,
        )
        .await
        .json()
        .await
        .expect("json");
    let lead = &created["_embedded"]["leads"][0];
    assert_eq!(lead["request_id"], "mine");
    let id = lead["id"].as_i64().expect("id");

    let path = format!("/api/v4/leads/{id}?with=contacts");
    let stored = env.api_json(host, &path, &tokens.access).await;
    assert_eq!(stored["name"], "Новая сделка");
    assert_eq!(stored["price"], 5000);
    assert_eq!(
        stored["custom_fields_values"][0]["values"][0]["value"],
        "Рекомендация"
    );
    assert_eq!(stored["_embedded"]["contacts"][0]["id"], contact_id);
    let contact = env
        .api_json(
            host,
            &format!("/api/v4/contacts/{contact_id}?with=leads"),
            &tokens.access,
        )
        .await;
    assert_eq!(contact["name"], "Пётр Сидоров");
    assert_eq!(contact["_embedded"]["leads"][0]["id"], id);

    // PATCH one, then a batch.
    let patched = env
        .send(
            Method::PATCH,
            host,
            &format!("/api/v4/leads/{id}"),
            &tokens.access,
            &json!({ "status_id": 142, "price": 7000 }),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(patched["id"], id);
    assert!(patched["updated_at"].is_i64());
    let stored = env.api_json(host, &path, &tokens.access).await;
    assert_eq!(
        (stored["status_id"].clone(), stored["price"].clone()),
        (json!(142), json!(7000))
    );
    assert!(stored["closed_at"].is_i64());
    let batch = env
        .send(
            Method::PATCH,
            host,
            "/api/v4/contacts",
            &tokens.access,
            &json!([{ "id": contact_id, "responsible_user_id": 5000002 }]),
        )
        .await;
    assert_eq!(batch.status(), 200);
    let batch: Value = batch.json().await.expect("json");
    assert_eq!(batch["_embedded"]["contacts"][0]["id"], contact_id);

    // Validation: every bad item is named; a failing batch creates nothing.
    let before = env.sim.sim().leads(DEMO).expect("leads").len();
    let (status, _, body) = problem(
        env.send(
            Method::POST,
            host,
            "/api/v4/leads",
            &tokens.access,
            &json!([{ "name": "ok" }, { "name": "bad", "status_id": 1, "price": "10" }]),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["validation-errors"][0]["request_id"], "1");
    assert_eq!(body["validation-errors"][0]["errors"][0]["path"], "price");
    assert_eq!(env.sim.sim().leads(DEMO).expect("leads").len(), before);
    let (status, _, body) = problem(
        env.send(
            Method::PATCH,
            host,
            "/api/v4/leads",
            &tokens.access,
            &json!([{ "id": id, "price": 1 }, { "id": id, "status_id": 999 }]),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["validation-errors"][0]["errors"][0]["code"],
        "NotSupportedChoice"
    );
    let stored = env.api_json(host, &path, &tokens.access).await;
    assert_eq!(stored["price"], 7000, "the batch was undone");
    for (method, target) in [
        (Method::PATCH, "/api/v4/leads/1"),
        (Method::GET, "/api/v4/leads/x"),
    ] {
        let response = env
            .send(method, host, target, &tokens.access, &json!({ "price": 1 }))
            .await;
        assert_eq!(response.status(), 404, "{target}");
    }
    assert_eq!(
        env.api(host, "/api/v4/leads/1", &tokens.access)
            .await
            .status(),
        204,
        "no such lead"
    );
    for body in [json!([]), json!({ "name": "not an array" }), json!([1])] {
        let response = env
            .send(Method::POST, host, "/api/v4/leads", &tokens.access, &body)
            .await;
        assert_eq!(response.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn admin_api_changes_account_data_by_hand() {
    let env = Env::new(SimConfig {
        demo_data: false,
        ..SimConfig::default()
    })
    .await;
    let admin = |path: &str| env.admin(&format!("/accounts/{DEMO}{path}"));
    let post = |url: String, body: Value| env.http.post(url).json(&body).send();
    let lead: Value = post(
        admin("/leads"),
        json!({ "name": "Звонок с сайта", "price": 100 }),
    )
    .await
    .expect("create")
    .json()
    .await
    .expect("json");
    let id = lead["id"].as_i64().expect("id");
    assert_eq!(
        lead["status_id"], 61_457_201,
        "first stage of the main pipeline"
    );
    let moved: Value = post(
        admin(&format!("/leads/{id}/status")),
        json!({ "status_id": 61457203 }),
    )
    .await
    .expect("move")
    .json()
    .await
    .expect("json");
    assert_eq!(moved["status_id"], 61_457_203);
    let handed: Value = post(
        admin(&format!("/leads/{id}/responsible")),
        json!({ "responsible_user_id": 5000003 }),
    )
    .await
    .expect("responsible")
    .json()
    .await
    .expect("json");
    assert_eq!(handed["responsible_user_id"], 5_000_003);
    let bad = post(
        admin(&format!("/leads/{id}/status")),
        json!({ "status_id": 5 }),
    )
    .await
    .expect("move");
    assert_eq!(bad.status(), 400);
    let notes: Value = post(
        admin(&format!("/leads/{id}/notes")),
        json!({ "text": "Договор", "file_name": "contract.pdf" }),
    )
    .await
    .expect("note")
    .json()
    .await
    .expect("json");
    assert_eq!(notes["note_ids"].as_array().map(Vec::len), Some(2));
    let sim = env.sim.sim();
    assert_eq!(
        sim.add_note(DEMO, EntityKind::Contact, 1, "x", None),
        Err(amocrm_sim::SimError::UnknownEntity(1))
    );
    let deleted = env
        .http
        .delete(admin(&format!("/leads/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);
    assert!(sim.leads(DEMO).expect("leads").is_empty());
    let gone = env
        .http
        .delete(admin(&format!("/leads/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(gone.status(), 404);

    let account: Value = env
        .http
        .post(env.admin("/accounts"))
        .json(
            &json!({ "platform": "kommo", "subdomain": "shop", "name": "Shop", "demo_data": true }),
        )
        .send()
        .await
        .expect("account")
        .json()
        .await
        .expect("json");
    let seeded = sim
        .contacts(account["id"].as_i64().expect("id"))
        .expect("contacts");
    assert_eq!(seeded[0]["name"], "John Carter");
}
