//! Issue 11, acceptance 1: every page route and every API route, called as every role (pages)
//! and with every scope (API), against the access its table entry declares: allowed in the own
//! workspace, 404 for another workspace's object, 403 for a forbidden action. The walk is driven
//! by the route tables themselves (`web::routes::page_routes`, `web::api::routes`), so a route
//! added without a case here fails the test.

use std::collections::BTreeSet;

use amolink_tests::{Browser, Engine, TestApp, both_engines, spawn_app};
use domain::teams::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait as _, Statement};
use web::routes::table::Access;

use crate::{
    api_keys::create_key,
    connect::DEMO_ADMIN_ACCOUNT,
    teams::{add_member, between, invite, member_id},
};

/// A request: method, path and form fields.
#[derive(Debug, Clone)]
struct Req {
    method: Method,
    path: String,
    form: Vec<(String, String)>,
}

impl Req {
    fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            form: Vec::new(),
        }
    }

    fn post(path: impl Into<String>, form: &[(&str, &str)]) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            form: form
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// The ids one workspace's requests name.
#[derive(Debug, Clone, Default)]
struct Ids {
    workspace: String,
    connection: String,
    key: String,
    endpoint: String,
    delivery: String,
    button: String,
    invite: String,
    /// A member whose role is changed, then who is removed.
    member: String,
    /// A member who is made owner.
    heir: String,
}

/// The own-workspace request for a route and, for routes that name an object, the same request
/// naming another workspace's object.
fn case(method: &Method, path: &str, own: &Ids, other: &Ids, tag: &str) -> (Req, Option<Req>) {
    let with = |ids: &Ids| {
        path.replace(
            "{id}",
            match path {
                p if p.starts_with("/connections") => &ids.connection,
                p if p.starts_with("/settings/api-keys") => &ids.key,
                p if p.starts_with("/settings/webhooks") => &ids.endpoint,
                p if p.starts_with("/settings/team/invites") => &ids.invite,
                p if p.starts_with("/buttons/") => &ids.button,
                _ => "",
            },
        )
        .replace("{delivery}", &ids.delivery)
        .replace(
            "{user}",
            if path.ends_with("/transfer") {
                &ids.heir
            } else {
                &ids.member
            },
        )
    };
    let pair = |make: &dyn Fn(String) -> Req| {
        let own_req = make(with(own));
        let other_req = path.contains('{').then(|| make(with(other)));
        (own_req, other_req)
    };
    let email = format!("invitee-{tag}@example.com");
    let name = format!("key {tag}");
    match (method.as_str(), path) {
        ("GET", _) if path == "/password/reset" || path == "/invite" => {
            (Req::get(format!("{path}?token=bogus")), None)
        }
        ("GET", _) => pair(&|p| Req::get(p)),
        ("POST", "/signup") => (Req::post(path, &[]), None),
        ("POST", "/login") => (
            Req::post(
                path,
                &[("email", "nobody@example.com"), ("password", "wrong-wrong")],
            ),
            None,
        ),
        ("POST", "/logout") => (Req::post(path, &[]), None),
        ("POST", "/password/forgot") => (Req::post(path, &[("email", "nobody@example.com")]), None),
        ("POST", "/password/reset") => (
            Req::post(
                path,
                &[("token", "bogus"), ("password", "a long new password")],
            ),
            None,
        ),
        ("POST", "/invite") => (
            Req::post(path, &[("token", "bogus"), ("password", "a long password")]),
            None,
        ),
        ("POST", "/buttons") => (Req::post(path, &[("platform", "amocrm")]), None),
        ("POST", "/settings/api-keys") => (Req::post(path, &[("name", &name)]), None),
        ("POST", "/settings/webhooks") => (
            Req::post(
                path,
                &[
                    ("url", "http://127.0.0.1:9/hook"),
                    ("connection.created", "on"),
                ],
            ),
            None,
        ),
        ("POST", "/settings/team/invites") => (
            Req::post(path, &[("email", &email), ("role", "viewer")]),
            None,
        ),
        ("POST", "/settings/team/members/{user}/role") => {
            pair(&|p| Req::post(p, &[("role", "viewer")]))
        }
        ("POST", "/workspaces/switch") => (
            Req::post(path, &[("workspace", &own.workspace)]),
            Some(Req::post(path, &[("workspace", &other.workspace)])),
        ),
        ("POST", "/workspaces") => (Req::post(path, &[("name", "")]), None),
        ("POST", "/settings/workspace/delete") => {
            (Req::post(path, &[("name", "not the name")]), None)
        }
        ("POST", "/settings/account/password") => (
            Req::post(
                path,
                &[
                    ("current_password", "not the password"),
                    ("new_password", "another long one"),
                ],
            ),
            None,
        ),
        ("POST", _) => pair(&|p| Req::post(p, &[])),
        _ => panic!("no case for {method} {path}: add one to tests/e2e/roles.rs"),
    }
}

/// Routes whose allowed call destroys what later calls need run last, in this order.
const LAST: &[(&str, &str)] = &[
    ("POST", "/buttons/{id}/delete"),
    ("POST", "/settings/webhooks/{id}/delete"),
    ("POST", "/settings/team/members/{user}/remove"),
    ("POST", "/settings/team/members/{user}/transfer"),
    ("POST", "/settings/team/leave"),
    ("POST", "/logout"),
];

async fn send(browser: &Browser, csrf: &str, req: &Req) -> reqwest::Response {
    if req.method == Method::GET {
        return browser.get(&req.path).await;
    }
    let mut form: Vec<(&str, &str)> = req
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("csrf_token", csrf));
    browser.post_form(&req.path, &form).await
}

async fn workspace_id(app: &TestApp, name: &str) -> String {
    let db = app.database.connection();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match app.engine {
                Engine::Sqlite => "SELECT id FROM workspaces WHERE name = ?",
                Engine::Postgres => "SELECT id FROM workspaces WHERE name = $1",
            },
            [name.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<uuid::Uuid>("", "id").unwrap().to_string()
}

async fn add_endpoint(browser: &Browser) -> String {
    let res = browser
        .submit(
            "/settings/webhooks",
            "/settings/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("connection.created", "on"),
                ("connection.reconnected", "on"),
                ("connection.revoked", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    between(&html, "href=\"/settings/webhooks/", "\"")
        .unwrap()
        .to_owned()
}

/// Adds a connect button; answers its id.
async fn add_button(owner: &Browser, tag: &str) -> String {
    let name = format!("button {tag}");
    let res = owner
        .submit(
            "/dashboard",
            "/buttons",
            &[
                ("platform", "amocrm"),
                ("name", &name),
                ("description", "Walks every route"),
                ("logo_url", "https://acme.example/logo.png"),
                ("title", "Connect"),
                ("color", "default"),
                ("mode", "popup"),
                ("scope_crm", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = owner.get_html("/dashboard").await;
    amolink_tests::Page::parse(&html)
        .attrs("a[href^='/buttons/']", "href")
        .last()
        .and_then(|href| href.strip_prefix("/buttons/").map(str::to_owned))
        .expect("the new button is listed")
}

async fn newest_key(browser: &Browser) -> String {
    let html = browser.get_html("/settings/api-keys").await;
    between(&html, "action=\"/settings/api-keys/", "/revoke\"")
        .unwrap()
        .to_owned()
}

/// (Re)connects the demo account in `owner`'s workspace; answers the connection id.
async fn connect(app: &TestApp, owner: &Browser) -> String {
    let link = app.connect_links(owner).await.remove(0);
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let list = owner.get_html("/connections").await;
    between(&list, "href=\"/connections/", "\"")
        .unwrap()
        .to_owned()
}

/// Fresh objects in the owner's workspace for one role's walk.
async fn prepare(app: &TestApp, owner: &Browser, tag: &str, workspace: &str) -> Ids {
    let endpoint = add_endpoint(owner).await;
    let connection = connect(app, owner).await;
    let page = owner
        .get_html(&format!("/settings/webhooks/{endpoint}"))
        .await;
    let delivery = between(&page, "data-delivery=\"", "\"")
        .expect("the connection event was queued for the endpoint")
        .to_owned();
    create_key(owner, &format!("target {tag}"), &["read"]).await;
    let key = newest_key(owner).await;
    let button = add_button(owner, tag).await;
    let member_email = format!("member-{tag}@example.com");
    let heir_email = format!("heir-{tag}@example.com");
    add_member(app, owner, &member_email, "developer").await;
    add_member(app, owner, &heir_email, "developer").await;
    invite(owner, &format!("pending-{tag}@example.com"), "viewer").await;
    let team = owner.get_html("/settings/team").await;
    let invite = between(&team, "action=\"/settings/team/invites/", "/revoke\"")
        .unwrap()
        .to_owned();
    Ids {
        workspace: workspace.to_owned(),
        connection,
        key,
        endpoint,
        delivery,
        button,
        invite,
        member: member_id(owner, &member_email).await,
        heir: member_id(owner, &heir_email).await,
    }
}

fn check(route: &str, access: Access, role: Role, own: &reqwest::Response, other: Option<u16>) {
    let status = own.status().as_u16();
    let to_login =
        own.headers().get("location").is_some_and(|l| l == "/login") && route != "POST /logout";
    assert!(status < 500, "{role:?} {route}: {status}");
    let permission = match access {
        // Open to anyone (a bogus token may be 404 or 410, never 403).
        Access::Public | Access::SignedIn => {
            assert!(status != 403 && !to_login, "{role:?} {route}: {status}");
            return;
        }
        Access::Member(permission) => permission,
    };
    if role.allows(permission) {
        assert!(
            status != 403 && status != 404 && !to_login,
            "{role:?} may use {route} ({access:?}) but got {status}"
        );
        if let Some(other) = other {
            assert_eq!(other, 404, "{role:?} {route} with another workspace's id");
        }
    } else {
        assert_eq!(status, 403, "{role:?} must be refused {route} ({access:?})");
        if let Some(other) = other {
            assert_eq!(other, 403, "{role:?} {route} with another workspace's id");
        }
    }
}

async fn every_page_route_answers_every_role_as_its_table_says(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme A").await;
    let bob = app.signed_in_browser("bob@example.com", "Bob Co").await;
    let a = workspace_id(&app, "Acme A").await;
    let b = workspace_id(&app, "Bob Co").await;
    let other = prepare(&app, &bob, "b", &b).await;

    let routes = web::routes::page_routes();
    let table: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    let mut order: Vec<&web::routes::table::PageRoute> = routes
        .iter()
        .filter(|r| !LAST.contains(&(r.method.as_str(), r.path)))
        .collect();
    for (method, path) in LAST {
        order.extend(
            routes
                .iter()
                .filter(|r| r.method.as_str() == *method && r.path == *path),
        );
    }
    assert_eq!(order.len(), routes.len(), "every route is walked once");

    let mut walked: Vec<(Role, usize)> = Vec::new();
    for role in [Role::Viewer, Role::Developer, Role::Admin, Role::Owner] {
        let tag = role.as_str();
        let own = prepare(&app, &ann, tag, &a).await;
        let user = add_member(&app, &ann, &format!("{tag}@example.com"), tag).await;
        let csrf = user.csrf_token("/settings/account").await;
        let mut count = 0;
        for route in &order {
            let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            let (own_req, other_req) = case(&method, route.path, &own, &other, tag);
            // Another workspace's object first: an allowed call on the own one may end access.
            let other_status = match &other_req {
                Some(req) => Some(send(&user, &csrf, req).await.status().as_u16()),
                None => None,
            };
            let res = send(&user, &csrf, &own_req).await;
            let label = format!("{} {}", route.method, route.path);
            if route.path == "/workspaces/switch" {
                // Any signed-in person may switch, but only into their own workspaces.
                assert_eq!(res.status(), 303, "{role:?} {label}");
                assert_eq!(other_status, Some(404), "{role:?} {label} elsewhere");
                continue;
            }
            check(&label, route.access, role, &res, other_status);
            count += 1;
        }
        walked.push((role, count));
    }
    for (role, count) in walked {
        assert_eq!(count + 1, table.len(), "{role:?} walked every route");
    }
}

async fn a_viewer_reads_but_cannot_revoke_or_touch_api_keys(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let connection = connect(&app, &ann).await;
    create_key(&ann, "backend", &["read"]).await;
    let viewer = add_member(&app, &ann, "vera@example.com", "viewer").await;

    let page = viewer.get(&format!("/connections/{connection}")).await;
    assert_eq!(page.status(), 200, "viewers read connections");
    let html = page.text().await.unwrap();
    assert!(html.contains("Рога и копыта"), "the account is shown");
    assert!(!html.contains("/revoke\""), "no revoke button for a viewer");
    assert!(
        !viewer
            .get_html("/dashboard")
            .await
            .contains("/settings/api-keys"),
        "no API keys link"
    );
    let owner_page = ann.get_html(&format!("/connections/{connection}")).await;
    assert!(owner_page.contains(&format!("/connections/{connection}/revoke")));

    let csrf = viewer.csrf_token("/dashboard").await;
    let res = viewer
        .post_form(
            &format!("/connections/{connection}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 403, "the POST is refused");
    assert!(
        ann.get_html(&format!("/connections/{connection}"))
            .await
            .contains("Revoke connection"),
        "still connected"
    );
    let res = viewer.get("/settings/api-keys").await;
    assert_eq!(res.status(), 403, "a viewer cannot see API keys");
    assert!(!res.text().await.unwrap().contains("backend"));
    let res = viewer
        .post_form(
            "/settings/api-keys",
            &[("csrf_token", &csrf), ("name", "sneaky")],
        )
        .await;
    assert_eq!(res.status(), 403, "a viewer cannot create an API key");
    let keys = ann.get_html("/settings/api-keys").await;
    assert!(!keys.contains("sneaky"));
}

/// The API has scopes, not roles: every route × every single-scope key, plus no key.
async fn every_api_route_answers_every_scope_as_its_table_says(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme A").await;
    let bob = app.signed_in_browser("bob@example.com", "Bob Co").await;
    let own = connect(&app, &ann).await;
    let other = connect(&app, &bob).await;
    // Revoked, so allowed proxy and token calls are answered (409) without calling amoCRM.
    let csrf = ann.csrf_token("/dashboard").await;
    ann.post_form(
        &format!("/connections/{own}/revoke"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let scopes = ["read", "write", "tokens", "proxy"];
    let mut keys = Vec::new();
    for scope in scopes {
        keys.push((scope, create_key(&ann, scope, &[scope]).await));
    }
    let client = reqwest::Client::new();
    for route in web::api::routes() {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let url = |id: &str| {
            format!(
                "{}/api/v1{}",
                app.address,
                route
                    .path
                    .replace("{id}", id)
                    .replace("{path:.*}", "api/v4/account")
            )
        };
        let call = |key: Option<&str>, id: &str| {
            let mut req = client.request(method.clone(), url(id));
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            if route.path == "/connect-sessions" {
                req = req.json(&serde_json::json!({"end_user_id": "user-1"}));
            }
            req.send()
        };
        let label = format!("{} {}", route.method.as_str(), route.path);
        let Some(required) = route.scope else {
            assert_eq!(
                call(None, &own).await.unwrap().status(),
                200,
                "{label} is public"
            );
            continue;
        };
        assert_eq!(
            call(None, &own).await.unwrap().status(),
            401,
            "{label} without a key"
        );
        for (scope, key) in &keys {
            let status = call(Some(key), &own).await.unwrap().status().as_u16();
            if *scope == required.as_str() {
                assert!(
                    ![401, 403, 404].contains(&status) && status < 500,
                    "{label} with `{scope}`: {status}"
                );
                if route.path.contains("{id}") {
                    let status = call(Some(key), &other).await.unwrap().status();
                    assert_eq!(status, 404, "{label} with another workspace's id");
                }
            } else {
                assert_eq!(status, 403, "{label} with `{scope}` only");
            }
        }
    }
    // The permission table answers for keys' creators, not keys: a developer's key keeps
    // working after its creator leaves.
    let dev = add_member(&app, &ann, "dev@example.com", "developer").await;
    let key = create_key(&dev, "dev's key", &["read"]).await;
    let dev_id = member_id(&ann, "dev@example.com").await;
    let res = ann
        .submit(
            "/settings/team",
            &format!("/settings/team/members/{dev_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = client
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the key belongs to the workspace");
}

both_engines!(
    every_page_route_answers_every_role_as_its_table_says,
    a_viewer_reads_but_cannot_revoke_or_touch_api_keys,
    every_api_route_answers_every_scope_as_its_table_says,
);
