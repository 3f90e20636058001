//! Who writes a store: RocksDB holds an fcntl lock on `LOCK` while a
//! process has the store open for writing. A read-only view asks for that
//! lock's holder (F_GETLK, which takes nothing) to say whether newer writes
//! may exist than it shows.
//!
//! POSIX drops *all* of a process's fcntl locks on a file when it closes
//! *any* descriptor of that file. So a process never probes a store it has
//! open for writing itself: those are registered here, and their writer is
//! this process.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::process::{fcntl_getlk, Flock, FlockOffsetType, FlockType};

static WRITING: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Records that this process has the store at `path` open for writing.
pub(crate) fn register_writer(path: &Path) {
    let mut set = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    set.get_or_insert_with(HashSet::new).insert(canonical(path));
}

/// Records that this process closed the store at `path`.
pub(crate) fn unregister_writer(path: &Path) {
    let mut set = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(set) = set.as_mut() {
        set.remove(&canonical(path));
    }
}

/// The process that has the store at `path` open for writing, if any.
pub(crate) fn writer_pid(path: &Path) -> Option<u32> {
    let set = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    if set.as_ref().is_some_and(|s| s.contains(&canonical(path))) {
        return Some(std::process::id());
    }
    let file = std::fs::File::open(path.join("LOCK")).ok()?;
    let probe = Flock {
        start: 0,
        length: 0,
        pid: None,
        typ: FlockType::WriteLock,
        offset_type: FlockOffsetType::Set,
    };
    let holder = fcntl_getlk(&file, &probe).ok().flatten()?;
    Some(holder.pid.map_or(0, |p| p.as_raw_nonzero().get() as u32))
}
