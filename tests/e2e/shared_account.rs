//! Two workspaces connecting the same amoCRM account (security.md R34): two independent
//! connections with their own per-install credentials; revoking one never touches the other.

use amolink_tests::{Browser, Engine, TestApp, both_engines, spawn_app};

use crate::connect::{DEMO_ADMIN_ACCOUNT, tenant};

async fn connect(app: &TestApp, email: &str) -> (Browser, String) {
    let (browser, link) = tenant(app, email).await;
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303, "{email} connects");
    let list = browser.get_html("/connections").await;
    let id = list
        .split("href=\"/connections/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (browser, id)
}

async fn two_workspaces_connect_one_account_independently(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, ann_id) = connect(&app, "ann@example.com").await;
    let (bob, bob_id) = connect(&app, "bob@example.com").await;
    assert_ne!(ann_id, bob_id, "two connections");
    assert_eq!(
        app.sim.integrations().len(),
        2,
        "one integration per install"
    );

    let res = ann
        .submit("/dashboard", &format!("/connections/{ann_id}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        ann.get_html(&format!("/connections/{ann_id}"))
            .await
            .contains("Revoked")
    );
    let bobs = bob.get_html(&format!("/connections/{bob_id}")).await;
    assert!(
        bobs.contains("Active"),
        "the other workspace's connection is untouched"
    );
}

both_engines!(two_workspaces_connect_one_account_independently);
