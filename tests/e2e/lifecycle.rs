//! Revocation, amoCRM's disconnect hook, and secrets at rest (issue 4, acceptance 4 and 7).

use amolink_tests::{Engine, TestApp, both_engines, captured_logs, spawn_app};
use domain::{
    crypto::{Binding, Keyring},
    ids::WorkspaceId,
};
use sea_orm::{ConnectionTrait as _, Statement};
use secrecy::{ExposeSecret as _, SecretString};

use crate::connect::{DEMO_ADMIN_ACCOUNT, connected, tenant};

struct Stored {
    id: uuid::Uuid,
    workspace: uuid::Uuid,
    client_secret: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    status: String,
}

async fn stored(app: &TestApp) -> Vec<Stored> {
    let db = app.database.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, workspace_id, client_secret, access_token, refresh_token, status FROM connections",
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| Stored {
            id: r.try_get("", "id").unwrap(),
            workspace: r.try_get("", "workspace_id").unwrap(),
            client_secret: r.try_get("", "client_secret").unwrap(),
            access_token: r.try_get("", "access_token").unwrap(),
            refresh_token: r.try_get("", "refresh_token").unwrap(),
            status: r.try_get("", "status").unwrap(),
        })
        .collect()
}

/// Opens what amolink sealed, with the app's own keys.
fn open(app: &TestApp, row: &Stored, column: &'static str, sealed: &str) -> String {
    let keys = Keyring::parse(&SecretString::from(app.master_keys.clone())).unwrap();
    keys.open(
        sealed,
        &Binding {
            workspace: WorkspaceId::from_uuid(row.workspace),
            row: row.id,
            column,
        },
    )
    .unwrap()
    .expose_secret()
    .to_owned()
}

async fn revoking_destroys_credentials_and_is_final(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, id) = connected(&app).await;
    let before = &stored(&app).await[0];
    assert!(
        before.client_secret.is_some()
            && before.access_token.is_some()
            && before.refresh_token.is_some()
    );

    let res = ann.revoke(&id).await;
    assert_eq!(res.status(), 303);
    let after = &stored(&app).await[0];
    assert_eq!(after.status, "revoked");
    assert!(
        after.client_secret.is_none()
            && after.access_token.is_none()
            && after.refresh_token.is_none()
    );
    let page = ann.get_html(&format!("/connections/{id}")).await;
    assert!(
        page.contains("Revoked") && page.contains("Settings → Integrations"),
        "{page}"
    );
    assert!(
        page.contains(">Revoked<") || page.contains("Revoked</td>"),
        "history shows the revocation"
    );

    // Revoking again is harmless; a revoke without CSRF is refused.
    assert_eq!(ann.revoke(&id).await.status(), 303);
    assert_eq!(
        ann.post_form(&format!("/connections/{id}/revoke"), &[])
            .await
            .status(),
        403
    );
}

async fn amocrm_disconnect_hook_marks_the_connection_disconnected(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, id) = connected(&app).await;
    let integration = app.sim.integrations().into_iter().next().unwrap();
    let hook = |signature: String| {
        let url = format!(
            "{}/amocrm/disconnect?client_uuid={}&account_id={DEMO_ADMIN_ACCOUNT}&signature={signature}",
            ann.address, integration.client_id
        );
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(
        hook("00".repeat(32)).await,
        400,
        "a forged signature is refused"
    );
    assert_eq!(stored(&app).await[0].status, "active");

    let signature = amocrm_sim::disconnect_signature(
        &integration.client_id,
        DEMO_ADMIN_ACCOUNT,
        &integration.client_secret,
    );
    assert_eq!(hook(signature.clone()).await, 200);
    assert_eq!(hook(signature).await, 200, "idempotent");
    let row = &stored(&app).await[0];
    assert_eq!(row.status, "disconnected");
    assert!(row.access_token.is_none() && row.refresh_token.is_none());
    assert!(
        ann.get_html(&format!("/connections/{id}"))
            .await
            .contains("Disconnected by amoCRM")
    );
}

async fn no_secret_or_token_is_stored_or_logged_in_plain_text(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, link) = tenant(&app, "ann@example.com").await;
    let (customer, tag, callback) = app.consent(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(
        customer
            .client
            .get(&callback)
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let row = &stored(&app).await[0];
    let secret = open(
        &app,
        row,
        "connections.client_secret",
        row.client_secret.as_deref().unwrap(),
    );
    let access = open(
        &app,
        row,
        "connections.access_token",
        row.access_token.as_deref().unwrap(),
    );
    let refresh = open(
        &app,
        row,
        "connections.refresh_token",
        row.refresh_token.as_deref().unwrap(),
    );
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(
        secret,
        app.sim.integrations()[0].client_secret,
        "the right secret was stored"
    );
    let canaries = [
        ("client secret", secret),
        ("access token", access),
        ("refresh token", refresh),
        ("code", code),
        ("state", tag.state.clone()),
    ];

    let stored_bytes = match engine {
        Engine::Sqlite => {
            let mut bytes = Vec::new();
            for file in ["amolink.db", "amolink.db-wal"] {
                bytes.extend(std::fs::read(app.data_dir.join(file)).unwrap_or_default());
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Engine::Postgres => {
            let output = std::process::Command::new("pg_dump")
                .arg(&app.database_url)
                .output()
                .expect("pg_dump runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    assert!(
        stored_bytes.contains("v1:t1:"),
        "the dump holds sealed values"
    );
    let pages = [
        ann.get_html("/connections").await,
        ann.get_html("/dashboard").await,
    ];
    let logs = captured_logs();
    for (what, canary) in &canaries {
        assert!(
            !stored_bytes.contains(canary.as_str()),
            "the {what} is stored in plain text"
        );
        assert!(
            !logs.contains(canary.as_str()),
            "the {what} reached the logs"
        );
        for page in &pages {
            assert!(
                !page.contains(canary.as_str()),
                "the {what} is shown to the tenant"
            );
        }
    }
}

both_engines!(
    revoking_destroys_credentials_and_is_final,
    amocrm_disconnect_hook_marks_the_connection_disconnected,
    no_secret_or_token_is_stored_or_logged_in_plain_text,
);
