//! The events catalog in memory, and the changes one write makes to it.
//!
//! A type's record (description, first and last seen, count) and its data
//! keys' counts are stored apart (`catalog` and `catalog_keys`), so a write
//! puts only what it changed: one small record per type it touched and one
//! entry per (type, key) it saw. A type with a hundred thousand distinct
//! keys costs a write no more than a type with one. In memory, a type's
//! keys are found through a hash index, never by a linear search.

use std::collections::BTreeMap;

use crate::codec::CatalogRecord;
use crate::state::HashMap;

/// Values seen per [`cohort_event::ValueKind`] (by its index).
pub(crate) type KindCounts = [u64; 7];

/// One event type's catalog entry in memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeStats {
    /// Description, first/last seen and count; `keys` is unused here.
    pub record: CatalogRecord,
    /// Data key id → counts, in key-id order (the order keys were first
    /// seen by the store). A B-tree: found and inserted in O(log n).
    pub keys: BTreeMap<u32, KindCounts>,
}

impl TypeStats {
    /// The counts of one key under this type.
    pub fn key(&self, key_id: u32) -> Option<&KindCounts> {
        self.keys.get(&key_id)
    }

    /// Sets the counts of one key.
    pub fn set_key(&mut self, key_id: u32, counts: KindCounts) {
        self.keys.insert(key_id, counts);
    }
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

    /// A key's total counts once this write is applied.
    pub fn key_total(&self, base: &[TypeStats], type_id: u32, key_id: u32) -> KindCounts {
        let mut total = base
            .get(type_id as usize)
            .and_then(|t| t.key(key_id))
            .copied()
            .unwrap_or_default();
        if let Some(delta) = self.keys.get(&(type_id, key_id)) {
            total.iter_mut().zip(delta).for_each(|(t, d)| *t += d);
        }
        total
    }

    /// Applies the change to the in-memory catalog.
    pub fn apply(self, catalog: &mut Vec<TypeStats>) {
        for (type_id, record) in self.records {
            let at = type_id as usize;
            if catalog.len() <= at {
                catalog.resize(at + 1, TypeStats::default());
            }
            catalog[at].record = record;
        }
        for ((type_id, key_id), delta) in self.keys {
            let at = type_id as usize;
            if catalog.len() <= at {
                catalog.resize(at + 1, TypeStats::default());
            }
            let stats = &mut catalog[at];
            let mut total = stats.key(key_id).copied().unwrap_or_default();
            total.iter_mut().zip(delta).for_each(|(t, d)| *t += d);
            stats.set_key(key_id, total);
        }
    }
}
