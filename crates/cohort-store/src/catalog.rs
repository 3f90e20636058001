//! The events catalog in memory, and the changes one write makes to it.
//!
//! A type's record (description, first and last seen, count) and its data
//! keys' counts are stored apart (`catalog` and `catalog_keys`), so a write
//! puts only what it changed: one small record per type it touched and one
//! entry per (type, key) it saw. A type with a hundred thousand distinct
//! keys costs a write no more than a type with one.
//!
//! Only the records live in memory (one per type). Key counts are read
//! from RocksDB when they are needed — the totals a write updates, the
//! catalog when it is listed — so opening a store costs nothing per
//! (type, key) pair.

use crate::codec::CatalogRecord;
use crate::state::HashMap;

/// Values seen per [`cohort_event::ValueKind`] (by its index).
pub(crate) type KindCounts = [u64; 7];

/// One event type's catalog entry in memory: its record. (A format-2
/// store opened read-only keeps its key counts inside, as it wrote them.)
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeStats {
    pub record: CatalogRecord,
}

/// What one write changes in the catalog, not yet applied.
#[derive(Default)]
pub(crate) struct CatalogDelta {
    /// Per type id: its record after this write.
    pub records: HashMap<u32, CatalogRecord>,
    /// Per (type id, key id): values counted by this write.
    pub keys: HashMap<(u32, u32), KindCounts>,
}

impl CatalogDelta {
    /// The record of `type_id` as this write leaves it, starting from `base`.
    pub fn record<'a>(&'a mut self, base: &[TypeStats], type_id: u32) -> &'a mut CatalogRecord {
        self.records.entry(type_id).or_insert_with(|| {
            base.get(type_id as usize)
                .map(|t| t.record.clone())
                .unwrap_or_default()
        })
    }

    /// Counts one value of kind `kind` (an index) for `key_id` under `type_id`.
    pub fn count_key(&mut self, type_id: u32, key_id: u32, kind: usize) {
        self.keys.entry((type_id, key_id)).or_default()[kind] += 1;
    }

    /// Applies the change to the in-memory catalog (the records).
    pub fn apply(self, catalog: &mut Vec<TypeStats>) {
        for (type_id, record) in self.records {
            let at = type_id as usize;
            if catalog.len() <= at {
                catalog.resize(at + 1, TypeStats::default());
            }
            catalog[at].record = record;
        }
    }
}

/// `base` plus `delta`, kind by kind.
pub(crate) fn add_counts(mut base: KindCounts, delta: &KindCounts) -> KindCounts {
    base.iter_mut().zip(delta).for_each(|(t, d)| *t += d);
    base
}
