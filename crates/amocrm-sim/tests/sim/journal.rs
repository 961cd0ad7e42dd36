//! The journal answers "which refresh token was presented, and was it the latest?".

use amocrm_sim::{Event, RefreshGrace, SimConfig};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::common::*;

fn fingerprint(token: &str) -> String {
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..4])
}

/// `(fingerprint, latest, accepted, stale)` of every refresh presentation.
fn presentations(env: &Env) -> Vec<(String, bool, bool, bool)> {
    env.sim
        .sim()
        .journal()
        .into_iter()
        .filter_map(|entry| match entry.event {
            Event::RefreshPresented {
                rt_fingerprint,
                latest,
                accepted,
                stale_refresh_token,
                ..
            } => Some((rt_fingerprint, latest, accepted, stale_refresh_token)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn racing_refreshes_are_visible_in_the_journal() {
    let env = Env::new(SimConfig {
        refresh_grace: RefreshGrace::Off,
        ..SimConfig::default()
    })
    .await;
    let (install, tokens) = env.connect(DEMO).await;
    let (a, b) = tokio::join!(
        env.refresh(&install, &tokens.refresh),
        env.refresh(&install, &tokens.refresh)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "exactly one racer wins without grace");
    assert_eq!(env.sim.sim().stale_refresh_presentations(), 1);

    let fp = fingerprint(&tokens.refresh);
    let seen = presentations(&env);
    assert_eq!(
        seen,
        vec![(fp.clone(), true, true, false), (fp, false, false, true)]
    );
    let stats: Value = env
        .http
        .get(env.admin("/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["stale_refresh_presentations"], 1);
}

#[tokio::test]
async fn lost_refresh_response_then_retry_within_grace() {
    let env = Env::default().await;
    let (install, tokens) = env.connect(DEMO).await;
    env.http
        .post(env.admin("/faults"))
        .json(&json!({ "route": "token", "kind": "drop_after_rotation", "count": 1 }))
        .send()
        .await
        .expect("fault");
    // The refresh happens server-side, but the client never gets a usable answer.
    let lost = env
        .http
        .post(format!("{}/oauth2/access_token", env.sim.base_url()))
        .header(reqwest::header::HOST, install.referer.as_str())
        .json(&json!({
            "client_id": install.client_id, "client_secret": install.client_secret,
            "grant_type": "refresh_token", "refresh_token": tokens.refresh,
            "redirect_uri": REDIRECT_URI,
        }))
        .send()
        .await;
    match lost {
        Ok(response) => assert!(
            response.json::<Value>().await.is_err(),
            "response must be lost"
        ),
        Err(error) => assert!(
            !error.is_timeout(),
            "connection broken, not a timeout: {error}"
        ),
    }
    // Retrying with the same (old) token works thanks to the grace rule.
    let retried = tokens_of(env.refresh(&install, &tokens.refresh).await).await;
    // The token issued by the lost response was superseded: presenting it is stale.
    let issued: Vec<String> = env
        .sim
        .sim()
        .journal()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::TokenIssued {
                rt_fingerprint,
                via,
                ..
            } if via == "refresh_token" => Some(rt_fingerprint),
            _ => None,
        })
        .collect();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1], fingerprint(&retried.refresh));
    let fp = fingerprint(&tokens.refresh);
    assert_eq!(
        presentations(&env),
        vec![(fp.clone(), true, true, false), (fp, false, true, false)],
        "the retry presented a token that was not the latest, and it was accepted"
    );

    let since = env.sim.sim().journal().len();
    let journal: Value = env
        .http
        .get(env.admin(&format!("/journal?since={since}")))
        .send()
        .await
        .expect("journal")
        .json()
        .await
        .expect("json");
    assert_eq!(journal, json!([]));
    // Requests are journaled without secrets.
    let dump = serde_json::to_string(&env.sim.sim().journal()).expect("json");
    assert!(!dump.contains(&tokens.refresh));
    assert!(!dump.contains(&install.client_secret));
    assert!(dump.contains("\"route\":\"token\""));
}
