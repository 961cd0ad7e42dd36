//! Issue 11, acceptance 4: deleting a workspace revokes every connection through the usual
//! revoke path (tenant webhooks get `connection.revoked`, amoCRM never hears from amolink about
//! them again) and then leaves no row of the workspace in any table.

use std::time::Duration;

use amocrm_sim::Event;
use amolink_tests::{Browser, ButtonTag, Engine, TestApp, both_engines, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement, Value};

use crate::{
    api_keys::create_key,
    connect::{DEMO_ADMIN_ACCOUNT, KOMMO_ADMIN_ACCOUNT, add_kommo_button},
    teams::{add_member, between, invite, workspace_shown},
    webhooks::{Receiver, deliverer, drain},
};

/// Every table of the database except the migration ledger.
async fn tables(app: &TestApp) -> Vec<String> {
    let db = app.database.connection();
    let sql = match app.engine {
        Engine::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'"
        }
        Engine::Postgres => {
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect()
}

async fn columns(app: &TestApp, table: &str) -> Vec<String> {
    let db = app.database.connection();
    let (sql, values): (&str, Vec<Value>) = match app.engine {
        Engine::Sqlite => (
            "SELECT name AS c FROM pragma_table_info(?)",
            vec![table.into()],
        ),
        Engine::Postgres => (
            "SELECT column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1",
            vec![table.into()],
        ),
    };
    db.query_all_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.try_get::<String>("", "c").unwrap())
    .collect()
}

/// Rows of `table` holding `needle` in any column, as text or (SQLite) as a 16-byte UUID blob.
async fn rows_holding(app: &TestApp, table: &str, needle: &str, except: &str) -> i64 {
    let db = app.database.connection();
    let simple = needle.replace('-', "");
    let mut conditions = Vec::new();
    for column in columns(app, table).await {
        match app.engine {
            Engine::Sqlite => conditions.push(format!(
                "(CAST(\"{column}\" AS TEXT) LIKE '%{needle}%' \
                 OR lower(hex(\"{column}\")) LIKE '%{simple}%')"
            )),
            Engine::Postgres => {
                conditions.push(format!("CAST(\"{column}\" AS TEXT) LIKE '%{needle}%'"));
            }
        }
    }
    let sql = format!(
        "SELECT COUNT(*) AS n FROM \"{table}\" WHERE ({}){except}",
        conditions.join(" OR ")
    );
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

async fn client_id(app: &TestApp, connection: &str) -> String {
    let db = app.database.connection();
    let sql = match app.engine {
        Engine::Sqlite => "SELECT client_id FROM connections WHERE id = ?",
        Engine::Postgres => "SELECT client_id FROM connections WHERE id = $1",
    };
    db.query_one_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [connection.parse::<uuid::Uuid>().unwrap().into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "client_id")
    .unwrap()
}

fn connection_ids(html: &str) -> Vec<String> {
    html.split("href=\"/connections/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Moves amolink's and amoCRM's clocks together.
fn advance(app: &TestApp, by: Duration) {
    app.clock.advance(chrono::Duration::from_std(by).unwrap());
    app.sim.advance_clock(by);
}

async fn connect_all(app: &TestApp, owner: &Browser) -> Vec<String> {
    add_kommo_button(owner).await;
    let links = app.connect_links(owner).await;
    for link in &links {
        let page = app
            .browser()
            .get_html(&crate::teams::local_path(link))
            .await;
        let kommo = ButtonTag::parse(&page).unwrap().class == "kommo_oauth";
        let account = if kommo {
            KOMMO_ADMIN_ACCOUNT
        } else {
            DEMO_ADMIN_ACCOUNT
        };
        let (_, answer) = app.connect_account(link, account).await;
        assert_eq!(answer.status(), 303);
    }
    connection_ids(&owner.get_html("/connections").await)
}

async fn deleting_a_workspace_revokes_every_connection_and_leaves_no_row(engine: Engine) {
    let app = spawn_app(engine).await;
    let receiver = Receiver::start("127.0.0.1").await;

    // A workspace with everything a workspace can hold.
    let ann = app
        .signed_in_browser("ann@example.com", "Doomed Workspace")
        .await;
    let res = ann
        .submit(
            "/settings/webhooks",
            "/settings/webhooks",
            &[("url", receiver.url.as_str()), ("connection.revoked", "on")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let endpoint = between(
        &res.text().await.unwrap(),
        "href=\"/settings/webhooks/",
        "\"",
    )
    .unwrap()
    .to_owned();
    let doomed = connect_all(&app, &ann).await;
    assert_eq!(doomed.len(), 2);
    let key = create_key(&ann, "backend", &["read", "proxy", "tokens"]).await;
    let proxied = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/connections/{}/proxy/api/v4/account",
            app.address, doomed[0]
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        proxied.status(),
        200,
        "a governed call leaves a rate-limit row"
    );
    let bob = add_member(&app, &ann, "bob@example.com", "developer").await;
    invite(&ann, "pending@example.com", "viewer").await;
    let dashboard = ann.get_html("/dashboard").await;
    let button_keys: Vec<String> = dashboard
        .split("<code id=\"link-")
        .skip(1)
        .filter_map(|part| part.split('"').next())
        .map(str::to_owned)
        .collect();
    // A refresh through the keeper leaves journal rows.
    advance(&app, Duration::from_secs(23 * 3600));
    assert_eq!(app.keeper.run_once().await.unwrap(), 2);
    let ann = app.browser();
    assert_eq!(
        ann.log_in("ann@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    let bob_again = app.browser();
    assert_eq!(
        bob_again
            .log_in("bob@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    drop(bob);

    // Another workspace, which ann also belongs to, must not be touched.
    let carol = app.signed_in_browser("carol@example.com", "Survivor").await;
    let (_, answer) = app
        .connect_account(&app.connect_links(&carol).await[0], DEMO_ADMIN_ACCOUNT)
        .await;
    assert_eq!(answer.status(), 303);
    let survivor = connection_ids(&carol.get_html("/connections").await);
    let link = invite(&carol, "ann@example.com", "admin").await;
    let res = crate::teams::accept(&ann, &link, "").await;
    assert_eq!(res.status(), 303);
    // Back into the doomed workspace to delete it.
    let options = crate::teams::switcher(&ann.get_html("/dashboard").await);
    let doomed_choice = options
        .iter()
        .find(|(_, current)| !current)
        .unwrap()
        .0
        .clone();
    ann.submit(
        "/dashboard",
        "/workspaces/switch",
        &[("workspace", &doomed_choice)],
    )
    .await;
    assert_eq!(workspace_shown(&ann).await, "Doomed Workspace");
    let client_ids = [
        client_id(&app, &doomed[0]).await,
        client_id(&app, &doomed[1]).await,
    ];

    // The owner must type the name.
    let res = ann
        .submit(
            "/settings/workspace",
            "/settings/workspace/delete",
            &[("name", "Doomed")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("exactly as shown"));
    let res = ann
        .submit(
            "/settings/workspace",
            "/settings/workspace/delete",
            &[("name", "Doomed Workspace")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let since = app.sim.journal().last().map_or(0, |e| e.seq);

    // Nobody gets in any more; the owner lands in her other workspace.
    assert_eq!(workspace_shown(&ann).await, "Survivor");
    let res = bob_again.get("/dashboard").await;
    assert_eq!(
        res.headers()["location"],
        "/login",
        "the member's session ended"
    );
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the API key is gone");
    for key in &button_keys {
        let res = app.browser().get(&format!("/connect/{key}")).await;
        assert_eq!(res.status(), 404, "the connect button is gone");
    }

    // The tenant's endpoint hears of each revocation.
    let worker = deliverer(&app);
    drain(&app, &worker).await;
    let mut revoked: Vec<String> = receiver
        .seen()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["type"] == "connection.revoked")
        .map(|j| j["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    revoked.sort();
    let mut expected = doomed.clone();
    expected.sort();
    assert_eq!(revoked, expected);

    // Housekeeping removes the rest; amoCRM hears nothing more about those connections.
    app.housekeeping.run_once().await;
    for _ in 0..3 {
        advance(&app, Duration::from_secs(23 * 3600));
        app.keeper.run_once().await.unwrap();
        app.housekeeping.run_once().await;
    }
    let after = app.sim.journal_since(since);
    let survivor_client = client_id(&app, &survivor[0]).await;
    assert!(
        after.iter().any(|e| matches!(&e.event,
            Event::Request { client_id: Some(c), .. } if *c == survivor_client)),
        "the keeper kept working for the other workspace"
    );
    for entry in &after {
        let client = match &entry.event {
            Event::Request { client_id, .. } => client_id.clone(),
            Event::RefreshPresented { client_id, .. } | Event::TokenIssued { client_id, .. } => {
                Some(client_id.clone())
            }
            _ => None,
        };
        assert!(
            client.is_none_or(|c| !client_ids.contains(&c)),
            "amoCRM was called for a deleted connection: {entry:?}"
        );
    }

    // No table holds a row of the workspace, except the one record of its deletion.
    let workspace = doomed_choice;
    let mut needles = vec![
        workspace.clone(),
        endpoint.clone(),
        "Doomed Workspace".to_owned(),
    ];
    needles.extend(doomed.iter().cloned());
    needles.extend(client_ids.iter().cloned());
    needles.extend(button_keys.iter().cloned());
    let deletion_record = " AND NOT (action = 'workspace.deleted')";
    for table in tables(&app).await {
        let except = if table == "audit_events" {
            deletion_record
        } else {
            ""
        };
        for needle in &needles {
            assert_eq!(
                rows_holding(&app, &table, needle, except).await,
                0,
                "{table} still holds {needle}"
            );
        }
    }
    let db = app.database.connection();
    let record = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT workspace_id, target_id, actor_label FROM audit_events \
             WHERE action = 'workspace.deleted'",
        ))
        .await
        .unwrap();
    assert_eq!(record.len(), 1, "the deletion itself is on record");
    assert!(
        record[0]
            .try_get::<Option<uuid::Uuid>>("", "workspace_id")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        record[0].try_get::<String>("", "target_id").unwrap(),
        workspace
    );
    assert_eq!(
        record[0].try_get::<String>("", "actor_label").unwrap(),
        "ann@example.com"
    );

    // The people remain: carol's workspace is whole, bob can create a workspace of his own.
    let carol = app.browser();
    assert_eq!(
        carol
            .log_in("carol@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    assert_eq!(
        connection_ids(&carol.get_html("/connections").await),
        survivor
    );
    let bob = app.browser();
    let res = bob.log_in("bob@example.com", "correct horse battery").await;
    assert_eq!(res.headers()["location"], "/workspaces/new");
}

both_engines!(deleting_a_workspace_revokes_every_connection_and_leaves_no_row);
