//! One test per protocol rule.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use amocrm_sim::{RefreshGrace, Sim, SimConfig};
use reqwest::header::{CONTENT_TYPE, HOST, LOCATION};
use serde_json::{Value, json};

use crate::common::*;

const PROBLEM: &str = "application/problem+json";
const OAUTH_TYPE: &str = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson";

#[tokio::test]
async fn code_is_single_use() {
    let env = Env::default().await;
    let install = env.install(DEMO).await;
    tokens_of(env.exchange(&install).await).await;
    let (status, content_type, body) = problem(env.exchange(&install).await).await;
    assert_eq!((status, content_type.as_str()), (400, PROBLEM));
    assert_eq!(body["hint"], "Authorization code has been revoked");
    assert_eq!(body["type"], OAUTH_TYPE);
}

#[tokio::test]
async fn code_expires_after_twenty_minutes() {
    let env = Env::default().await;
    let install = env.install(DEMO).await;
    env.sim.sim().advance_clock(Duration::from_secs(21 * 60));
    let (status, _, body) = problem(env.exchange(&install).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["hint"], "Authorization code has expired");
}

#[tokio::test]
async fn wrong_secret_or_redirect_uri_is_invalid_client() {
    let env = Env::default().await;
    let install = env.install(DEMO).await;
    let wrong_secret = Install {
        client_secret: "x".repeat(64),
        ..install.clone()
    };
    let (status, content_type, body) = problem(env.exchange(&wrong_secret).await).await;
    assert_eq!((status, content_type.as_str()), (401, PROBLEM));
    assert_eq!(body["title"], "Некорректный клиент");
    assert_eq!(body["detail"], "Авторизация клиента не прошла");

    let wrong_redirect = env
        .token(
            &install.referer,
            json!({
                "client_id": install.client_id, "client_secret": install.client_secret,
                "grant_type": "authorization_code", "code": install.code,
                "redirect_uri": "https://app.example/other",
            }),
        )
        .await;
    assert_eq!(wrong_redirect.status(), 401);

    // Right credentials, wrong account host.
    let wrong_host = Install {
        referer: "demo2.amocrm.ru".into(),
        ..install.clone()
    };
    assert_eq!(env.exchange(&wrong_host).await.status(), 401);
    // The code is still good after all those failures.
    tokens_of(env.exchange(&install).await).await;
}

#[tokio::test]
async fn form_body_is_accepted() {
    let env = Env::default().await;
    let install = env.install(DEMO).await;
    let response = env
        .http
        .post(format!("{}/oauth2/access_token", env.sim.base_url()))
        .header(HOST, "demo.amocrm.ru")
        .form(&[
            ("client_id", install.client_id.as_str()),
            ("client_secret", install.client_secret.as_str()),
            ("grant_type", "authorization_code"),
            ("code", install.code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .expect("form");
    tokens_of(response).await;
}

#[tokio::test]
async fn refresh_grace_lasts_until_the_new_pair_is_used() {
    let env = Env::default().await;
    let (install, first) = env.connect(DEMO).await;
    let second = tokens_of(env.refresh(&install, &first.refresh).await).await;
    // Lost response: the old token still works while the new pair is unused.
    let third = tokens_of(env.refresh(&install, &first.refresh).await).await;
    // `second` was superseded without use, so it is dead.
    let (status, _, body) = problem(env.refresh(&install, &second.refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["hint"], "Token has been revoked");
    // Using the newest refresh token ends the grace of the first.
    let fourth = tokens_of(env.refresh(&install, &third.refresh).await).await;
    let (status, _, body) = problem(env.refresh(&install, &first.refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["title"], "Некорректный запрос");
    assert_eq!(
        body["detail"],
        "В запросе отсутствует ряд параметров или параметры невалидны"
    );
    // Old access tokens keep working until they expire (they are JWTs).
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &first.access)
            .await
            .status(),
        200
    );
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &fourth.access)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn refresh_grace_can_end_on_access_token_use() {
    let env = Env::new(SimConfig {
        refresh_grace: RefreshGrace::UntilNewTokenUsed,
        ..SimConfig::default()
    })
    .await;
    let (install, first) = env.connect(DEMO).await;
    let second = tokens_of(env.refresh(&install, &first.refresh).await).await;
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &second.access)
            .await
            .status(),
        200
    );
    assert_eq!(env.refresh(&install, &first.refresh).await.status(), 401);
}

#[tokio::test]
async fn strict_rotation_without_grace() {
    let env = Env::new(SimConfig {
        refresh_grace: RefreshGrace::Off,
        ..SimConfig::default()
    })
    .await;
    let (install, first) = env.connect(DEMO).await;
    let second = tokens_of(env.refresh(&install, &first.refresh).await).await;
    let (status, _, body) = problem(env.refresh(&install, &first.refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["hint"], "Token has been revoked");
    tokens_of(env.refresh(&install, &second.refresh).await).await;
}

#[tokio::test]
async fn refresh_token_of_another_client() {
    let env = Env::default().await;
    let (a, _) = env.connect(DEMO).await;
    let (_, b_tokens) = env.connect(DEMO).await;
    let (status, _, body) = problem(env.refresh(&a, &b_tokens.refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["hint"], "Token is not linked to client");
}

#[tokio::test]
async fn rate_limit_then_block() {
    let env = Env::new(SimConfig {
        violations_before_block: 2,
        ..SimConfig::default()
    })
    .await;
    let (install, tokens) = env.connect(DEMO).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            env.api(&install.referer, "/api/v4/account", &tokens.access)
                .await,
        );
    }
    let last = statuses.pop().expect("8th");
    assert!(statuses.iter().all(|r| r.status() == 200));
    let (status, content_type, body) = problem(last).await;
    assert_eq!((status, content_type.as_str()), (429, PROBLEM));
    assert_eq!(body["title"], "Too Many Requests");
    assert_eq!(body["type"], "https://httpstatus.es/429");
    assert!(body["retry_after"].is_u64());
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &tokens.access)
            .await
            .status(),
        429
    );
    let blocked = env
        .api(&install.referer, "/api/v4/account", &tokens.access)
        .await;
    assert_eq!(blocked.status(), 403);
    assert!(blocked.text().await.expect("html").contains("nginx"));
    assert_eq!(env.sim.sim().stats().rate_limited, 2);
}

#[tokio::test]
async fn uninstall_revokes_and_sends_signed_hook() {
    let mut env = Env::default().await;
    env.sim.stop().await;
    env.sim = amocrm_sim::spawn(SimConfig {
        disconnect_hook_url: Some(format!("{}/amocrm/disconnect", env.receiver.base)),
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    let (install, tokens) = env.connect(DEMO).await;
    let response = env
        .http
        .post(env.admin(&format!("/integrations/{}/uninstall", install.client_id)))
        .send()
        .await
        .expect("uninstall");
    assert_eq!(response.status(), 200);

    let (status, _, body) = problem(
        env.api(&install.referer, "/api/v4/account", &tokens.access)
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["title"], "Unauthorized");
    assert_eq!(body["type"], "https://httpstatus.es/401");
    let (status, _, body) = problem(env.refresh(&install, &tokens.refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["hint"], "Token has been revoked");

    let hook = env
        .receiver
        .all()
        .into_iter()
        .find(|r| r.path == "/amocrm/disconnect")
        .expect("hook received");
    assert_eq!(hook.user_agent, "amoService-oAuth-Code-Sender/1.0");
    let query: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(hook.query.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(query["client_uuid"], install.client_id);
    assert_eq!(query["account_id"], DEMO.to_string());
    // Recompute the signature independently.
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(install.client_secret.as_bytes()).expect("key");
    mac.update(format!("{}|{}", install.client_id, DEMO).as_bytes());
    assert_eq!(query["signature"], hex::encode(mac.finalize().into_bytes()));
}

#[tokio::test]
async fn regenerated_secret_revokes_grants() {
    let env = Env::default().await;
    let (install, tokens) = env.connect(DEMO).await;
    let secret = env
        .sim
        .sim()
        .regenerate_secret(&install.client_id)
        .expect("regenerate");
    assert_ne!(secret, install.client_secret);
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &tokens.access)
            .await
            .status(),
        401
    );
    let with_new_secret = Install {
        client_secret: secret,
        ..install.clone()
    };
    let (_, _, body) = problem(env.refresh(&with_new_secret, &tokens.refresh).await).await;
    assert_eq!(body["hint"], "Token has been revoked");
}

#[tokio::test]
async fn secrets_endpoint_not_answering_200_aborts_install() {
    let env = Env::default().await;
    env.receiver
        .status
        .store(204, std::sync::atomic::Ordering::SeqCst);
    let url = env.consent_url("www.amocrm.ru", "s", "post_message");
    let response = env.decide(&url, DEMO, "allow").await;
    assert!(response.headers().get(LOCATION).is_none(), "no redirect");
    let html = response.text().await.expect("html");
    assert!(
        html.contains(
            "Произошла ошибка создания, обратитесь к разработчику интеграции. (Code 204)"
        )
    );
    assert_eq!(env.receiver.all().len(), 1, "secrets were sent");
    assert!(
        env.sim.sim().integrations().is_empty(),
        "integration discarded"
    );
}

#[tokio::test]
async fn non_admin_cannot_install() {
    let env = Env::default().await;
    let url = env.consent_url("www.amocrm.ru", "s", "post_message");
    let response = env.decide(&url, DEMO2, "allow").await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("only an administrator can install")
    );
    assert!(env.receiver.all().is_empty());
}

#[tokio::test]
async fn bad_consent_requests_are_refused() {
    let env = Env::default().await;
    let good = env.consent_url("www.amocrm.ru", "s", "popup");
    for (needle, replacement) in [
        ("scopes%5B%5D=notifications", "scopes%5B%5D=files"),
        ("&name=Amolink", "&x=Amolink"),
        ("mode=popup", "mode=weird"),
    ] {
        let url = good.replace(needle, replacement);
        let response = env.http.get(&url).send().await.expect("page");
        assert_eq!(response.status(), 400, "{url}");
    }
    // The consent page only lives on www hosts.
    let response = env
        .http
        .get(good.replace("www.amocrm.ru", "demo.amocrm.ru"))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn decline_redirects_with_access_denied() {
    let env = Env::default().await;
    let url = env.consent_url("www.amocrm.ru", "s-9", "post_message");
    let response = env.decide(&url, DEMO, "deny").await;
    assert_eq!(response.status(), 302);
    let query = query_map(response.headers()[LOCATION].to_str().expect("loc"));
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "s-9");
    assert!(!query.contains_key("code"));
    assert!(env.receiver.all().is_empty());
}

#[tokio::test]
async fn existing_integration_variant() {
    let env = Env::default().await;
    let registered = env
        .http
        .post(env.admin("/integrations"))
        .json(&json!({ "name": "Registered", "redirect_uri": REDIRECT_URI }))
        .send()
        .await
        .expect("register");
    let registered: Value = registered.json().await.expect("json");
    let client_id = registered["client_id"].as_str().expect("id");
    let url = format!(
        "{}?client_id={client_id}&state=z&mode=post_message",
        env.site("www.amocrm.ru", "/oauth")
    );
    // A non-admin cannot make the first install...
    assert_eq!(env.decide(&url, DEMO2, "allow").await.status(), 403);
    // ...an admin can, and no secrets are posted for a registered integration.
    let response = env.decide(&url, DEMO, "allow").await;
    assert_eq!(response.status(), 302);
    assert!(env.receiver.all().is_empty());
    let query = query_map(response.headers()[LOCATION].to_str().expect("loc"));
    assert_eq!(query["client_id"], client_id);
    let install = Install {
        client_id: client_id.to_owned(),
        client_secret: registered["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
        code: query["code"].clone(),
        referer: query["referer"].clone(),
    };
    tokens_of(env.exchange(&install).await).await;
}

#[tokio::test]
async fn subdomain_rename_moves_the_account() {
    let env = Env::default().await;
    let (install, tokens) = env.connect(DEMO).await;
    let response = env
        .http
        .post(env.admin(&format!("/accounts/{DEMO}/subdomain")))
        .json(&json!({ "subdomain": "newdemo" }))
        .send()
        .await
        .expect("rename");
    assert_eq!(response.status(), 200);
    let (status, content_type, _) = problem(env.refresh(&install, &tokens.refresh).await).await;
    assert_eq!((status, content_type.as_str()), (404, PROBLEM));
    assert_eq!(
        env.api("demo.amocrm.ru", "/api/v4/account", &tokens.access)
            .await
            .status(),
        404
    );

    let lookup = env
        .http
        .get(format!(
            "{}/oauth2/account/current/subdomain",
            env.sim.base_url()
        ))
        .header(HOST, "api-b.amocrm.ru")
        .header("X-Refresh-Token", &tokens.refresh)
        .send()
        .await
        .expect("lookup");
    assert_eq!(lookup.status(), 200);
    let lookup: Value = lookup.json().await.expect("json");
    assert_eq!(lookup["id"], DEMO);
    assert_eq!(lookup["subdomain"], "newdemo");
    assert_eq!(lookup["domain"], "newdemo.amocrm.ru");
    assert_eq!(lookup["top_level_domain"], "ru");

    let moved = Install {
        referer: "newdemo.amocrm.ru".into(),
        ..install
    };
    tokens_of(env.refresh(&moved, &tokens.refresh).await).await;
    assert_eq!(
        env.api("newdemo.amocrm.ru", "/api/v4/account", &tokens.access)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn api_surface() {
    let env = Env::new(SimConfig {
        demo_data: false,
        ..SimConfig::default()
    })
    .await;
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    assert_eq!(
        env.api(host, "/api/v4/leads", &tokens.access)
            .await
            .status(),
        204,
        "an account without leads"
    );
    let leads: Vec<Value> = (0..3)
        .map(|i| json!({ "name": format!("Lead {i}") }))
        .collect();
    let created = env
        .http
        .post(format!("{}/api/v4/leads", env.sim.base_url()))
        .header(HOST, host)
        .bearer_auth(&tokens.access)
        .json(&leads)
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.expect("json");
    let ids: Vec<i64> = created["_embedded"]["leads"]
        .as_array()
        .expect("created")
        .iter()
        .filter_map(|l| l["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let page: Value = env
        .api(host, "/api/v4/leads?limit=2", &tokens.access)
        .await
        .json()
        .await
        .expect("page");
    assert_eq!(page["_embedded"]["leads"].as_array().map(Vec::len), Some(2));
    assert!(
        page["_links"]["next"]["href"]
            .as_str()
            .expect("next")
            .contains("page=2")
    );
    assert_eq!(
        env.api(host, "/api/v4/users", &tokens.access)
            .await
            .status(),
        403
    );
    assert_eq!(
        env.api(host, "/api/v4/account", "garbage").await.status(),
        401
    );
    // A token of account A on account B's host.
    assert_eq!(
        env.api("demo2.amocrm.ru", "/api/v4/account", &tokens.access)
            .await
            .status(),
        401
    );
    let (status, content_type, _) = problem(
        env.api("nosuch.amocrm.ru", "/api/v4/account", &tokens.access)
            .await,
    )
    .await;
    assert_eq!((status, content_type.as_str()), (404, PROBLEM));
    env.sim.sim().set_account_paid(DEMO, false).expect("unpaid");
    assert_eq!(
        env.api(host, "/api/v4/account", &tokens.access)
            .await
            .status(),
        402
    );
    // Access tokens expire by the simulator clock.
    env.sim.sim().set_account_paid(DEMO, true).expect("paid");
    env.sim.sim().advance_clock(Duration::from_secs(86_401));
    assert_eq!(
        env.api(host, "/api/v4/account", &tokens.access)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn faults_fire_by_count() {
    let env = Env::default().await;
    let (install, tokens) = env.connect(DEMO).await;
    let set = env
        .http
        .post(env.admin("/faults"))
        .json(&json!({ "route": "token", "kind": "status", "status": 503, "count": 1 }))
        .send()
        .await
        .expect("fault");
    assert_eq!(set.status(), 200);
    assert_eq!(env.refresh(&install, &tokens.refresh).await.status(), 503);
    tokens_of(env.refresh(&install, &tokens.refresh).await).await;
    let bad = env
        .http
        .post(env.admin("/faults"))
        .json(&json!({ "route": "account", "kind": "drop_after_rotation" }))
        .send()
        .await
        .expect("fault");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn mounted_mode_only_answers_sim_hosts() {
    let sim = Sim::new(SimConfig::default());
    let app_sim = sim.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = HttpServer::new(move || {
        App::new()
            .configure(amocrm_sim::configure(app_sim.clone()))
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Ok().body("host app") }),
            )
            .route(
                "/api/v4/account",
                web::get().to(|| async { HttpResponse::Ok().body("host app account") }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let http = http_client();

    let own = http
        .get(format!("{base}/api/v4/account"))
        .send()
        .await
        .expect("own");
    assert_eq!(own.text().await.expect("body"), "host app account");
    let own = http.get(format!("{base}/")).send().await.expect("own");
    assert_eq!(own.text().await.expect("body"), "host app");
    let sim_route = http
        .get(format!("{base}/api/v4/account"))
        .header(HOST, "demo.amocrm.ru")
        .send()
        .await
        .expect("sim");
    assert_eq!(sim_route.status(), 401);
    assert!(
        sim_route.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with(PROBLEM)
    );
    let unknown = http
        .get(format!("{base}/"))
        .header(HOST, "www.amocrm.ru")
        .send()
        .await
        .expect("sim");
    assert_eq!(unknown.status(), 404);
    let js = http
        .get(format!("{base}/_sim/site/www.kommo.com/auth/button.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(js.status(), 200);
    let journal = http
        .get(format!("{base}/_sim/admin/journal"))
        .send()
        .await
        .expect("journal");
    let journal: Value = journal.json().await.expect("json");
    assert_eq!(
        journal.as_array().map(Vec::len),
        Some(3),
        "only sim requests are journaled"
    );
    assert_eq!(sim.journal().len(), 3);
    handle.stop(true).await;
}

#[tokio::test]
async fn admin_api_accounts_config_and_reset() {
    let env = Env::default().await;
    let hostile = "<img src=x onerror=alert(1)>";
    let added = env
        .http
        .post(env.admin("/accounts"))
        .json(&json!({ "platform": "amocrm", "subdomain": "evilname", "name": hostile, "admin": true }))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.expect("json");
    let account_id = added["id"].as_i64().expect("id");
    let html = env
        .http
        .get(env.consent_url("www.amocrm.ru", "s", "post_message"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!html.contains(hostile));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));

    let config = env
        .http
        .post(env.admin("/config"))
        .json(&json!({ "secrets_format": "form" }))
        .send()
        .await
        .expect("config");
    assert_eq!(config.status(), 200);
    let install = env
        .decide(
            &env.consent_url("www.amocrm.ru", "s", "post_message"),
            account_id,
            "allow",
        )
        .await;
    assert_eq!(install.status(), 302);
    let received = env.receiver.all();
    assert!(
        received[0]
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    assert!(received[0].body.contains("client_secret="));

    let listed: Value = env
        .http
        .get(env.admin("/integrations"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["installed_in"], json!([account_id]));
    let unknown = env
        .http
        .post(env.admin("/integrations/nope/uninstall"))
        .send()
        .await
        .expect("404");
    assert_eq!(unknown.status(), 404);

    assert_eq!(
        env.http
            .post(env.admin("/reset"))
            .send()
            .await
            .expect("reset")
            .status(),
        200
    );
    assert!(env.sim.sim().integrations().is_empty());
    assert!(env.sim.sim().journal().is_empty());
    assert_eq!(env.sim.sim().accounts().len(), 3);
}
