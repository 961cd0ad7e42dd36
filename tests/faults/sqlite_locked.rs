//! The SQLite database held locked by another process (security.md F1 for the embedded engine):
//! writes wait out the busy timeout, then fail with `503`; once the lock is gone they succeed
//! again, and nothing acknowledged is lost.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use amolink_tests::{Engine, spawn_app};

use crate::load;

/// Seconds the other process holds the write lock: longer than amolink's 10 s busy timeout.
const HOLD_SECS: u64 = 14;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_answers_503_and_recovers() {
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let app = spawn_app(Engine::Sqlite).await;
    let key = load::tenant_key(&app.address).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (answers, tasks) = load::start(&app.address, &key, 3, stop.clone());
    let acknowledged = || {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.status == Some(201))
            .count()
    };
    while acknowledged() < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Another process takes SQLite's write lock (BEGIN IMMEDIATE) and sits on it.
    let db_path = app.data_dir.join("amolink.db");
    let script = "import sqlite3, sys, time\n\
                  c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
                  c.execute('BEGIN IMMEDIATE')\n\
                  print('locked', flush=True)\n\
                  time.sleep(float(sys.argv[2]))\n\
                  c.execute('ROLLBACK')\n";
    let mut locker = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&db_path)
        .arg(HOLD_SECS.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(locker.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let fault_started = Instant::now();
    let status = tokio::task::spawn_blocking(move || locker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the locking process ran");
    let fault_ended = Instant::now();

    let recovered_by = Instant::now() + Duration::from_secs(60);
    loop {
        let recovered = answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at > fault_ended && a.status == Some(201))
            .count();
        if recovered >= 20 || Instant::now() > recovered_by {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let stored = load::stored_end_users(app.database.connection()).await;
    let answers = answers.lock().unwrap().clone();
    load::check(&answers, fault_started, fault_ended, &stored);
}
