//! Saved segments: named filters kept in the store as text. The store
//! never parses them (it knows nothing of filters).

use cohort_event::SubjectKind;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::store::Store;

/// A named filter saved in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSegment {
    /// The filter's text.
    pub filter: String,
    /// Which subjects it selects.
    pub kind: SubjectKind,
    /// What it is for.
    pub description: Option<String>,
}

impl Store {
    /// A lock for changes to saved segments that depend on the others (a
    /// save checked against every segment that refers to it, a delete
    /// checked against every segment that might): hold it from the check
    /// to the write, so that two changes cannot each pass their check and
    /// together break a segment. Only one process writes a store, so a
    /// lock in the process is enough.
    pub fn segment_change_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.segment_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A number that changes whenever a saved segment is saved or
    /// deleted through this handle: a cache of resolved segments (the live
    /// engine's) is current while it holds.
    pub fn segments_generation(&self) -> u64 {
        self.segments_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump_segments_generation(&self) {
        self.segments_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Saves (or replaces) a named segment, durably.
    pub fn save_segment(&self, name: &str, segment: &SavedSegment) -> Result<()> {
        if name.is_empty() || name.len() > 128 {
            return Err(StoreError::BadSegmentName {
                name: name.to_owned(),
                reason: format!("a segment name must be 1 to 128 bytes, not {}", name.len()),
            });
        }
        self.check_writable()?;
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db.put_cf_opt(
            self.cf(cf::SEGMENTS),
            name.as_bytes(),
            codec::encode(segment),
            &w,
        )?;
        self.bump_segments_generation();
        Ok(())
    }

    /// The segment saved under `name`.
    pub fn segment(&self, name: &str) -> Result<Option<SavedSegment>> {
        match self
            .db
            .get_pinned_cf(self.cf(cf::SEGMENTS), name.as_bytes())?
        {
            Some(v) => Ok(Some(codec::decode(&v, "a saved segment")?)),
            None => Ok(None),
        }
    }

    /// Every saved segment, by name.
    pub fn segments(&self) -> Result<Vec<(String, SavedSegment)>> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf::SEGMENTS));
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let name = String::from_utf8(k.to_vec())
                .map_err(|_| StoreError::Corrupt("a segment name is not UTF-8".into()))?;
            out.push((name, codec::decode(v, "a saved segment")?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Deletes a saved segment; returns whether it existed.
    pub fn delete_segment(&self, name: &str) -> Result<bool> {
        let existed = self.segment(name)?.is_some();
        if existed {
            self.check_writable()?;
            let mut w = rocksdb::WriteOptions::default();
            w.set_sync(true);
            self.db
                .delete_cf_opt(self.cf(cf::SEGMENTS), name.as_bytes(), &w)?;
            self.bump_segments_generation();
        }
        Ok(existed)
    }
}
