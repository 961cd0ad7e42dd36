//! The whole external-button flow with nothing but the protocol.

use amocrm_sim::SimConfig;
use base64::Engine as _;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn external_button_flow_end_to_end() {
    let env = Env::default().await;

    // 1. The button script: our own JS, reading the documented attributes.
    let js = env
        .http
        .get(env.site("www.amocrm.ru", "/auth/button.min.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .contains("javascript")
    );
    let source = js.text().await.expect("source");
    for needle in [
        "data-secrets_uri",
        "amocrm_oauth",
        "kommo_oauth",
        "'../oauth'",
        "scopes[]",
    ] {
        assert!(source.contains(needle), "button.js lacks {needle}");
    }

    // 2. Consent page, as the button would open it; hostile text is escaped.
    let state = "st-123";
    let url = env.consent_url("www.amocrm.ru", state, "post_message");
    let html = env
        .http
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Amolink &amp; Co &lt;test&gt;"));
    assert!(html.contains("Рога и копыта") && html.contains("Second Demo"));
    assert!(
        !html.contains("Kommo Demo"),
        "only this platform's accounts are offered"
    );

    // 3. Allow → secrets webhook first, then the redirect with the code.
    let response = env.decide(&url, DEMO, "allow").await;
    assert_eq!(response.status(), 302);
    let location = response.headers()[LOCATION]
        .to_str()
        .expect("loc")
        .to_owned();
    let query = query_map(&location);
    assert_eq!(query["referer"], "demo.amocrm.ru");
    assert_eq!(query["state"], state);
    assert!(query["code"].starts_with("def50200"));
    assert!(!query.contains_key("platform"));
    let received = env.receiver.all();
    assert_eq!(received.len(), 1);
    assert!(received[0].content_type.starts_with("application/json"));
    let secrets: Value = serde_json::from_str(&received[0].body).expect("secrets json");
    assert_eq!(secrets["client_id"], query["client_id"]);
    assert_eq!(secrets["state"], state);
    let client_secret = secrets["client_secret"].as_str().expect("secret");
    assert_eq!(client_secret.len(), 64);
    assert!(uuid::Uuid::parse_str(&query["client_id"]).is_ok());

    // 4. Code exchange at the account host named by referer.
    let install = Install {
        client_id: query["client_id"].clone(),
        client_secret: client_secret.to_owned(),
        code: query["code"].clone(),
        referer: query["referer"].clone(),
    };
    let tokens = tokens_of(env.exchange(&install).await).await;
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 86_400);
    assert!(
        tokens.body.get("server_time").is_none(),
        "server_time is Kommo's"
    );
    assert!(tokens.refresh.starts_with("def50200"));
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tokens.access.split('.').nth(1).expect("payload"))
            .expect("b64"),
    )
    .expect("claims");
    assert_eq!(claims["aud"], install.client_id);
    assert_eq!(claims["account_id"], DEMO);
    assert_eq!(claims["base_domain"], "amocrm.ru");
    assert_eq!(claims["api_domain"], "api-b.amocrm.ru");
    assert!(claims["sub"].is_string());

    // 5. The API with that token.
    let account = env
        .api(
            "demo.amocrm.ru",
            "/api/v4/account?with=amojo_id,datetime_settings",
            &tokens.access,
        )
        .await;
    assert_eq!(account.status(), 200);
    assert!(
        account.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("application/hal+json")
    );
    let account: Value = account.json().await.expect("account");
    assert_eq!(account["id"], DEMO);
    assert_eq!(account["name"], "Рога и копыта");
    assert_eq!(account["subdomain"], "demo");
    assert!(account["amojo_id"].is_string());
    assert!(account["_embedded"]["datetime_settings"].is_object());
    assert_eq!(
        account["_links"]["self"]["href"],
        "https://demo.amocrm.ru/api/v4/account"
    );
}

#[tokio::test]
async fn popup_mode_and_kommo_platform() {
    let env = Env::new(SimConfig {
        redirect_platform_param: true,
        ..SimConfig::default()
    })
    .await;
    let url = env.consent_url("www.kommo.com", "s1", "popup");
    let response = env.decide(&url, KOMMO, "allow").await;
    assert_eq!(
        response.status(),
        200,
        "popup mode answers a page, not a redirect"
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("data-origin=\"https://app.example\""));
    assert!(html.contains("/_sim/site/www.kommo.com/oauth/complete.js"));
    assert!(html.contains("referer=kommodemo.kommo.com"));
    assert!(html.contains("platform=2"));
    let js = env
        .http
        .get(env.site("www.kommo.com", "/oauth/complete.js"))
        .send()
        .await
        .expect("complete.js");
    assert!(js.text().await.expect("js").contains("postMessage"));

    let (install, tokens) = env.connect(KOMMO).await;
    assert_eq!(install.referer, "kommodemo.kommo.com");
    assert!(tokens.body["server_time"].is_i64());
    // Legacy amocrm.com hosts reach the same Kommo account.
    let account = env
        .api("kommodemo.amocrm.com", "/api/v4/account", &tokens.access)
        .await;
    assert_eq!(account.status(), 200);
}
