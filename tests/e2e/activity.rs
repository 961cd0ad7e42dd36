//! Issue 12, acceptance 3 and 4: activity per connection. A proxied call appears in the API and
//! on the connection's page within 2 s; refresh attempts, vended tokens and webhook attempts
//! are recorded; filters, keyset paging and retention work; no query value, body, token or
//! secret is ever stored (a canary scan of every column of every table); the charts show the
//! same numbers as the API for the same period.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use amolink_tests::{Browser, Engine, Page, TestApp, both_engines, spawn_app};
use reqwest::Method;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

use crate::{
    api::{Api, problem},
    api_keys::create_key,
    connect::tenant,
    proxy::{Setup, setup},
    webhooks::{Receiver, add_endpoint, connect, deliverer, drain},
};

/// The bound acceptance 3 sets: recorded activity is visible within this long.
const VISIBLE_WITHIN: Duration = Duration::from_secs(2);

/// Lets the connect flow's own `/api/v4/account` call leave amoCRM's one-second window before
/// the test proxies (the harness checks amoCRM's 7 requests per second).
async fn after_the_connect_call() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// Every entry of the connection's activity matching `query` (all pages).
async fn all_activity(api: &Api, id: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/connections/{id}/activity?limit=200{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get_json(&path).await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Polls the API until `done` holds for the connection's activity, for at most 2 s.
async fn activity_until(
    api: &Api,
    id: &str,
    query: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let items = all_activity(api, id, query).await;
        if done(&items) {
            return items;
        }
        assert!(
            started.elapsed() < VISIBLE_WITHIN,
            "activity not visible within {VISIBLE_WITHIN:?}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_kind<'a>(items: &'a [Value], kind: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["kind"] == kind).collect()
}

/// Ann's browser, signed in again (after the clock jumped past her session's timeouts).
async fn ann_again(app: &TestApp) -> Browser {
    let browser = app.browser();
    let res = browser
        .log_in("ann@example.com", "correct horse battery")
        .await;
    assert_eq!(res.status(), 303);
    browser
}

async fn proxy(api: &Api, id: &str, path: &str) -> reqwest::Response {
    api.call(
        Method::GET,
        &format!("/connections/{id}/proxy/{path}"),
        None,
    )
    .await
}

async fn a_proxied_call_appears_in_the_api_and_on_the_page_within_two_seconds(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { tenant, id, api } = setup(&app).await;
    after_the_connect_call().await;
    let res = proxy(&api, &id, "api/v4/account?with=users").await;
    let status = res.status().as_u16();
    let body = res.bytes().await.unwrap();
    assert_eq!(status, 200);

    let items = activity_until(&api, &id, "", |items| {
        !of_kind(items, "proxy_call").is_empty()
    })
    .await;
    let call = of_kind(&items, "proxy_call")[0];
    assert_eq!(call["method"], "GET");
    assert_eq!(
        call["path"], "/api/v4/account",
        "the path, without its query"
    );
    assert_eq!(call["status"], status);
    assert_eq!(call["outcome"], "relayed");
    assert_eq!(call["request_bytes"], 0);
    assert_eq!(call["response_bytes"], body.len() as u64);
    assert!(call["latency_ms"].is_u64(), "{call}");

    // The connection's page lists it too, within the same bound.
    let started = Instant::now();
    loop {
        let html = tenant.get_html(&format!("/connections/{id}")).await;
        let page = Page::parse(&html);
        let rows = page.texts("#activity-list tr.activity-row");
        if rows.iter().any(|r| r.contains("GET /api/v4/account")) {
            assert!(!html.contains("with=users"), "the query is never shown");
            break;
        }
        assert!(
            started.elapsed() < VISIBLE_WITHIN,
            "the call is not on the page: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn refreshes_vended_tokens_and_webhook_attempts_are_recorded(engine: Engine) {
    let app = spawn_app(engine).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    add_endpoint(&ann, &receiver.url, &["connection.created"]).await;
    let id = connect(&app, &ann, &link).await;
    let api = Api::new(
        &app,
        &create_key(&ann, "backend", &["read", "tokens"]).await,
    );

    // A webhook attempt (the endpoint answers 200).
    let worker = deliverer(&app).with_activity(app.housekeeping.activity_recorder());
    assert_eq!(drain(&app, &worker).await.delivered, 1);
    // A vended token.
    let vended = api
        .call(Method::POST, &format!("/connections/{id}/token"), None)
        .await;
    assert_eq!(vended.status(), 200);
    // A refresh by the keeper, once the token is due.
    let elapsed = Duration::from_secs(23 * 3600);
    app.clock
        .advance(chrono::Duration::from_std(elapsed).unwrap());
    app.sim.advance_clock(elapsed);
    app.keeper.run_once().await.unwrap();

    let items = activity_until(&api, &id, "", |items| {
        ["webhook_delivery", "token_vended", "refresh"]
            .iter()
            .all(|kind| !of_kind(items, kind).is_empty())
    })
    .await;
    let webhook = of_kind(&items, "webhook_delivery")[0];
    assert_eq!(webhook["path"], "connection.created");
    assert_eq!(webhook["status"], 200);
    assert_eq!(webhook["outcome"], "delivered");
    assert_eq!(
        webhook["request_bytes"],
        receiver.seen()[0].body.len() as u64,
        "the payload's size"
    );
    let token = of_kind(&items, "token_vended")[0];
    assert_eq!(
        (&token["status"], &token["outcome"]),
        (&json!(200), &json!("vended"))
    );
    let refresh = of_kind(&items, "refresh");
    assert_eq!(refresh.len(), 1, "{items:#?}");
    assert_eq!(refresh[0]["outcome"], "refreshed");
    assert!(refresh[0]["status"].is_null());
    assert!(refresh[0]["latency_ms"].is_u64());

    // The kind filter narrows to one kind.
    let only = all_activity(&api, &id, "&kind=refresh").await;
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["kind"], "refresh");
}

async fn filters_paging_and_bad_input(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { tenant, id, api } = setup(&app).await;
    after_the_connect_call().await;
    for _ in 0..3 {
        assert_eq!(proxy(&api, &id, "api/v4/account").await.status(), 200);
    }
    // Refused by amolink before anything is sent: a 400 in the activity.
    for _ in 0..2 {
        assert_eq!(proxy(&api, &id, "api/v4/%2e%2e/x").await.status(), 400);
    }
    let all = activity_until(&api, &id, "", |items| items.len() == 5).await;

    // Keyset pages of 2, newest first, nothing twice, nothing missing.
    let mut seen = Vec::new();
    let mut path = format!("/connections/{id}/activity?limit=2");
    loop {
        let page = api.get_json(&path).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/connections/{id}/activity?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = all
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);
    let times: Vec<&str> = all.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Status classes.
    let ok = all_activity(&api, &id, "&status=2xx").await;
    assert_eq!(ok.len(), 3);
    let refused = all_activity(&api, &id, "&status=4xx").await;
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|i| i["outcome"] == "refused"));
    assert!(all_activity(&api, &id, "&status=5xx").await.is_empty());
    assert!(
        all_activity(&api, &id, "&kind=token_vended")
            .await
            .is_empty()
    );
    // Time range: the manual clock has not moved, so everything is at one instant.
    let at = all[0]["at"].as_str().unwrap();
    let encoded = |t: &str| t.replace('+', "%2B").replace(':', "%3A");
    assert_eq!(
        all_activity(&api, &id, &format!("&from={}", encoded(at)))
            .await
            .len(),
        5
    );
    assert!(
        all_activity(&api, &id, &format!("&to={}", encoded(at)))
            .await
            .is_empty()
    );

    // The page filters the same way.
    let html = tenant
        .get_html(&format!("/connections/{id}?status=4xx"))
        .await;
    assert_eq!(
        Page::parse(&html)
            .texts("#activity-list tr.activity-row")
            .len(),
        2
    );
    let res = tenant.get(&format!("/connections/{id}?kind=nope")).await;
    assert_eq!(res.status(), 400);

    // Bad filters: problem+json 400 saying which.
    for (query, field) in [
        ("kind=nope", "kind"),
        ("status=3xx", "status"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=garbage", "cursor"),
        ("colour=red", "colour"),
    ] {
        let res = api
            .call(
                Method::GET,
                &format!("/connections/{id}/activity?{query}"),
                None,
            )
            .await;
        let body = problem(res, 400).await;
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(field),
            "{query}: {body}"
        );
    }

    // A range that ends before it starts is valid, and empty.
    let res = api
        .call(
            Method::GET,
            &format!(
                "/connections/{id}/activity?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"
            ),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"].as_array().map(Vec::len), Some(0), "{body}");

    // Another workspace's connection, or none at all, is not found.
    let bob = app.signed_in_browser("bob@example.com", "Bob's").await;
    let bob = Api::new(&app, &create_key(&bob, "bob", &["read"]).await);
    for target in [id.clone(), uuid::Uuid::new_v4().to_string(), "nope".into()] {
        let res = bob
            .call(
                Method::GET,
                &format!("/connections/{target}/activity"),
                None,
            )
            .await;
        problem(res, 404).await;
    }
    // The route needs the `read` scope.
    let proxy_only = Api::new(&app, &create_key(&tenant, "proxy", &["proxy"]).await);
    let res = proxy_only
        .call(Method::GET, &format!("/connections/{id}/activity"), None)
        .await;
    problem(res, 403).await;
}

async fn retention_purges_old_activity(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    after_the_connect_call().await;
    for _ in 0..3 {
        assert_eq!(proxy(&api, &id, "api/v4/account").await.status(), 200);
    }
    activity_until(&api, &id, "", |items| items.len() == 3).await;

    // 15 days later (the default retention is 14): a fresh entry, then housekeeping.
    let elapsed = Duration::from_secs(15 * 24 * 3600);
    app.clock
        .advance(chrono::Duration::from_std(elapsed).unwrap());
    app.sim.advance_clock(elapsed);
    let vended = api
        .call(Method::POST, &format!("/connections/{id}/token"), None)
        .await;
    assert_eq!(vended.status(), 200);
    activity_until(&api, &id, "&kind=token_vended", |items| items.len() == 1).await;
    app.housekeeping.run_once().await;

    let left = all_activity(&api, &id, "").await;
    assert!(
        of_kind(&left, "proxy_call").is_empty(),
        "entries past retention are purged: {left:#?}"
    );
    assert_eq!(of_kind(&left, "token_vended").len(), 1, "recent ones stay");
}

/// Every column of every table of the app's database, as text, that contains `needle`.
async fn stored_anywhere(app: &TestApp, needle: &str) -> Vec<String> {
    let db = app.database.connection();
    let backend = db.get_database_backend();
    let columns: Vec<(String, String)> = match app.engine {
        Engine::Sqlite => {
            let tables = db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT name FROM sqlite_master WHERE type = 'table'",
                ))
                .await
                .unwrap();
            let mut columns = Vec::new();
            for table in tables {
                let table: String = table.try_get("", "name").unwrap();
                for column in db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                {
                    columns.push((table.clone(), column.try_get("", "name").unwrap()));
                }
            }
            columns
        }
        Engine::Postgres => db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT table_name::text AS t, column_name::text AS c FROM \
                 information_schema.columns WHERE table_schema = 'public'",
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.try_get("", "t").unwrap(), r.try_get("", "c").unwrap()))
            .collect(),
    };
    assert!(columns.len() > 50, "the scan sees the schema: {columns:?}");
    // A literal in the SQL text (the canaries are base64, hex and JWTs; quotes are doubled).
    let needle = needle.replace('\'', "''");
    let mut found = Vec::new();
    for (table, column) in columns {
        let contains = match app.engine {
            Engine::Sqlite => format!("instr(CAST(\"{column}\" AS TEXT), '{needle}') > 0"),
            Engine::Postgres => format!("strpos(CAST(\"{column}\" AS TEXT), '{needle}') > 0"),
        };
        let hits = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT 1 AS hit FROM \"{table}\" WHERE {contains} LIMIT 1"),
            ))
            .await
            .unwrap();
        if !hits.is_empty() {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

async fn no_query_value_body_token_or_secret_is_ever_stored(engine: Engine) {
    let app = spawn_app(engine).await;
    let receiver = Receiver::start("127.0.0.1").await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (_, webhook_secret) = add_endpoint(&ann, &receiver.url, &["connection.created"]).await;
    let id = connect(&app, &ann, &link).await;
    let key = create_key(&ann, "backend", &["read", "tokens", "proxy"]).await;
    let api = Api::new(&app, &key);
    after_the_connect_call().await;
    let canary = |what: &str| format!("{what}canary{}", uuid::Uuid::new_v4().simple());
    let (query_value, body_value) = (canary("query"), canary("body"));

    // Query values and a body through the proxy.
    let res = proxy(
        &api,
        &id,
        &format!("api/v4/leads?query={query_value}&page=1"),
    )
    .await;
    assert!(res.status().as_u16() < 500);
    let res = api
        .call(
            Method::POST,
            &format!("/connections/{id}/proxy/api/v4/leads"),
            Some(json!([{ "name": body_value }])),
        )
        .await;
    assert!(res.status().as_u16() < 500);
    // A vended token, and a webhook attempt.
    let token: Value = api
        .call(Method::POST, &format!("/connections/{id}/token"), None)
        .await
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().unwrap().to_owned();
    let worker = deliverer(&app).with_activity(app.housekeeping.activity_recorder());
    assert_eq!(drain(&app, &worker).await.delivered, 1);
    let items = activity_until(&api, &id, "", |items| {
        of_kind(items, "proxy_call").len() == 2
            && !of_kind(items, "token_vended").is_empty()
            && !of_kind(items, "webhook_delivery").is_empty()
    })
    .await;
    let integration = app.sim.integrations().into_iter().next().unwrap();

    let canaries = [
        ("query value", query_value),
        ("request body", body_value),
        ("access token", access_token),
        ("API key", key),
        ("webhook secret", webhook_secret),
        ("client secret", integration.client_secret),
    ];
    let listed = serde_json::to_string(&items).unwrap();
    let page = ann.get_html(&format!("/connections/{id}")).await;
    for (what, canary) in &canaries {
        assert!(canary.len() >= 16, "{what} is a meaningful canary");
        assert!(
            !listed.contains(canary.as_str()),
            "the {what} is in the API"
        );
        assert!(!page.contains(canary.as_str()), "the {what} is on the page");
        let found = stored_anywhere(&app, canary).await;
        assert!(found.is_empty(), "the {what} is stored in {found:?}");
    }
}

/// Nearest-rank percentile, as the charts' definition says.
fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1);
    Some(sorted[usize::try_from(rank - 1).unwrap()])
}

async fn charts_show_the_same_numbers_as_the_api(engine: Engine) {
    let app = spawn_app(engine).await;
    let Setup { id, api, .. } = setup(&app).await;
    after_the_connect_call().await;
    for _ in 0..4 {
        assert_eq!(proxy(&api, &id, "api/v4/account").await.status(), 200);
    }
    assert_eq!(proxy(&api, &id, "api/v4/%2e%2e/x").await.status(), 400);
    // A refresh (for the dashboard's refresh column).
    let elapsed = Duration::from_secs(23 * 3600);
    app.clock
        .advance(chrono::Duration::from_std(elapsed).unwrap());
    app.sim.advance_clock(elapsed);
    app.keeper.run_once().await.unwrap();
    assert_eq!(proxy(&api, &id, "api/v4/account").await.status(), 200);
    let items = activity_until(&api, &id, "", |items| {
        of_kind(items, "proxy_call").len() == 6 && of_kind(items, "refresh").len() == 1
    })
    .await;

    // What the API says, per hour and per day.
    let mut hours: BTreeMap<String, (u64, u64, Vec<u64>)> = BTreeMap::new();
    let mut days: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for item in &items {
        let at = chrono::DateTime::parse_from_rfc3339(item["at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let day = days.entry(at.format("%Y-%m-%d").to_string()).or_default();
        match item["kind"].as_str().unwrap() {
            "proxy_call" => {
                let error = item["status"].as_u64().is_none_or(|s| s >= 400);
                day.0 += 1;
                day.1 += u64::from(error);
                let hour = hours
                    .entry(at.format("%Y-%m-%dT%H").to_string())
                    .or_default();
                hour.0 += 1;
                hour.1 += u64::from(error);
                if let Some(latency) = item["latency_ms"].as_u64() {
                    hour.2.push(latency);
                }
            }
            "refresh" => day.2 += 1,
            _ => {}
        }
    }

    // The connection's page: the table next to the hourly charts.
    let tenant = ann_again(&app).await;
    let html = tenant.get_html(&format!("/connections/{id}")).await;
    let page = scraper::Html::parse_document(&html);
    let row_sel = scraper::Selector::parse("#hourly-numbers tbody tr").unwrap();
    let cell = |row: &scraper::ElementRef, class: &str| {
        let sel = scraper::Selector::parse(&format!("td.{class}")).unwrap();
        row.select(&sel)
            .next()
            .unwrap()
            .text()
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let rows: Vec<_> = page.select(&row_sel).collect();
    assert_eq!(rows.len(), 24, "24 hours");
    let mut charted_calls = 0;
    for row in &rows {
        let start = row.value().attr("data-hour").unwrap();
        let key = chrono::DateTime::parse_from_rfc3339(start)
            .unwrap()
            .format("%Y-%m-%dT%H")
            .to_string();
        let (calls, errors, mut latencies) = hours.get(&key).cloned().unwrap_or_default();
        latencies.sort_unstable();
        let shown = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
        assert_eq!(cell(row, "calls"), calls.to_string(), "calls at {key}");
        assert_eq!(cell(row, "errors"), errors.to_string(), "errors at {key}");
        assert_eq!(
            cell(row, "p50"),
            shown(percentile(&latencies, 50)),
            "p50 at {key}"
        );
        assert_eq!(
            cell(row, "p95"),
            shown(percentile(&latencies, 95)),
            "p95 at {key}"
        );
        charted_calls += calls;
    }
    // The 23 hours the clock jumped put the first five calls outside the 24-hour window's
    // current hour but inside the window; all six are charted.
    assert_eq!(charted_calls, 6);
    // The SVG says the same in its description.
    let desc_sel = scraper::Selector::parse("#chart-calls-hourly-desc").unwrap();
    let desc: String = page.select(&desc_sel).next().unwrap().text().collect();
    for (key, (calls, errors, _)) in &hours {
        let label = format!("{}:00: calls {calls}, errors {errors}", &key[11..13]);
        assert!(desc.contains(&label), "{label} in {desc}");
    }

    // The dashboard: 14 days of calls, errors and refreshes, and connections by status.
    let html = tenant.get_html("/dashboard").await;
    let page = scraper::Html::parse_document(&html);
    let row_sel = scraper::Selector::parse("#daily-numbers tbody tr").unwrap();
    let rows: Vec<_> = page.select(&row_sel).collect();
    assert_eq!(rows.len(), 14, "14 days");
    for row in &rows {
        let day = row.value().attr("data-day").unwrap();
        let (calls, errors, refreshes) = days.get(day).copied().unwrap_or_default();
        assert_eq!(cell(row, "calls"), calls.to_string(), "calls on {day}");
        assert_eq!(cell(row, "errors"), errors.to_string(), "errors on {day}");
        assert_eq!(
            cell(row, "refreshes"),
            refreshes.to_string(),
            "refreshes on {day}"
        );
    }
    let active_sel = scraper::Selector::parse("#status-numbers tr[data-status=active]").unwrap();
    let active = page.select(&active_sel).next().unwrap();
    let listed = api.get_json("/connections").await;
    let active_in_api = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "active")
        .count();
    assert_eq!(cell(&active, "count"), active_in_api.to_string());
    assert!(html.contains("<svg class=\"chart\" id=\"chart-daily\""));
}

both_engines!(
    a_proxied_call_appears_in_the_api_and_on_the_page_within_two_seconds,
    refreshes_vended_tokens_and_webhook_attempts_are_recorded,
    filters_paging_and_bad_input,
    retention_purges_old_activity,
    no_query_value_body_token_or_secret_is_ever_stored,
    charts_show_the_same_numbers_as_the_api,
);
