//! Loading the in-memory state when a store opens.
//!
//! Every id read here is checked before it sizes anything: dictionary ids
//! must be dense (0, 1, 2, … in key order), and facts and catalog entries
//! must name ids the dictionaries hold. A crafted key naming subject
//! 4,294,967,000 is corruption, not a reason to allocate 100 GB.

use cohort_event::SubjectKind;
use rocksdb::DB;

use crate::catalog::TypeStats;
use crate::codec::{self, CatalogRecord, SubjectFacts};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{meta, parse_subject_key, tag};
use crate::state::{HashMap, State};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("malformed {what} entry"))
}

/// A big-endian u64 of `meta` (a sequence number), `None` when absent.
pub(crate) fn meta_u64(db: &DB, key: &[u8]) -> Result<Option<u64>> {
    let meta_cf = db
        .cf_handle(cf::META)
        .ok_or_else(|| StoreError::Corrupt("no meta column family".into()))?;
    db.get_cf(meta_cf, key)?
        .map(|v| {
            <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt(&String::from_utf8_lossy(key)))
        })
        .transpose()
}

fn be_u32(b: &[u8], what: &str) -> Result<u32> {
    <[u8; 4]>::try_from(b)
        .map(u32::from_be_bytes)
        .map_err(|_| corrupt(what))
}

fn utf8(b: &[u8], what: &str) -> Result<Box<str>> {
    std::str::from_utf8(b)
        .map(Box::from)
        .map_err(|_| corrupt(what))
}

/// An id that should be the next of a dense sequence.
fn dense(id: u32, next: usize, what: &str) -> Result<()> {
    if id as usize != next {
        return Err(StoreError::Corrupt(format!(
            "the {what} dictionary is not dense: id {id} where {next} was expected"
        )));
    }
    Ok(())
}

/// What an opener needs of the subject dictionary: never all of it at
/// open. A reader looks IDs up one at a time in RocksDB; a writer reads
/// every ID into memory before its first write that names subjects
/// (`Store::subject_map`), so that a command that writes none — making a
/// segment live, say — pays nothing per subject to open.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectMap {
    /// A writer's: in memory, once it is needed.
    Later,
    /// A reader's: looked up in RocksDB.
    Lookup,
}

/// Visits every entry of `cf` whose key starts with `prefix`.
pub(crate) fn scan_prefix(
    db: &DB,
    cf: &rocksdb::ColumnFamily,
    prefix: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut it = db.raw_iterator_cf(cf);
    it.seek(prefix);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(prefix) {
            break;
        }
        visit(k, v)?;
        it.next();
    }
    it.status()?;
    Ok(())
}

/// What opening read: the bound "opening costs O(1) per subject on a
/// settled store" is tested by counting these, not by timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenCost {
    /// Subject IDs read into memory at open: none, for readers and
    /// writers alike (a writer reads them before its first write that
    /// names subjects).
    pub subject_ids: u64,
    /// Per-subject facts records read one by one (0 when the facts
    /// snapshot was current).
    pub facts_records: u64,
    /// Whether the facts came from the snapshot.
    pub facts_snapshot: bool,
}

/// Every subject ID, per kind (a writer, before its first write that
/// names subjects). The dictionary must agree with the facts in memory:
/// one dense id per facts record, `facts` of each kind.
pub(crate) fn load_subjects(db: &DB, facts: [usize; 2]) -> Result<[HashMap<Box<str>, u32>; 2]> {
    let dict = db
        .cf_handle(cf::DICT)
        .ok_or_else(|| StoreError::Corrupt(format!("no {} column family", cf::DICT)))?;
    let mut subjects: [HashMap<Box<str>, u32>; 2] = Default::default();
    // How many dense ids each kind's dictionary holds (deleted users'
    // included: they keep their ids, with empty names).
    let mut dense_ids = [0usize; 2];
    scan_prefix(db, dict, &[tag::SUBJECT_REV], |k, v| {
        let (kind, sid) = parse_subject_key(&k[1..]).ok_or_else(|| corrupt("subject"))?;
        let count = &mut dense_ids[kind.tag() as usize];
        dense(sid, *count, kind.as_str())?;
        *count += 1;
        // A deleted user's dense id keeps an empty name.
        if v.is_empty() {
            return Ok(());
        }
        if subjects[kind.tag() as usize]
            .insert(utf8(v, "subject")?, sid)
            .is_some()
        {
            return Err(StoreError::Corrupt(format!(
                "two {kind}s have the same ID (#{sid})"
            )));
        }
        Ok(())
    })?;
    for kind in SubjectKind::ALL {
        let k = kind.tag() as usize;
        if dense_ids[k] != facts[k] {
            return Err(StoreError::Corrupt(format!(
                "{} {kind}s but {} facts records",
                dense_ids[k], facts[k]
            )));
        }
    }
    Ok(subjects)
}

pub(crate) fn load_state(db: &DB, subject_map: SubjectMap) -> Result<(State, OpenCost)> {
    let mut state = State::default();
    let mut cost = OpenCost::default();
    let handle = |name| db.cf_handle(name);
    let required =
        |name| handle(name).ok_or_else(|| StoreError::Corrupt(format!("no {name} column family")));
    let dict = required(cf::DICT)?;

    // Only the reverse ranges are read (the forward ones hold the same
    // names): types and data keys (subjects: `load_subjects`).
    scan_prefix(db, dict, &[tag::TYPE_REV], |k, v| {
        let id = be_u32(&k[1..], "type")?;
        dense(id, state.types.len(), "event type")?;
        state.types.push(utf8(v, "type")?);
        Ok(())
    })?;
    scan_prefix(db, dict, &[tag::KEY_REV], |k, v| {
        let id = be_u32(&k[1..], "key")?;
        dense(id, state.keys.len(), "data key")?;
        state.keys.push(utf8(v, "key")?);
        Ok(())
    })?;
    let meta_cf = required(cf::META)?;
    if let Some(next_seq) = meta_u64(db, meta::NEXT_SEQ)? {
        state.next_seq = next_seq;
    }
    if let Some(profile_seq) = meta_u64(db, meta::PROFILE_SEQ)? {
        state.profile_seq = profile_seq;
    }
    if let Some(deleted) = meta_u64(db, meta::DELETED_EVENTS)? {
        state.deleted_events = deleted;
    }
    if let Some(v) = db.get_cf(meta_cf, meta::LAST_WRITE_AT)? {
        state.last_write_at = Some(
            <[u8; 8]>::try_from(v.as_slice())
                .map(i64::from_be_bytes)
                .map_err(|_| corrupt("last_write_at"))?,
        );
    }

    // Facts: the snapshot when it is current (a settled store), else one
    // record per subject, which must be dense per kind.
    let snapshot = match db.get_pinned_cf(meta_cf, meta::FACTS_SNAPSHOT)? {
        Some(v) => crate::snapshot::decode(&v, (state.next_seq, state.profile_seq))?,
        None => None,
    };
    cost.facts_snapshot = snapshot.is_some();
    let facts = match snapshot {
        Some(facts) => facts,
        None => {
            let mut facts: [Vec<SubjectFacts>; 2] = Default::default();
            scan_prefix(db, required(cf::FACTS)?, &[], |k, v| {
                let (kind, sid) = parse_subject_key(k).ok_or_else(|| corrupt("facts"))?;
                let of_kind = &mut facts[kind.tag() as usize];
                if sid as usize != of_kind.len() {
                    return Err(StoreError::Corrupt(format!(
                        "facts for {kind} #{sid} where #{} was expected",
                        of_kind.len()
                    )));
                }
                of_kind.push(SubjectFacts::decode(v)?);
                cost.facts_records += 1;
                Ok(())
            })?;
            facts
        }
    };
    // Every subject has facts, and only subjects do: the dictionary's
    // last id of each kind must agree (every id below it is checked when
    // a writer reads the map, `load_subjects`).
    for kind in SubjectKind::ALL {
        let k = kind.tag() as usize;
        let in_dictionary = last_subject_id(db, dict, kind)?.map_or(0, |id| id as usize + 1);
        if in_dictionary != facts[k].len() {
            return Err(StoreError::Corrupt(format!(
                "{in_dictionary} {kind}s but {} facts records",
                facts[k].len()
            )));
        }
    }
    state.facts = facts.map(std::sync::Arc::new);

    let types = state.types.len();
    let keys = state.keys.len();
    let check = |id: u32, bound: usize, what: &str| -> Result<()> {
        if id as usize >= bound {
            return Err(StoreError::Corrupt(format!(
                "the catalog names {what} #{id}, but the store has {bound}"
            )));
        }
        Ok(())
    };
    state.catalog = vec![TypeStats::default(); types];
    scan_prefix(db, required(cf::CATALOG)?, &[], |k, v| {
        let type_id = be_u32(k, "catalog")?;
        check(type_id, types, "event type")?;
        let record: CatalogRecord = codec::decode(v, "a catalog record")?;
        // Format 2 kept the key counts in the record; check what they name.
        for (key_id, _) in &record.keys {
            check(*key_id, keys, "data key")?;
        }
        state.catalog[type_id as usize].record = record;
        Ok(())
    })?;
    crate::live::load(db, &mut state, subject_map == SubjectMap::Later)?;
    Ok((state, cost))
}

/// The highest dense id of `kind` in the dictionary (one seek).
fn last_subject_id(
    db: &DB,
    dict: &rocksdb::ColumnFamily,
    kind: SubjectKind,
) -> Result<Option<u32>> {
    let mut it = db.raw_iterator_cf(dict);
    it.seek_for_prev([tag::SUBJECT_REV, kind.tag(), 0xff, 0xff, 0xff, 0xff, 0xff]);
    let found = match it.key() {
        Some(k) if k.len() == 6 && k[0] == tag::SUBJECT_REV && k[1] == kind.tag() => {
            Some(be_u32(&k[2..], "subject")?)
        }
        Some(k) if k.first() == Some(&tag::SUBJECT_REV) && k.get(1) == Some(&kind.tag()) => {
            return Err(corrupt("subject"))
        }
        _ => None,
    };
    it.status()?;
    Ok(found)
}
