//! The sign-in throttle under a concurrent attack (issue 14, acceptance 1): attempts are
//! reserved in the shared ledger before any hashing, so 200 concurrent wrong passwords cost at
//! most the account's budget of Argon2 computations; the owner's known browser still gets in, and
//! a new browser with the right password is slowed, not locked for ever.

use std::sync::Arc;

use amolink_tests::{Browser, Engine, TestApp as App, both_engines, spawn_app};
use futures_util::future::join_all;

const PASSWORD: &str = "correct horse battery";
/// `SignInPolicy::default().account.free`: attempts per account before any back-off.
const ACCOUNT_BUDGET: u64 = 10;

async fn hash_computations(app: &App) -> u64 {
    let text = app.browser().get_html("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix("amolink_password_hash_computations_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no hash counter in {text}"))
}

/// A browser holding nothing but `cookie` (no session): the owner's browser after its session
/// ended.
fn browser_with(app: &App, cookie: &str) -> Browser {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(cookie, &app.address.parse().unwrap());
    Browser {
        client: reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        address: app.address.clone(),
    }
}

async fn an_attack_costs_at_most_the_budget_and_the_owner_still_gets_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let res = app
        .browser()
        .sign_up("ann@example.com", PASSWORD, "Acme")
        .await;
    assert_eq!(res.status(), 303);
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("amolink_device="))
        .expect("a successful sign-up marks the browser as known")
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let before = hash_computations(&app).await;
    let attackers = (0..200).map(|_| app.browser()).collect::<Vec<_>>();
    // Tokens first, so the 200 posts arrive together.
    let tokens = join_all(attackers.iter().map(|b| b.csrf_token("/login"))).await;
    let attempts = attackers
        .iter()
        .zip(&tokens)
        .map(|(browser, token)| async move {
            browser
                .post_form(
                    "/login",
                    &[
                        ("email", "ann@example.com"),
                        ("password", "guess-guess"),
                        ("csrf_token", token.as_str()),
                    ],
                )
                .await
        });
    let statuses = join_all(attempts)
        .await
        .iter()
        .map(|res| res.status().as_u16())
        .collect::<Vec<_>>();
    let checked = hash_computations(&app).await - before;
    assert!(
        checked <= ACCOUNT_BUDGET,
        "{checked} Argon2 computations for 200 concurrent attempts"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 190, "{refused} of 200 refused: {statuses:?}");

    // The owner's browser, known from its earlier sign-in, gets in during the attack.
    let owner = browser_with(&app, &device);
    let res = owner.log_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 303, "the known browser is not locked out");

    // Under heavy contention some of the 200 attempts lose the ledger's compare-and-set too
    // often and are refused before they are counted, so the account may not have spent its
    // whole free budget yet: an attacker spends the rest one attempt at a time.
    let mut patient = 0;
    loop {
        let res = app.browser().log_in("ann@example.com", "guess-guess").await;
        if res.status() == 429 {
            break;
        }
        assert_eq!(res.status(), 401);
        patient += 1;
        assert!(
            patient <= ACCOUNT_BUDGET,
            "the account's budget never ran out"
        );
    }

    // A new browser with the right password is slowed …
    let res = app.browser().log_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let wait: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait <= 15 * 60, "a back-off, not a lock: {wait} s");
    // … and gets in once the back-off is over.
    app.clock.advance(chrono::Duration::seconds(wait));
    let res = app.browser().log_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status(), 303, "slowed, not locked for ever");
}

async fn a_forged_device_cookie_gets_no_budget_of_its_own(engine: Engine) {
    let app = spawn_app(engine).await;
    app.signed_in_browser("ann@example.com", "Acme").await;
    let attacker = app.browser();
    for _ in 0..ACCOUNT_BUDGET {
        assert_eq!(
            attacker
                .log_in("ann@example.com", "guess-guess")
                .await
                .status(),
            401
        );
    }
    let forged = browser_with(
        &app,
        "amolink_device=00000000-0000-0000-0000-000000000000.nonce.AAAA",
    );
    assert_eq!(
        forged.log_in("ann@example.com", PASSWORD).await.status(),
        429
    );
}

both_engines!(
    an_attack_costs_at_most_the_budget_and_the_owner_still_gets_in,
    a_forged_device_cookie_gets_no_budget_of_its_own
);
