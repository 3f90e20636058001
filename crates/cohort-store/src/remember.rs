//! Remembered requests: a track request stored under a caller's key (the
//! HTTP service's `Idempotency-Key`) together with the answer it got, in
//! the same `WriteBatch` as the request itself. A retry finds the record
//! exactly when it finds the request's events: neither can be stored
//! without the other, so a retry after a crash never stores twice and
//! never misses the first answer.
//!
//! Records live in `meta` under `request/` followed by the key's bytes;
//! the store knows nothing of HTTP or of how long a key is honoured (the
//! caller passes the age past which a record is ignored and overwritten,
//! and forgets old records with [`Store::forget_requests_before`]).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::db::cf;
use crate::error::Result;
use crate::store::{AppendReceipt, Store};

/// The prefix of a remembered request's key in `meta`.
pub(crate) const PREFIX: &[u8] = b"request/";

/// The longest key a request may be remembered under, in bytes.
pub const MAX_REQUEST_KEY_BYTES: usize = 1024;

/// What a remembered request was, and the answer it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedRequest {
    /// The caller's digest of the request (e.g. of its body): a retry must
    /// carry the same one.
    pub digest: [u8; 16],
    /// When it was stored (Unix ms).
    pub at: i64,
    /// Events stored.
    pub stored: u64,
    /// `@first_session` events recorded.
    pub first_sessions: u64,
    /// New subjects.
    pub new_subjects: u64,
    /// Tag and attribute changes stored.
    pub profile_changes: u64,
}

/// What [`Store::apply_grouped`] did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The request was stored now (remembered in the same batch).
    New(AppendReceipt),
    /// The same key and digest were stored before: nothing was stored now;
    /// here is the first answer.
    Again(RememberedRequest),
    /// The key was used before for a request with another digest: nothing
    /// was stored.
    Conflict(RememberedRequest),
}

/// One request to remember: its key, digest, and the age (ms) past which
/// an earlier record under the key is ignored and replaced.
#[derive(Debug, Clone)]
pub struct Remember {
    /// The caller's key, 1 to [`MAX_REQUEST_KEY_BYTES`] bytes.
    pub key: String,
    /// The request's digest.
    pub digest: [u8; 16],
    /// How long (ms) a record is honoured.
    pub ttl_ms: i64,
}

pub(crate) fn record_key(key: &str) -> Vec<u8> {
    [PREFIX, key.as_bytes()].concat()
}

impl Store {
    /// The request remembered under `key`, however old.
    pub fn remembered(&self, key: &str) -> Result<Option<RememberedRequest>> {
        match self.db.get_pinned_cf(self.cf(cf::META), record_key(key))? {
            Some(v) => Ok(Some(codec::decode(&v, "a remembered request")?)),
            None => Ok(None),
        }
    }

    /// Forgets every request remembered before `t` (Unix ms); returns how
    /// many. Reads every record: call it now and then (the server does at
    /// start and hourly), not per request. Deletes in batches of
    /// [`FORGET_BATCH`], taking the writer lock once per batch, so that
    /// writes wait at most one batch.
    pub fn forget_requests_before(&self, t: i64) -> Result<usize> {
        self.check_writable()?;
        let meta = self.cf(cf::META);
        let mut forgotten = 0;
        let mut from = PREFIX.to_vec();
        loop {
            let mut old = Vec::new();
            let mut it = self.db.raw_iterator_cf(meta);
            it.seek(&from);
            let mut more = false;
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(PREFIX) {
                    break;
                }
                if old.len() == FORGET_BATCH {
                    more = true;
                    from = k.to_vec();
                    break;
                }
                let record: RememberedRequest = codec::decode(v, "a remembered request")?;
                if record.at < t {
                    old.push(k.to_vec());
                }
                it.next();
            }
            it.status()?;
            drop(it);
            if !old.is_empty() {
                let _writer = self.writer.lock();
                let mut batch = rocksdb::WriteBatch::default();
                for k in &old {
                    // Checked again under the lock: a request may have
                    // renewed it since.
                    if let Some(v) = self.db.get_pinned_cf(meta, k)? {
                        let record: RememberedRequest = codec::decode(&v, "a remembered request")?;
                        if record.at < t {
                            batch.delete_cf(meta, k);
                            forgotten += 1;
                        }
                    }
                }
                self.db.write(batch)?;
            }
            if !more {
                return Ok(forgotten);
            }
        }
    }
}

/// Records [`Store::forget_requests_before`] deletes per writer-lock hold.
pub const FORGET_BATCH: usize = 1024;

impl RememberedRequest {
    pub(crate) fn answered(digest: [u8; 16], at: i64, r: &AppendReceipt) -> RememberedRequest {
        RememberedRequest {
            digest,
            at,
            stored: r.stored as u64,
            first_sessions: r.first_sessions as u64,
            new_subjects: r.new_subjects as u64,
            profile_changes: r.profile_changes as u64,
        }
    }
}
