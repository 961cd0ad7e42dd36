//! The keeper's witness: per-integration token lifetimes, what `expires_in` states, and the
//! strict counting behind `Sim::violations`.

use std::time::Duration;

use amocrm_sim::{
    Fault, FaultKind, IntegrationTokens, InvariantLimits, RefreshGrace, Route, SimConfig,
    StatedExpiresIn, Violation,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HOST;
use serde_json::{Value, json};

use crate::common::*;

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).expect("jwt payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn lifetime(access_token: &str) -> i64 {
    let claims = claims(access_token);
    claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat")
}

fn fingerprint(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..4])
}

fn limits(per_sec: usize, gap_ms: u64) -> InvariantLimits {
    InvariantLimits {
        api_calls_per_second: per_sec,
        min_token_call_gap: Duration::from_millis(gap_ms),
    }
}

/// A token whose `aud` names `client_id` but that the simulator never issued.
fn forged_token(client_id: &str) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        part(json!({ "typ": "JWT", "alg": "RS256" })),
        part(json!({ "aud": client_id, "exp": 1 }))
    )
}

#[tokio::test]
async fn per_integration_lifetime_overrides_the_default_and_the_api_enforces_it() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    let (a, a_tokens) = env.connect(DEMO).await;
    let (_, b_tokens) = env.connect(DEMO).await;
    assert_eq!(a_tokens.body["expires_in"], 86_400);
    sim.set_integration_tokens(&a.client_id, IntegrationTokens::ttl(20))
        .expect("known integration");
    let short = tokens_of(env.refresh(&a, &a_tokens.refresh).await).await;
    assert_eq!(short.body["expires_in"], 20, "truthful by default");
    assert_eq!(lifetime(&short.access), 20);

    sim.advance_clock(Duration::from_secs(21));
    let host = a.referer.as_str();
    assert_eq!(
        env.api(host, "/api/v4/account", &short.access)
            .await
            .status(),
        401
    );
    assert_eq!(
        env.api(host, "/api/v4/account", &b_tokens.access)
            .await
            .status(),
        200,
        "other integrations keep the configured default"
    );
    assert_eq!(
        sim.set_integration_tokens("nope", IntegrationTokens::ttl(1)),
        Err(amocrm_sim::SimError::UnknownIntegration("nope".into()))
    );
}

#[tokio::test]
async fn stated_expires_in_can_lie_while_exp_tells_the_truth() {
    let env = Env::new(SimConfig {
        access_token_ttl_secs: 20,
        stated_expires_in: StatedExpiresIn::Value(json!("86400")),
        ..SimConfig::default()
    })
    .await;
    let (install, tokens) = env.connect(DEMO).await;
    assert_eq!(tokens.body["expires_in"], "86400", "config-wide statement");
    assert_eq!(lifetime(&tokens.access), 20, "config-wide real lifetime");

    let set = env
        .http
        .post(env.admin(&format!("/integrations/{}/tokens", install.client_id)))
        .json(&json!({ "access_ttl_secs": 60, "stated_expires_in": "missing" }))
        .send()
        .await
        .expect("admin");
    assert_eq!(set.status(), 200);
    let missing = tokens_of(env.refresh(&install, &tokens.refresh).await).await;
    assert!(missing.body.get("expires_in").is_none(), "{}", missing.body);
    assert_eq!(lifetime(&missing.access), 60);

    let mut current = missing.refresh;
    for stated in [json!(0), json!(-5), json!(1e12)] {
        env.sim
            .sim()
            .set_integration_tokens(
                &install.client_id,
                IntegrationTokens::ttl(30).stating(StatedExpiresIn::Value(stated.clone())),
            )
            .expect("set");
        let issued = tokens_of(env.refresh(&install, &current).await).await;
        assert_eq!(issued.body["expires_in"], stated);
        assert_eq!(lifetime(&issued.access), 30);
        current = issued.refresh;
    }
}

#[tokio::test]
async fn a_token_expired_at_issue_is_refused_and_its_use_is_reported() {
    let env = Env::new(SimConfig {
        access_token_ttl_secs: -5,
        ..SimConfig::default()
    })
    .await;
    let (install, tokens) = env.connect(DEMO).await;
    assert_eq!(tokens.body["expires_in"], -5);
    let used = env
        .api(&install.referer, "/api/v4/account", &tokens.access)
        .await;
    assert_eq!(used.status(), 401);
    let sim = env.sim.sim();
    let late: Vec<i64> = sim
        .violations(&InvariantLimits::default())
        .into_iter()
        .filter_map(|v| match v {
            Violation::ExpiredAccessTokenUsed {
                client_id,
                late_ms,
                path,
                ..
            } if client_id == install.client_id && path == "/api/v4/account" => Some(late_ms),
            _ => None,
        })
        .collect();
    assert_eq!(late.len(), 1);
    assert!(late[0] >= 5_000, "{late:?}");
    assert_eq!(sim.api_arrivals(&install.client_id), 1);
    assert_eq!(sim.witness_totals().expired_access_token_uses, 1);
}

#[tokio::test]
async fn every_api_arrival_counts_whatever_the_answer() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    let host = install.referer.as_str();
    let calls = (0..10).map(|_| env.api(host, "/api/v4/account", &tokens.access));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(statuses.len(), 10);
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    // Requests the simulator answers 401 are attributed too: by a token it never issued (its
    // `aud`), and by the refresh token of a subdomain lookup on the shared API host.
    assert_eq!(
        env.api(host, "/api/v4/account", &forged_token(&install.client_id))
            .await
            .status(),
        401
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
    assert_eq!(sim.api_arrivals(&install.client_id), 12);
    assert_eq!(sim.token_calls(&install.client_id).len(), 1, "the exchange");

    // The sim's own limiter answered 429 only because more than 7 arrived within a second, so
    // the witness saw a window of at least 7 + refused.
    let max = sim.max_api_arrivals_per_second()[&install.client_id];
    assert!(max >= 7 + refused, "{max} < 7 + {refused}");
    let burst = sim
        .violations(&limits(7, 0))
        .into_iter()
        .find_map(|v| match v {
            Violation::ApiBurst {
                client_id,
                count,
                excess_arrivals,
                ..
            } if client_id == install.client_id => Some((count, excess_arrivals)),
            _ => None,
        });
    match burst {
        Some((count, excess)) => {
            assert_eq!(count, max);
            assert!(excess >= refused as u64, "{excess} < {refused}");
        }
        None => assert!(max <= 7 && refused == 0, "{max} {refused}"),
    }
    assert!(
        sim.violations(&limits(max, 0)).is_empty(),
        "nothing beyond the observed maximum"
    );
}

#[tokio::test]
async fn token_calls_too_close_unless_a_401_came_between() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    let second = tokens_of(env.refresh(&install, &tokens.refresh).await).await;
    let too_close: Vec<i64> = sim
        .violations(&limits(7, 5_000))
        .into_iter()
        .filter_map(|v| match v {
            Violation::TokenCallsTooClose {
                gap_ms, grant_type, ..
            } if grant_type == "refresh_token" => Some(gap_ms),
            _ => None,
        })
        .collect();
    assert_eq!(too_close.len(), 1, "the exchange counts as the first call");
    assert!(too_close[0] < 5_000);

    // A refusal (401) entitles the integration to one refresh right away.
    sim.set_api_refusal(&install.client_id, 1.0).expect("knob");
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &second.access)
            .await
            .status(),
        401
    );
    sim.set_api_refusal(&install.client_id, 0.0).expect("knob");
    let third = tokens_of(env.refresh(&install, &second.refresh).await).await;
    let close_after = sim
        .violations(&limits(7, 5_000))
        .into_iter()
        .filter(|v| matches!(v, Violation::TokenCallsTooClose { .. }))
        .count();
    assert_eq!(close_after, 1, "the refresh after a 401 is excused");
    // …but only one: a second refresh without a new refusal is not.
    let fourth = tokens_of(env.refresh(&install, &third.refresh).await).await;
    let close_now = sim
        .violations(&limits(7, 5_000))
        .into_iter()
        .filter(|v| matches!(v, Violation::TokenCallsTooClose { .. }))
        .count();
    assert_eq!(close_now, 2);
    // Gaps in simulator time: after a day nothing is too close.
    sim.advance_clock(Duration::from_secs(86_400));
    tokens_of(env.refresh(&install, &fourth.refresh).await).await;
    assert_eq!(
        sim.violations(&limits(7, 5_000))
            .iter()
            .filter(|v| matches!(v, Violation::TokenCallsTooClose { .. }))
            .count(),
        2
    );

    let calls = sim.token_calls(&install.client_id);
    let kinds: Vec<(&str, Option<u16>, Option<bool>, bool)> = calls
        .iter()
        .map(|c| {
            (
                c.grant_type.as_str(),
                c.status,
                c.presented_latest,
                c.after_refusal,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("authorization_code", Some(200), None, false),
            ("refresh_token", Some(200), Some(true), false),
            ("refresh_token", Some(200), Some(true), true),
            ("refresh_token", Some(200), Some(true), false),
            ("refresh_token", Some(200), Some(true), false),
        ]
    );
    assert!(calls.iter().all(|c| c.issued));
    assert_eq!(stats_json(&env).await["api_refusals_injected"], 1);
}

async fn stats_json(env: &Env) -> Value {
    env.http
        .get(env.admin("/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn rotated_refresh_token_is_reported_even_when_grace_accepts_it() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    tokens_of(env.refresh(&install, &tokens.refresh).await).await;
    // Within the default grace the old token still works…
    tokens_of(env.refresh(&install, &tokens.refresh).await).await;
    let rotated: Vec<(String, bool)> = sim
        .violations(&limits(7, 0))
        .into_iter()
        .filter_map(|v| match v {
            Violation::RotatedRefreshTokenPresented {
                rt_fingerprint,
                accepted,
                ..
            } => Some((rt_fingerprint, accepted)),
            _ => None,
        })
        .collect();
    // …but it was not the latest, and the witness says so.
    assert_eq!(rotated, vec![(fingerprint(&tokens.refresh), true)]);
    assert_eq!(sim.stale_refresh_presentations(), 0, "not refused");
    assert_eq!(sim.witness_totals().rotated_refresh_presentations, 1);
}

#[tokio::test]
async fn token_endpoint_faults_cover_garbage_and_lost_rotations() {
    let env = Env::new(SimConfig {
        refresh_grace: RefreshGrace::Off,
        ..SimConfig::default()
    })
    .await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;

    sim.set_fault(
        Route::Token,
        Fault::times(FaultKind::Garbage { status: 200 }, 1),
    )
    .expect("fault");
    let garbage = env.refresh(&install, &tokens.refresh).await;
    assert_eq!(garbage.status(), 200);
    assert!(garbage.json::<Value>().await.is_err(), "not JSON");

    // Nothing rotated: the same token still works.
    let fresh = tokens_of(env.refresh(&install, &tokens.refresh).await).await;

    // Rotated, then answered 502: the client holds a token that is no longer the latest.
    sim.set_fault(
        Route::Token,
        Fault::times(FaultKind::StatusAfterRotation { status: 502 }, 1),
    )
    .expect("fault");
    assert_eq!(env.refresh(&install, &fresh.refresh).await.status(), 502);
    let (status, _, body) = problem(env.refresh(&install, &fresh.refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["hint"], "Token has been revoked");

    // Slow, then a timeout that answers nothing usable in time.
    sim.set_fault(Route::Token, Fault::times(FaultKind::Timeout { ms: 50 }, 1))
        .expect("fault");
    assert_eq!(env.refresh(&install, &fresh.refresh).await.status(), 504);

    let outcomes: Vec<(Option<u16>, bool, Option<bool>)> = sim
        .token_calls(&install.client_id)
        .into_iter()
        .map(|c| (c.status, c.issued, c.presented_latest))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (Some(200), true, None),
            (Some(200), false, None),
            (Some(200), true, Some(true)),
            (Some(502), true, Some(true)),
            (Some(401), false, Some(false)),
            (Some(504), false, None),
        ]
    );
    assert_eq!(
        sim.violations(&limits(7, 0))
            .iter()
            .filter(|v| matches!(
                v,
                Violation::RotatedRefreshTokenPresented {
                    accepted: false,
                    ..
                }
            ))
            .count(),
        1
    );
    let bad = env
        .http
        .post(env.admin("/faults"))
        .json(&json!({ "route": "leads", "kind": "status_after_rotation", "status": 500 }))
        .send()
        .await
        .expect("fault");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn drop_after_rotation_has_no_answer() {
    let env = Env::default().await;
    let sim = env.sim.sim();
    let (install, tokens) = env.connect(DEMO).await;
    sim.set_fault(
        Route::Token,
        Fault::times(FaultKind::DropAfterRotation { ms: 0 }, 1),
    )
    .expect("fault");
    let lost = env
        .http
        .post(format!("{}/oauth2/access_token", env.sim.base_url()))
        .header(HOST, install.referer.as_str())
        .json(&json!({
            "client_id": install.client_id, "client_secret": install.client_secret,
            "grant_type": "refresh_token", "refresh_token": tokens.refresh,
            "redirect_uri": REDIRECT_URI,
        }))
        .send()
        .await;
    if let Ok(response) = lost {
        assert!(response.bytes().await.is_err(), "the body must break");
    }
    let last = sim.token_calls(&install.client_id).pop().expect("recorded");
    assert_eq!((last.status, last.issued), (None, true));
}

#[tokio::test]
async fn random_refusal_and_invariants_over_http() {
    let env = Env::default().await;
    let (install, tokens) = env.connect(DEMO).await;
    let knob = |probability: Value| {
        env.http
            .post(env.admin(&format!("/integrations/{}/refuse", install.client_id)))
            .json(&json!({ "probability": probability }))
            .send()
    };
    assert_eq!(knob(json!(1.5)).await.expect("admin").status(), 400);
    assert_eq!(knob(json!(1.0)).await.expect("admin").status(), 200);
    let refused = env
        .api(&install.referer, "/api/v4/account", &tokens.access)
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(knob(json!(0)).await.expect("admin").status(), 200);
    assert_eq!(
        env.api(&install.referer, "/api/v4/account", &tokens.access)
            .await
            .status(),
        200,
        "the token itself is still valid"
    );
    tokens_of(env.refresh(&install, &tokens.refresh).await).await;

    let report: Value = env
        .http
        .get(env.admin("/invariants?api_calls_per_second=0&min_token_call_gap_ms=60000"))
        .send()
        .await
        .expect("invariants")
        .json()
        .await
        .expect("json");
    assert_eq!(report["limits"]["api_calls_per_second"], 0);
    let kinds: Vec<&str> = report["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["api_burst"], "the refresh followed a 401");
    assert!(report["max_api_arrivals_per_second"][&install.client_id].as_u64() >= Some(1));
    assert_eq!(report["totals"]["api_arrivals"], 2);
    let calls: Value = env
        .http
        .get(env.admin(&format!("/integrations/{}/token-calls", install.client_id)))
        .send()
        .await
        .expect("calls")
        .json()
        .await
        .expect("json");
    assert_eq!(calls[1]["after_refusal"], true);
    let bad = env
        .http
        .get(env.admin("/invariants?api_calls_per_second=x"))
        .send()
        .await
        .expect("invariants");
    assert_eq!(bad.status(), 400);
}
