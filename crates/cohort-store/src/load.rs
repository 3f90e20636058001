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
use crate::state::State;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("malformed {what} entry"))
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

pub(crate) fn load_state(db: &DB) -> Result<State> {
    let mut state = State::default();
    let handle = |name| db.cf_handle(name);
    let required =
        |name| handle(name).ok_or_else(|| StoreError::Corrupt(format!("no {name} column family")));

    let mut it = db.raw_iterator_cf(required(cf::DICT)?);
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        match k.first() {
            Some(&tag::SUBJECT_REV) => {
                let (kind, sid) = parse_subject_key(&k[1..]).ok_or_else(|| corrupt("subject"))?;
                let subjects = &mut state.subjects[kind.tag() as usize];
                dense(sid, subjects.len(), kind.as_str())?;
                if subjects.insert(utf8(v, "subject")?, sid).is_some() {
                    return Err(StoreError::Corrupt(format!(
                        "two {kind}s have the same ID (#{sid})"
                    )));
                }
            }
            Some(&tag::TYPE_REV) => {
                let id = be_u32(&k[1..], "type")?;
                dense(id, state.types.len(), "event type")?;
                state.types.push(utf8(v, "type")?);
            }
            Some(&tag::KEY_REV) => {
                let id = be_u32(&k[1..], "key")?;
                dense(id, state.keys.len(), "data key")?;
                state.keys.push(utf8(v, "key")?);
            }
            _ => {}
        }
        it.next();
    }
    it.status()?;
    drop(it);

    let mut facts: [Vec<SubjectFacts>; 2] =
        SubjectKind::ALL.map(|kind| vec![SubjectFacts::NONE; state.subject_count(kind)]);
    let mut seen = [0usize; 2];
    let mut it = db.raw_iterator_cf(required(cf::FACTS)?);
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        let (kind, sid) = parse_subject_key(k).ok_or_else(|| corrupt("facts"))?;
        let slot = facts[kind.tag() as usize]
            .get_mut(sid as usize)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "facts for {kind} #{sid}, but the store has {} {kind}s",
                    state.subject_count(kind)
                ))
            })?;
        *slot = SubjectFacts::decode(v)?;
        seen[kind.tag() as usize] += 1;
        it.next();
    }
    it.status()?;
    drop(it);
    for kind in SubjectKind::ALL {
        let k = kind.tag() as usize;
        if seen[k] != state.subject_count(kind) {
            return Err(StoreError::Corrupt(format!(
                "{} {kind}s but {} facts records",
                state.subject_count(kind),
                seen[k]
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
    let mut it = db.raw_iterator_cf(required(cf::CATALOG)?);
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        let type_id = be_u32(k, "catalog")?;
        check(type_id, types, "event type")?;
        let record: CatalogRecord = codec::decode(v, "a catalog record")?;
        // Format 2 kept the key counts in the record; check what they name.
        for (key_id, _) in &record.keys {
            check(*key_id, keys, "data key")?;
        }
        state.catalog[type_id as usize].record = record;
        it.next();
    }
    it.status()?;
    drop(it);
    if let Some(v) = db.get_cf(required(cf::META)?, meta::NEXT_SEQ)? {
        state.next_seq = <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| corrupt("next_seq"))?;
    }
    if let Some(v) = db.get_cf(required(cf::META)?, meta::LAST_WRITE_AT)? {
        state.last_write_at = Some(
            <[u8; 8]>::try_from(v.as_slice())
                .map(i64::from_be_bytes)
                .map_err(|_| corrupt("last_write_at"))?,
        );
    }
    Ok(state)
}
