//! Tracking a request the way a service does: validated, stored all or
//! nothing, acknowledged only once durable — with writes that arrive
//! together written as one batch and sharing one write-ahead-log sync
//! (group commit) — and, with
//! an idempotency key, stored at most once however often it is retried.

use cohort_event::{parse_track_request, Source};
use cohort_store::{
    now_millis, AppendOptions, Applied, Durability, GroupWrite, Remember, RememberedRequest, Store,
};

use super::{Error, Result};

/// How long an idempotency key is honoured: a retry within this time gets
/// the first answer; after it, the key is free again.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3_600_000;

/// The longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// What a durable track request stored (or, for a retry, stored the first
/// time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// Events stored.
    pub events: u64,
    /// `@first_session` events recorded for new devices.
    pub first_sessions: u64,
    /// Subjects seen for the first time.
    pub new_subjects: u64,
    /// Tag and attribute changes stored.
    pub profile_changes: u64,
    /// This is a retry's answer: nothing was stored now.
    pub replayed: bool,
}

impl Tracked {
    fn from_record(r: &RememberedRequest) -> Tracked {
        Tracked {
            events: r.stored,
            first_sessions: r.first_sessions,
            new_subjects: r.new_subjects,
            profile_changes: r.profile_changes,
            replayed: true,
        }
    }
}

/// Checks an idempotency key: 1 to 255 characters.
pub fn check_idempotency_key(key: &str) -> Result<()> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Error::InvalidIdempotencyKey { chars });
    }
    Ok(())
}

/// Validates a track request body and stores it, all or nothing, durably;
/// concurrent callers share write-ahead-log syncs. With `idempotency_key`,
/// a retry with the same key and the same body within
/// [`IDEMPOTENCY_TTL_MS`] stores nothing and gets the first answer
/// (also after a restart: the key is recorded in the request's own write);
/// the same key with another body is [`Error::IdempotencyConflict`].
pub fn track_durably(
    store: &Store,
    body: &[u8],
    source: Source,
    idempotency_key: Option<&str>,
) -> Result<Tracked> {
    let now = now_millis();
    let request = parse_track_request(body, source, now).map_err(Error::InvalidRequest)?;
    let remember = match idempotency_key {
        None => None,
        Some(key) => {
            check_idempotency_key(key)?;
            Some(Remember {
                key: key.to_owned(),
                digest: xxhash_rust::xxh3::xxh3_128(body).to_be_bytes(),
                ttl_ms: IDEMPOTENCY_TTL_MS,
            })
        }
    };
    let outcome = store.apply_grouped(GroupWrite {
        request,
        options: AppendOptions {
            durability: Durability::Buffered,
            received_at: Some(now),
        },
        remember,
        now,
    })?;
    // A retry's answer too waits until the first request is durable: its
    // record may be a concurrent request's, written but not yet synced.
    store.sync_through(outcome.commit)?;
    let receipt = match outcome.applied {
        Applied::New(receipt) => receipt,
        Applied::Again(first) => return Ok(Tracked::from_record(&first)),
        Applied::Conflict(_) => {
            return Err(Error::IdempotencyConflict {
                key: idempotency_key.unwrap_or_default().to_owned(),
            })
        }
    };
    Ok(Tracked {
        events: receipt.stored as u64,
        first_sessions: receipt.first_sessions as u64,
        new_subjects: receipt.new_subjects as u64,
        profile_changes: receipt.profile_changes as u64,
        replayed: false,
    })
}

/// Forgets idempotency keys older than [`IDEMPOTENCY_TTL_MS`]; returns how
/// many.
pub fn forget_expired_idempotency_keys(store: &Store) -> Result<usize> {
    Ok(store.forget_requests_before(now_millis() - IDEMPOTENCY_TTL_MS)?)
}
