//! `amolink backup PATH` as an operator runs it (issue 14).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::process::Command;

fn amolink(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_amolink"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AMOLINK_") {
            command.env_remove(key);
        }
    }
    command
        .env("AMOLINK_DATA_DIR", dir)
        .env(
            "AMOLINK_DATABASE_URL",
            format!("sqlite://{}/amolink.db?mode=rwc", dir.display()),
        )
        .env("AMOLINK_LOG", "warn");
    command
}

#[test]
fn backup_writes_a_private_copy_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("amolink-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let migrated = amolink(&dir).arg("migrate").output().unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let copy = dir.join("copy.db");
    let backed_up = amolink(&dir).arg("backup").arg(&copy).output().unwrap();
    assert!(
        backed_up.status.success(),
        "{}",
        String::from_utf8_lossy(&backed_up.stderr)
    );
    let bytes = std::fs::read(&copy).unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"), "a SQLite database");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for file in ["amolink.db", "amolink.db-wal", "amolink.db-shm"] {
            let path = dir.join(file);
            if path.exists() {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{file}");
            }
        }
    }

    let again = amolink(&dir).arg("backup").arg(&copy).output().unwrap();
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("must not exist"));
    let _ = std::fs::remove_dir_all(&dir);
}
