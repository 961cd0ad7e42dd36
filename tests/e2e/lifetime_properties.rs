//! A property test over what amoCRM may say and do (issue 9, acceptance 3): random token
//! lifetimes (1 s … 7 d, plus 0, negative, missing and absurd statements), clock skew between
//! amolink and amoCRM (± 5 min), 401s at random, and a slow or failing token endpoint, under a
//! random sequence of clock moves, vended tokens, proxied calls and keeper rounds.
//!
//! What must hold whatever happens: no vended token is past amoCRM's expiry; no request answers
//! 500; and, checked by the simulator's witness when the app is dropped, no expired token is
//! ever sent, no rotated refresh token is presented, and token calls keep the interval (the
//! bound on refreshes) except once per refusal.

use std::sync::{Arc, Mutex};

use amocrm_sim::{ConfigPatch, Fault, FaultKind, Route, StatedExpiresIn};
use amolink_tests::{Engine, TestApp, spawn_app_with};
use chrono::{DateTime, Utc};
use domain::clock::Clock;
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    api::Api, api_keys::tenant_with_key, connect::DEMO_ADMIN_ACCOUNT, lifetimes::jwt_expiry,
};

/// Real time plus an offset the test moves: amolink's clock keeps running while requests take
/// real time (a frozen clock would make amolink think tokens younger than amoCRM knows they are).
#[derive(Debug, Clone, Default)]
struct ShiftedClock(Arc<Mutex<chrono::Duration>>);

impl ShiftedClock {
    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().unwrap()
    }
}

/// What the token endpoint states in `expires_in`.
#[derive(Debug, Clone, Copy)]
enum Stated {
    Truthful,
    Zero,
    Negative,
    Missing,
    Absurd,
}

impl Stated {
    fn to_sim(self) -> StatedExpiresIn {
        match self {
            Self::Truthful => StatedExpiresIn::Truthful,
            Self::Zero => StatedExpiresIn::Value(json!(0)),
            Self::Negative => StatedExpiresIn::Value(json!(-5)),
            Self::Missing => StatedExpiresIn::Missing,
            Self::Absurd => StatedExpiresIn::Value(json!(1e12)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum TokenFault {
    Slow,
    Failing,
    Garbage,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Moves both clocks by this fraction of the token's life (at least a second).
    Advance(f64),
    Vend,
    Proxy,
    Keeper,
    /// amoCRM answers 401 to half of the API calls, or stops doing so.
    Refusals(bool),
    /// The next token-endpoint call is slow, fails or answers garbage.
    TokenFault(TokenFault),
}

#[derive(Debug, Clone)]
struct Case {
    /// The access token's real lifetime in seconds (≤ 0: expired at issue).
    lifetime: i64,
    stated: Stated,
    /// amolink's clock minus amoCRM's, in seconds.
    skew: i64,
    steps: Vec<Step>,
}

fn lifetime() -> impl Strategy<Value = i64> {
    let week = (7.0_f64 * 24.0 * 3600.0).ln();
    // Short lives are where loops and stale tokens hide: half the cases live a minute or less.
    prop_oneof![
        4 => 1_i64..=60,
        3 => (0.0..=week).prop_map(|ln: f64| ln.exp().round().max(1.0) as i64),
        1 => Just(0_i64),
        1 => Just(-5_i64),
    ]
}

fn stated() -> impl Strategy<Value = Stated> {
    prop_oneof![
        4 => Just(Stated::Truthful),
        1 => Just(Stated::Zero),
        1 => Just(Stated::Negative),
        1 => Just(Stated::Missing),
        1 => Just(Stated::Absurd),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0.0..1.3_f64).prop_map(Step::Advance),
        3 => Just(Step::Vend),
        3 => Just(Step::Proxy),
        2 => Just(Step::Keeper),
        1 => any::<bool>().prop_map(Step::Refusals),
        1 => prop_oneof![
            Just(TokenFault::Slow),
            Just(TokenFault::Failing),
            Just(TokenFault::Garbage)
        ]
        .prop_map(Step::TokenFault),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        lifetime(),
        stated(),
        -300_i64..=300,
        proptest::collection::vec(step(), 4..16),
    )
        .prop_map(|(lifetime, stated, skew, steps)| Case {
            lifetime,
            stated,
            skew,
            steps,
        })
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

async fn run(engine: Engine, case: Case) -> Result<(), TestCaseError> {
    let clock = ShiftedClock::default();
    let app = spawn_app_with(engine, &[("refresh_margin_secs", "3600")], |overrides| {
        overrides.clock = Arc::new(clock.clone());
    })
    .await;
    let skew = chrono::Duration::seconds(case.skew);
    if case.skew > 0 {
        clock.advance(skew);
    } else {
        app.sim.advance_clock((-skew).to_std().unwrap_or_default());
    }
    app.sim.update_config(ConfigPatch {
        access_token_ttl_secs: Some(case.lifetime),
        stated_expires_in: Some(case.stated.to_sim()),
        ..ConfigPatch::default()
    });
    let (tenant, key) = tenant_with_key(&app, "ann@example.com").await;
    let link = app.connect_links(&tenant).await.remove(0);
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    let connected = answer.status() == 303;
    // A token that lives less than the trip cannot even prove which account it is for.
    if connected != (case.lifetime >= 2) {
        return Err(fail(format!(
            "a {} s token: connect answered {}",
            case.lifetime,
            answer.status()
        )));
    }
    if !connected {
        return Ok(());
    }
    let api = Api::new(&app, &key);
    let id = api.get_json("/connections").await["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client_id = app.sim.integrations()[0].client_id.clone();
    let base = if case.lifetime > 0 { case.lifetime } else { 20 };
    for step in &case.steps {
        match *step {
            Step::Advance(fraction) => {
                let secs = ((base as f64) * fraction).round().max(1.0) as i64;
                clock.advance(chrono::Duration::seconds(secs));
                app.sim
                    .advance_clock(std::time::Duration::from_secs(secs.unsigned_abs()));
            }
            Step::Vend => vend(&app, &api, &clock, &id).await?,
            Step::Proxy => {
                let res = api
                    .call(
                        Method::GET,
                        &format!("/connections/{id}/proxy/api/v4/account"),
                        None,
                    )
                    .await;
                let status = res.status().as_u16();
                if ![200, 401, 409, 429, 502, 503].contains(&status) {
                    return Err(fail(format!("a proxied call answered {status}")));
                }
            }
            Step::Keeper => {
                app.keeper
                    .run_once()
                    .await
                    .map_err(|e| fail(format!("keeper round: {e}")))?;
            }
            Step::Refusals(on) => app
                .sim
                .set_api_refusal(&client_id, if on { 0.5 } else { 0.0 })
                .map_err(|e| fail(format!("{e}")))?,
            Step::TokenFault(kind) => {
                let kind = match kind {
                    TokenFault::Slow => FaultKind::Latency { ms: 300 },
                    TokenFault::Failing => FaultKind::Status { status: 503 },
                    TokenFault::Garbage => FaultKind::Garbage { status: 200 },
                };
                app.sim
                    .set_fault(
                        Route::Token,
                        Fault {
                            count: Some(1),
                            ..Fault::always(kind)
                        },
                    )
                    .map_err(|e| fail(format!("{e}")))?;
            }
        }
    }
    // The witness's verdict is taken when `app` is dropped, here.
    Ok(())
}

/// A vended token is never past amoCRM's expiry, whatever the clocks say; a refusal says when to
/// come back.
async fn vend(
    app: &TestApp,
    api: &Api,
    clock: &ShiftedClock,
    id: &str,
) -> Result<(), TestCaseError> {
    let res = api
        .call(Method::POST, &format!("/connections/{id}/token"), None)
        .await;
    match res.status().as_u16() {
        200 => {
            let body: Value = res.json().await.map_err(|e| fail(e.to_string()))?;
            let expires_at: DateTime<Utc> = body["expires_at"]
                .as_str()
                .and_then(|at| at.parse().ok())
                .ok_or_else(|| fail(format!("no expiry: {body}")))?;
            let now = clock.now();
            if expires_at - now < chrono::Duration::seconds(1) {
                return Err(fail(format!("vended with less than a second left: {body}")));
            }
            // amoCRM's expiry, moved into amolink's frame (the claim is whole seconds).
            let amocrm_expiry = jwt_expiry(body["access_token"].as_str().unwrap_or_default())
                - (app.sim.now() - now);
            if expires_at > amocrm_expiry + chrono::Duration::seconds(1) {
                return Err(fail(format!(
                    "vended until {expires_at}, amoCRM's expiry is {amocrm_expiry}"
                )));
            }
        }
        503 | 429 if res.headers().contains_key("retry-after") => {}
        409 | 502 => {}
        other => return Err(fail(format!("token vending answered {other}"))),
    }
    Ok(())
}

fn check(engine: Engine, cases: u32) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 32,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| fail(e.to_string()))?
            .block_on(run(engine, case))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn whatever_amocrm_says_tokens_stay_true_and_refreshes_bounded_sqlite() {
    check(Engine::Sqlite, 24);
}

#[test]
fn whatever_amocrm_says_tokens_stay_true_and_refreshes_bounded_postgres() {
    check(Engine::Postgres, 16);
}
