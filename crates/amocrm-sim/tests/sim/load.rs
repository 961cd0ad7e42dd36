//! The simulator as a load target: bounded journal, limits off, many accounts.

use amocrm_sim::{AccountSeed, Event, Platform, SimConfig};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn bounded_journal_keeps_counting_and_the_witness_stays_exact() {
    let env = Env::default().await;
    let config: Value = env
        .http
        .post(env.admin("/config"))
        .json(&json!({ "rate_limit_per_sec": 0, "journal_capacity": 5 }))
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    assert_eq!(config["rate_limit_per_sec"], 0);
    assert_eq!(config["journal_capacity"], 5);
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    let before = sim.journal_last_seq();
    let calls = (0..30).map(|_| env.api(&install.referer, "/api/v4/account", &tokens.access));
    let statuses = futures_util::future::join_all(calls).await;
    assert!(
        statuses.iter().all(|r| r.status() == 200),
        "rate limit 0 means off"
    );
    let journal = sim.journal();
    assert_eq!(journal.len(), 5, "only the newest entries are kept");
    assert_eq!(sim.journal_last_seq(), before + 30, "seq keeps counting");
    assert_eq!(journal.last().map(|e| e.seq), Some(sim.journal_last_seq()));
    assert!(
        journal
            .iter()
            .all(|e| matches!(e.event, Event::Request { status: 200, .. }))
    );
    assert_eq!(sim.journal_since(before + 28).len(), 2);
    assert_eq!(sim.api_arrivals(&install.client_id), 30);
    assert_eq!(sim.stats().rate_limited, 0);
    let over_http: Value = env
        .http
        .get(env.admin(&format!("/journal?since={}", before + 29)))
        .send()
        .await
        .expect("journal")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn many_accounts_resolve_by_host_and_renames_move_the_index() {
    let env = Env::new(SimConfig {
        journal_capacity: 0,
        ..SimConfig::default()
    })
    .await;
    let sim = env.sim.sim();
    for id in 0..2_000 {
        sim.add_account(AccountSeed {
            id: 40_000_000 + id,
            platform: Platform::Kommo,
            subdomain: format!("load{id}"),
            name: format!("Load {id}"),
            admin: true,
        })
        .expect("account");
    }
    let install = sim
        .install_for_tests(40_001_999, REDIRECT_URI)
        .expect("install");
    let install = Install {
        client_id: install.client_id,
        client_secret: install.client_secret,
        code: install.code,
        referer: "load1999.kommo.com".to_owned(),
    };
    let tokens = tokens_of(env.exchange(&install).await).await;
    sim.rename_subdomain(40_001_999, "moved").expect("rename");
    assert_eq!(
        env.api("load1999.kommo.com", "/api/v4/account", &tokens.access)
            .await
            .status(),
        404
    );
    let account: Value = env
        .api("moved.kommo.com", "/api/v4/account", &tokens.access)
        .await
        .json()
        .await
        .expect("account");
    assert_eq!(account["id"], 40_001_999);
    assert!(sim.journal().is_empty(), "capacity 0 keeps nothing");
    assert!(sim.journal_last_seq() > 0);
}
