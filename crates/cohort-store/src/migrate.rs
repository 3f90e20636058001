//! Moving a store of an older format forward, in one atomic batch, when it
//! is opened for writing. (Read-only opens read older formats as they are.)
//!
//! 2 → 3: each type's data-key counts move out of its `catalog` record
//! into `catalog_keys` (one entry per type and key), so that a write puts
//! only the counts it changed. Blocks need nothing: format 3 only adds
//! sparse column kinds, and reads format 2's as they are.
//!
//! 3 → 4: nothing to move. Format 4 adds bulk commits (`bulk.rs`): keys at
//! or past `next_seq` may exist and must be skipped, and a `bulk_intent`
//! may be waiting for the next writer. The version changes so that an
//! older cohort, which knows neither, refuses the store instead of showing
//! or reusing what an unfinished commit left.
//!
//! 4 → 5: subjects' forward dictionary keys hold a hash of the ID, not
//! the ID (so that no key, and no MANIFEST, outlives a deleted user's ID).
//! Format 5 also adds profiles: the `profile` family
//! (made when the store is opened for writing), `profile_seq`, and a
//! `profile_first` in each facts value; a 24-byte facts value is read as a
//! subject without profile changes and rewritten whole by the next write
//! that touches it. The facts snapshot of format 4 is of a layout format 5
//! does not read, and is passed over until the next one is written.
//!
//! 5 → 6: nothing to move. Format 6 adds live segments (the `live` and
//! `changes` families, made when the store is opened for writing, and
//! `next_change`); the version changes so that an older cohort, which
//! would write without keeping live memberships, refuses the store.

use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::codec::{self, CatalogRecord};
use crate::db::{cf, FORMAT_VERSION};
use crate::error::{Result, StoreError};
use crate::keys::{self, catalog_key_key, meta, tag};

pub(crate) fn migrate(db: &DB, from: u32) -> Result<()> {
    let mut batch = WriteBatch::default();
    if !(2..FORMAT_VERSION).contains(&from) {
        return Err(StoreError::Corrupt(format!(
            "no migration from format version {from}"
        )));
    }
    if from == 2 {
        catalog_keys_apart(db, &mut batch)?;
    }
    if from <= 4 {
        hash_subject_keys(db, &mut batch)?;
    }
    let meta_cf = db
        .cf_handle(cf::META)
        .expect("every column family is opened for writing");
    batch.put_cf(meta_cf, meta::FORMAT_VERSION, FORMAT_VERSION.to_be_bytes());
    let mut w = WriteOptions::default();
    w.set_sync(true);
    db.write_opt(batch, &w)?;
    Ok(())
}

/// 4 → 5: every subject's forward dictionary entry moves from a key that
/// holds the ID to one that holds its hash (`keys::subject_fwd_key`).
fn hash_subject_keys(db: &DB, batch: &mut WriteBatch) -> Result<()> {
    let dict = db
        .cf_handle(cf::DICT)
        .expect("every column family is opened for writing");
    let mut it = db.raw_iterator_cf(dict);
    it.seek([tag::SUBJECT]);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if k.first() != Some(&tag::SUBJECT) {
            break;
        }
        let malformed = || StoreError::Corrupt("malformed subject dictionary entry".into());
        let kind = k
            .get(1)
            .and_then(|&t| cohort_event::SubjectKind::from_tag(t))
            .ok_or_else(malformed)?;
        let id = std::str::from_utf8(&k[2..]).map_err(|_| malformed())?;
        let sid = <[u8; 4]>::try_from(v)
            .map(u32::from_be_bytes)
            .map_err(|_| malformed())?;
        batch.put_cf(
            dict,
            keys::subject_fwd_key(kind, id),
            keys::subject_fwd_value(sid, id),
        );
        batch.delete_cf(dict, k);
        it.next();
    }
    it.status()?;
    Ok(())
}

/// 2 → 3 (see the module docs).
fn catalog_keys_apart(db: &DB, batch: &mut WriteBatch) -> Result<()> {
    let handle = |name| {
        db.cf_handle(name)
            .expect("every column family is opened for writing")
    };
    let mut it = db.raw_iterator_cf(handle(cf::CATALOG));
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        let type_id = <[u8; 4]>::try_from(k)
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("malformed catalog key".into()))?;
        let mut record: CatalogRecord = codec::decode(v, "a catalog record")?;
        for (key_id, counts) in std::mem::take(&mut record.keys) {
            batch.put_cf(
                handle(cf::CATALOG_KEYS),
                catalog_key_key(type_id, key_id),
                codec::encode(&counts),
            );
        }
        batch.put_cf(handle(cf::CATALOG), k, codec::encode(&record));
        it.next();
    }
    it.status()?;
    Ok(())
}
