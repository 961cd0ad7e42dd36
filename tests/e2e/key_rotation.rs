//! `amolink keys rotate` under traffic (issue 4, acceptance 7).

use std::sync::Arc;

use amolink_tests::{Engine, TestApp, both_engines, spawn_app};
use domain::{
    crypto::{Binding, Keyring},
    ids::WorkspaceId,
    key_rotation::{SealedValues, rotate},
};
use sea_orm::{ConnectionTrait as _, Statement};
use secrecy::SecretString;

use crate::connect::tenant;

fn add_accounts(app: &TestApp, from: i64, count: i64) -> Vec<i64> {
    let ids: Vec<i64> = (from..from + count).collect();
    for id in &ids {
        app.sim
            .add_account(amocrm_sim::AccountSeed {
                id: *id,
                platform: amocrm_sim::Platform::Amocrm,
                subdomain: format!("acct{id}"),
                name: format!("Account {id}"),
                admin: true,
            })
            .unwrap();
    }
    ids
}

/// Every sealed value in the database: (table, row, workspace, binding column, value).
async fn sealed_values(app: &TestApp) -> Vec<(uuid::Uuid, uuid::Uuid, &'static str, String)> {
    let db = app.database.connection();
    let mut out = Vec::new();
    for (column, binding) in [
        ("client_secret", "connections.client_secret"),
        ("access_token", "connections.access_token"),
        ("refresh_token", "connections.refresh_token"),
    ] {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT id, workspace_id, {column} AS v FROM connections WHERE {column} IS NOT NULL"),
            ))
            .await
            .unwrap();
        for row in rows {
            out.push((
                row.try_get("", "id").unwrap(),
                row.try_get("", "workspace_id").unwrap(),
                binding,
                row.try_get("", "v").unwrap(),
            ));
        }
    }
    out
}

async fn rotation_under_traffic_leaves_everything_readable_under_the_new_key(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, link) = tenant(&app, "ann@example.com").await;
    for account in add_accounts(&app, 31_000_100, 4) {
        let (_, answer) = app.connect_account(&link, account).await;
        assert_eq!(answer.status(), 303);
    }
    // Roll out the new key first: a second instance already encrypts with k2.
    let new_ring = format!("{},{}", Keyring::generate_entry("k2"), app.master_keys);
    let upgraded = app.sibling(&new_ring).await;
    let keys = Keyring::parse(&SecretString::from(new_ring.clone())).unwrap();
    let store: Arc<dyn SealedValues> = Arc::new(
        persistence::Database::connect(&app.database_url)
            .await
            .unwrap(),
    );

    let traffic = {
        let accounts = add_accounts(&app, 31_000_200, 4);
        async {
            for account in accounts {
                let (_, answer) = upgraded
                    .connect_account(&link.replace(&app.address, &upgraded.address), account)
                    .await;
                assert_eq!(answer.status(), 303);
            }
        }
    };
    let (report, ()) = tokio::join!(rotate(&store, &keys), traffic);
    let report = report.unwrap();
    assert_eq!(report.unreadable, 0);
    assert!(report.resealed >= 12, "{report:?}");
    // A second run finds nothing left to do (and is safe to repeat).
    let again = rotate(&store, &keys).await.unwrap();
    assert_eq!(again.resealed, 0, "{again:?}");

    let values = sealed_values(&app).await;
    assert_eq!(
        values.len(),
        8 * 3,
        "eight connections, three sealed columns each"
    );
    for (row, workspace, column, sealed) in values {
        assert!(
            sealed.starts_with("v1:k2:"),
            "{column} of {row} still uses the old key"
        );
        keys.open(
            &sealed,
            &Binding {
                workspace: WorkspaceId::from_uuid(workspace),
                row,
                column,
            },
        )
        .unwrap_or_else(|e| panic!("{column} of {row} does not open: {e}"));
    }
}

both_engines!(rotation_under_traffic_leaves_everything_readable_under_the_new_key);
