//! Loading the in-memory state when a store opens.

use cohort_event::SubjectKind;
use rocksdb::DB;

use crate::codec::{self, CatalogRecord, SubjectFacts};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{meta, tag};
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

pub(crate) fn load_state(db: &DB) -> Result<State> {
    let mut state = State::default();
    let handle = |name| {
        db.cf_handle(name)
            .expect("every column family is opened with the store")
    };

    let mut it = db.raw_iterator_cf(handle(cf::DICT));
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        match k.first() {
            Some(&tag::SUBJECT) if k.len() >= 2 => {
                let kind = SubjectKind::from_tag(k[1]).ok_or_else(|| corrupt("subject"))?;
                let name = utf8(&k[2..], "subject")?;
                state.subjects[kind.tag() as usize].insert(name, be_u32(v, "subject")?);
            }
            Some(&tag::TYPE_REV) => state
                .types
                .insert(be_u32(&k[1..], "type")?, utf8(v, "type")?),
            Some(&tag::KEY_REV) => state.keys.insert(be_u32(&k[1..], "key")?, utf8(v, "key")?),
            _ => {}
        }
        it.next();
    }
    it.status()?;

    let mut it = db.raw_iterator_cf(handle(cf::FACTS));
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if k.len() != 5 {
            return Err(corrupt("facts"));
        }
        let kind = SubjectKind::from_tag(k[0]).ok_or_else(|| corrupt("facts"))?;
        let sid = be_u32(&k[1..5], "facts")? as usize;
        let facts = std::sync::Arc::make_mut(&mut state.facts[kind.tag() as usize]);
        if facts.len() <= sid {
            facts.resize(
                sid + 1,
                SubjectFacts {
                    first_seen: 0,
                    last_seen: 0,
                    count: 0,
                },
            );
        }
        facts[sid] = SubjectFacts::decode(v)?;
        it.next();
    }
    it.status()?;

    let mut it = db.raw_iterator_cf(handle(cf::CATALOG));
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        let type_id = be_u32(k, "catalog")? as usize;
        if state.catalog.len() <= type_id {
            state.catalog.resize(type_id + 1, CatalogRecord::default());
        }
        state.catalog[type_id] = codec::decode(v, "a catalog record")?;
        it.next();
    }
    it.status()?;

    if let Some(v) = db.get_cf(handle(cf::META), meta::NEXT_SEQ)? {
        state.next_seq = <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| corrupt("next_seq"))?;
    }
    for k in 0..2 {
        if state.facts[k].len() != state.subjects[k].len() {
            return Err(StoreError::Corrupt(format!(
                "{} subjects but {} facts records",
                state.subjects[k].len(),
                state.facts[k].len()
            )));
        }
    }
    Ok(state)
}
