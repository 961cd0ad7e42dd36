//! The SQLite database's files on disk: owner-only permissions and consistent online copies.
//!
//! The database holds sealed credentials, API-key hashes and session hashes; nobody but the
//! service's own user has a reason to read it. SQLite creates its `-wal` and `-shm` files with
//! the permissions of the database file, so the file is created `0600` before SQLite first opens
//! it, and files left more open by earlier versions are tightened at every start. Directories
//! amolink creates for the database are `0700`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context as _;

/// The database file a `sqlite:` URL names, or `None` for an in-memory database.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// The database file and the two files SQLite keeps beside it in WAL mode.
fn database_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Creates the database's directory (`0700`) and file (`0600`) if missing, and tightens the
/// database, WAL and shared-memory files to `0600` if they exist.
///
/// # Errors
/// When the directory or file cannot be created or its permissions cannot be set.
pub(crate) fn prepare_sqlite_files(db: &Path) -> anyhow::Result<()> {
    if let Some(dir) = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| {
            format!("could not create the database directory {}", dir.display())
        })?;
    }
    if !db.exists() {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(db)
            .with_context(|| format!("could not create the database {}", db.display()))?;
    }
    restrict_sqlite_files(db)
}

/// Sets `0600` on the database, WAL and shared-memory files that exist.
///
/// # Errors
/// When a file's permissions cannot be changed.
pub(crate) fn restrict_sqlite_files(db: &Path) -> anyhow::Result<()> {
    for file in database_files(db) {
        if file.exists() {
            owner_only(&file, 0o600)?;
        }
    }
    Ok(())
}

/// Sets `mode` on `path` unless it already is that strict.
///
/// # Errors
/// When the permissions cannot be read or changed.
pub fn owner_only(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let current = fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if current & 0o777 & !mode != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates an empty `0600` file at `path` for an online copy; refuses to overwrite anything.
///
/// # Errors
/// When `path` exists or cannot be created.
pub(crate) fn create_backup_file(path: &Path) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| {
        format!(
            "cannot create the backup {} (it must not exist yet)",
            path.display()
        )
    })?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o777
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("amolink-files-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn urls_name_their_files() {
        assert_eq!(
            sqlite_path("sqlite://amolink-data/amolink.db?mode=rwc"),
            Some(PathBuf::from("amolink-data/amolink.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/a.db"),
            Some(PathBuf::from("/var/lib/a.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://:memory:"), None);
    }

    #[test]
    fn new_files_and_directories_are_owner_only() {
        let root = temp_dir();
        let db = root.join("nested/data/amolink.db");
        prepare_sqlite_files(&db).expect("prepared");
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&root.join("nested/data")), 0o700);
        assert_eq!(mode(&root.join("nested")), 0o700);
    }

    #[test]
    fn existing_open_files_are_tightened() {
        let root = temp_dir();
        let db = root.join("amolink.db");
        for file in database_files(&db) {
            fs::write(&file, b"").expect("write");
            fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        prepare_sqlite_files(&db).expect("prepared");
        for file in database_files(&db) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn backups_never_overwrite() {
        let root = temp_dir();
        let target = root.join("copy.db");
        create_backup_file(&target).expect("created");
        assert_eq!(mode(&target), 0o600);
        assert!(create_backup_file(&target).is_err());
    }
}
