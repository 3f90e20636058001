//! Projects and their API keys, on disk. A project is a directory under
//! `DATA/projects/` holding its store (`store/`) and its keys
//! (`keys.json`). A key is shown once, when it is made; the file keeps only
//! its SHA-256. Keys are 32 random bytes, so a fast hash is as good as a
//! slow one: there is nothing to guess from.
//!
//! The command line manages projects and keys while a server may be
//! running: the server notices a changed `keys.json` (its length, time and
//! inode) at the next request, so a revoked key stops working at once.

use std::path::{Path, PathBuf};

use cohort::{Access, Store, StoreOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{io_error, Result, ServerError};

/// The longest project name, in bytes.
pub const MAX_PROJECT_NAME: usize = 64;

/// Where a data directory keeps its projects.
pub(crate) fn projects_dir(data: &Path) -> PathBuf {
    data.join("projects")
}

/// A project's directory.
pub fn project_dir(data: &Path, name: &str) -> PathBuf {
    projects_dir(data).join(name)
}

/// A project's store.
pub fn store_dir(data: &Path, name: &str) -> PathBuf {
    project_dir(data, name).join("store")
}

fn keys_path(data: &Path, name: &str) -> PathBuf {
    project_dir(data, name).join("keys.json")
}

/// Checks a project name: 1 to 64 of `a-z`, `0-9`, `-` and `_`, starting
/// with a letter or digit (it is a directory name and a URL path segment).
pub fn check_project_name(name: &str) -> Result<()> {
    let bad = |reason| ServerError::InvalidProjectName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_PROJECT_NAME {
        return Err(bad("must be 1 to 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(bad("may hold only a-z, 0-9, '-' and '_'"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(bad("must start with a letter or digit"));
    }
    Ok(())
}

/// One key of a project, as `keys.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's public id (the part after `ck_`, before the secret).
    pub id: String,
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyRecord>,
}

/// A new key: shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Its public id (for `cohort project key revoke`).
    pub id: String,
    /// The key itself: `ck_ID_SECRET`.
    pub key: String,
}

/// A project as listed.
#[derive(Debug, Clone)]
pub struct ProjectInfo {
    /// Its name (the `projectId` of the routes).
    pub name: String,
    /// Its keys, revoked ones too.
    pub keys: Vec<KeyRecord>,
}

/// Creates a project: its directory, an empty store, no keys.
pub fn create_project(data: &Path, name: &str) -> Result<()> {
    check_project_name(name)?;
    let dir = project_dir(data, name);
    if dir.exists() {
        return Err(ServerError::ProjectExists(name.to_owned()));
    }
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    drop(Store::open(store_dir(data, name), StoreOptions::default())?);
    write_keys(data, name, &KeyFile::default())
}

/// Every project of the data directory, by name.
pub fn list_projects(data: &Path) -> Result<Vec<ProjectInfo>> {
    let dir = projects_dir(data);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(&dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if check_project_name(&name).is_err() || !keys_path(data, &name).exists() {
            continue;
        }
        let keys = read_keys(data, &name)?.keys;
        out.push(ProjectInfo { name, keys });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Deletes a project, its store and keys, unless a server has it open.
pub fn delete_project(data: &Path, name: &str) -> Result<()> {
    require_project(data, name)?;
    // Opening the store for writing takes its lock: a running server
    // holds it, and the project is refused.
    match Store::open(
        store_dir(data, name),
        StoreOptions {
            access: Access::ReadWrite,
            create_if_missing: false,
            ..StoreOptions::default()
        },
    ) {
        Ok(store) => drop(store),
        Err(cohort::StoreError::Locked(_)) => {
            return Err(ServerError::ProjectInUse(name.to_owned()))
        }
        Err(cohort::StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let dir = project_dir(data, name);
    std::fs::remove_dir_all(&dir).map_err(io_error(&dir))
}

/// Makes a key for a project; the answer is the only time it is shown.
pub fn create_key(data: &Path, name: &str) -> Result<NewKey> {
    require_project(data, name)?;
    let mut file = read_keys(data, name)?;
    let id = hex(&random::<4>());
    let key = format!("ck_{id}_{}", hex(&random::<24>()));
    file.keys.push(KeyRecord {
        id: id.clone(),
        sha256: hex(&Sha256::digest(key.as_bytes())),
        created: cohort::format_millis(cohort::now_millis()),
        revoked: None,
    });
    write_keys(data, name, &file)?;
    Ok(NewKey { id, key })
}

/// Revokes a key by its id: from the next request on, it is refused.
pub fn revoke_key(data: &Path, name: &str, id: &str) -> Result<()> {
    require_project(data, name)?;
    let mut file = read_keys(data, name)?;
    let Some(record) = file.keys.iter_mut().find(|k| k.id == id) else {
        return Err(ServerError::NoSuchKey {
            project: name.to_owned(),
            id: id.to_owned(),
        });
    };
    if record.revoked.is_none() {
        record.revoked = Some(cohort::format_millis(cohort::now_millis()));
    }
    write_keys(data, name, &file)
}

fn require_project(data: &Path, name: &str) -> Result<()> {
    check_project_name(name)?;
    if !keys_path(data, name).exists() {
        return Err(ServerError::NoSuchProject(name.to_owned()));
    }
    Ok(())
}

fn read_keys(data: &Path, name: &str) -> Result<KeyFile> {
    let path = keys_path(data, name);
    let text = std::fs::read(&path).map_err(io_error(&path))?;
    serde_json::from_slice(&text).map_err(|e| ServerError::BadKeyFile {
        path,
        reason: e.to_string(),
    })
}

/// Writes the key file whole and renames it into place, synced: a reader
/// sees the old file or the new one, never half of one.
fn write_keys(data: &Path, name: &str, file: &KeyFile) -> Result<()> {
    use std::io::Write;
    let path = keys_path(data, name);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(file).expect("keys serialise");
    let mut f = std::fs::File::create(&tmp).map_err(io_error(&tmp))?;
    f.write_all(&text).map_err(io_error(&tmp))?;
    f.sync_all().map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_error(parent))?;
    }
    Ok(())
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A project's active keys as the server checks them, reloaded when
/// `keys.json` changes.
#[derive(Debug, Default)]
pub(crate) struct KeyRing {
    stamp: Option<FileStamp>,
    /// SHA-256 of each active key.
    hashes: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode: m.ino(),
    })
}

impl KeyRing {
    /// The key file's stamp now (`None`: no such project). Taken outside
    /// any lock: it is a `stat`.
    pub(crate) fn stamp_of(data: &Path, name: &str) -> Option<FileStamp> {
        stamp(&keys_path(data, name))
    }

    /// Re-reads the key file when its stamp is not the one read last.
    pub(crate) fn refresh(&mut self, data: &Path, name: &str, now: FileStamp) {
        if self.stamp == Some(now) {
            return;
        }
        self.stamp = Some(now);
        self.hashes = match read_keys(data, name) {
            Ok(file) => file
                .keys
                .iter()
                .filter(|k| k.revoked.is_none())
                .filter_map(|k| unhex32(&k.sha256))
                .collect(),
            Err(e) => {
                tracing::warn!(project = name, error = %e, "no keys: the key file is unreadable");
                Vec::new()
            }
        };
    }

    /// Whether `key` is one of the active keys. Every stored hash is
    /// compared, each in constant time, so the time taken says nothing of
    /// which key or how much of it matched.
    pub(crate) fn admits(&self, key: &str) -> bool {
        admits(&self.hashes, key)
    }
}

/// Compares `key`'s hash with every hash in constant time (also when
/// there are none: a project that does not exist costs the same).
pub(crate) fn admits(hashes: &[[u8; 32]], key: &str) -> bool {
    let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut found = subtle::Choice::from(0);
    for h in hashes {
        found |= h.ct_eq(&presented);
    }
    // A comparison against a fixed value keeps the no-key case as busy.
    let _ = [0u8; 32].ct_eq(&presented);
    found.into()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["shop", "a", "shop-2_eu", "0x"] {
            check_project_name(good).unwrap();
        }
        for bad in ["", "Shop", "-x", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(check_project_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_made_stored_hashed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        create_project(dir.path(), "shop").unwrap();
        assert!(matches!(
            create_project(dir.path(), "shop"),
            Err(ServerError::ProjectExists(_))
        ));
        let key = create_key(dir.path(), "shop").unwrap();
        assert!(key.key.starts_with(&format!("ck_{}_", key.id)));
        let text = std::fs::read_to_string(keys_path(dir.path(), "shop")).unwrap();
        assert!(!text.contains(&key.key), "the key itself is never stored");
        let mut ring = KeyRing::default();
        let stamp = KeyRing::stamp_of(dir.path(), "shop").unwrap();
        ring.refresh(dir.path(), "shop", stamp);
        assert!(ring.admits(&key.key));
        assert!(!ring.admits(&format!("{}x", key.key)));
        revoke_key(dir.path(), "shop", &key.id).unwrap();
        let stamp = KeyRing::stamp_of(dir.path(), "shop").unwrap();
        ring.refresh(dir.path(), "shop", stamp);
        assert!(!ring.admits(&key.key));
        assert!(matches!(
            revoke_key(dir.path(), "shop", "nope"),
            Err(ServerError::NoSuchKey { .. })
        ));
        let listed = list_projects(dir.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].keys[0].revoked.is_some());
        delete_project(dir.path(), "shop").unwrap();
        assert!(list_projects(dir.path()).unwrap().is_empty());
        assert!(KeyRing::stamp_of(dir.path(), "shop").is_none());
    }
}
