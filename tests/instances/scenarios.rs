//! The scenarios of issue 5.

use std::{collections::HashSet, time::Duration};

use amocrm_sim::{Fault, FaultKind, RefreshGrace, Route};

use crate::fleet::{CYCLE, Fleet, LEASE_SECS, ONE_AT_A_TIME, long};

fn sizes() -> (usize, u32) {
    if long() { (1_000, 6) } else { (150, 2) }
}

/// Runs `instances` processes for `cycles` refresh cycles, optionally with 20 % of refreshes
/// failing (5xx and timeouts), and checks that no token was lost or refreshed twice.
async fn fleet_keeps_every_connection(instances: usize, faults: bool) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (connections, cycles) = sizes();
    let mut fleet = Fleet::new(RefreshGrace::Off, connections).await;
    for _ in 0..instances {
        fleet.start_instance();
    }
    let sim = fleet.sim.sim();
    let chaos = faults.then(|| {
        tokio::spawn(async move {
            let kinds = [
                FaultKind::Status { status: 503 },
                FaultKind::Timeout { ms: 800 },
            ];
            for kind in kinds.into_iter().cycle() {
                let fault = Fault {
                    probability: Some(0.2),
                    ..Fault::always(kind)
                };
                sim.set_fault(Route::Token, fault).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    });
    tokio::time::sleep(CYCLE * cycles + Duration::from_secs(2)).await;
    if let Some(chaos) = chaos {
        chaos.abort();
        fleet.sim.sim().clear_faults(None);
        fleet.settle(Duration::from_secs(60)).await;
    }
    fleet.assert_alive(&HashSet::new());

    let stale = fleet.sim.sim().stale_refresh_presentations();
    let (counts, reasons) = fleet.statuses().await;
    let refreshes = fleet.accepted_refreshes();
    let per_connection: Vec<usize> = refreshes.values().map(Vec::len).collect();
    println!(
        "{instances} instances, {connections} connections, faults {faults}: statuses {counts:?}, \
         stale refresh tokens presented {stale}, refreshes per connection {}..={}",
        per_connection.iter().min().unwrap_or(&0),
        per_connection.iter().max().unwrap_or(&0),
    );
    assert_eq!(stale, 0, "a rotated-out refresh token was presented");
    assert_eq!(
        counts.get("active"),
        Some(&connections),
        "{counts:?} {reasons:?}"
    );
    assert_eq!(
        refreshes.len(),
        connections,
        "every connection was refreshed"
    );
    for (client, times) in &refreshes {
        assert!(
            times.len() + 1 >= cycles as usize,
            "{client} refreshed only {} times",
            times.len()
        );
        for pair in times.windows(2) {
            let gap = (pair[1] - pair[0]).to_std().unwrap_or_default();
            assert!(
                gap >= CYCLE / 2,
                "{client} was refreshed twice in one cycle ({gap:?} apart)"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_refresh_each_connection_once_per_cycle() {
    fleet_keeps_every_connection(2, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_instances_refresh_each_connection_once_per_cycle() {
    fleet_keeps_every_connection(4, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_refreshes_lose_nothing() {
    fleet_keeps_every_connection(2, true).await;
}

/// Outcomes of the kill -9 scenario, over all repetitions.
#[derive(Debug, Default)]
struct Tally {
    active: usize,
    needs_reauth_explained: usize,
    silently_broken: usize,
}

/// Kills one of two instances in the middle of a refresh burst, lets the other take over, and
/// sorts every connection into active, needs-re-auth with a known reason, or silently broken.
async fn kill_nine(grace: RefreshGrace) -> Tally {
    let _alone = ONE_AT_A_TIME.lock().await;
    let repetitions = if long() { 20 } else { 1 };
    let connections = if long() { 300 } else { 60 };
    let mut tally = Tally::default();
    for _ in 0..repetitions {
        let mut fleet = Fleet::new(grace, connections).await;
        // Slow refreshes, so the kill lands while some are in flight.
        fleet
            .sim
            .sim()
            .set_fault(Route::Token, Fault::always(FaultKind::Latency { ms: 400 }))
            .unwrap();
        fleet.start_instance();
        fleet.start_instance();
        // The first refresh burst starts about a cycle after seeding; kill in the middle of it.
        let jitter = Duration::from_millis(u64::from(rand::random::<u16>() % 3_000));
        tokio::time::sleep(CYCLE - Duration::from_secs(2) + jitter).await;
        fleet.kill(0);
        let killed: HashSet<usize> = [0].into();
        tokio::time::sleep(Duration::from_secs(LEASE_SECS + 5)).await;
        fleet.settle(Duration::from_secs(20)).await;
        // One more full cycle: a connection left with a dead token would now fail without an
        // explanation — that would be "silently broken".
        tokio::time::sleep(CYCLE + Duration::from_secs(2)).await;
        fleet.settle(Duration::from_secs(20)).await;
        fleet.assert_alive(&killed);
        let (counts, reasons) = fleet.statuses().await;
        tally.active += counts.get("active").copied().unwrap_or(0);
        for reason in &reasons {
            if reason.contains("crashed") || reason.contains("lost") {
                tally.needs_reauth_explained += 1;
            } else {
                tally.silently_broken += 1;
            }
        }
        tally.silently_broken += counts
            .iter()
            .filter(|(status, _)| *status != "active" && *status != "needs_reauth")
            .map(|(_, n)| n)
            .sum::<usize>();
    }
    println!("kill -9 with grace {grace:?}: {tally:?}");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_with_grace_loses_nothing() {
    let tally = kill_nine(RefreshGrace::UntilNewPairUsed).await;
    assert_eq!(tally.silently_broken, 0, "{tally:?}");
    assert_eq!(
        tally.needs_reauth_explained, 0,
        "with the grace window every refresh recovers: {tally:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_without_grace_explains_every_loss() {
    let tally = kill_nine(RefreshGrace::Off).await;
    assert_eq!(tally.silently_broken, 0, "{tally:?}");
}
