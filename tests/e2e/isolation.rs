//! Workspaces never see each other's data (issue 2, acceptance 7). Routes that take an id are
//! covered route by route where they are introduced.

use amolink_tests::{Engine, both_engines, spawn_app};

async fn each_workspace_sees_only_itself(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app
        .signed_in_browser("ann@example.com", "Ann's Agency")
        .await;
    let bob = app
        .signed_in_browser("bob@example.com", "Bob's Bakery")
        .await;
    for path in ["/dashboard", "/connections"] {
        let a = ann.get_html(path).await;
        let b = bob.get_html(path).await;
        assert!(
            a.contains("Ann&#39;s Agency") && !a.contains("Bob"),
            "{path}"
        );
        assert!(
            b.contains("Bob&#39;s Bakery") && !b.contains("Ann"),
            "{path}"
        );
    }
}

both_engines!(each_workspace_sees_only_itself);
