//! Group commit of whole requests: concurrent track requests are written
//! together, as one `WriteBatch`, by whichever of their threads leads.
//!
//! A service receives many small requests at once. Written one by one,
//! each pays for the writer lock changing hands (a thread woken and
//! scheduled, on a machine whose cores are busy parsing the next
//! requests), for a `WriteBatch` of its own with the write's fixed entries
//! (`next_seq`, catalog records, key counts read back), and for a block per
//! (kind, type, week) it touches — blocks of a few rows, which the writer
//! then keeps merging (`merge.rs`). Measured on the two-core machine of
//! `BENCHMARKS.md`, the writer lock was held 1.9 ms per 100-event request,
//! half of it outside RocksDB, and the lock was the limit.
//!
//! So a request joins a queue; the first thread to find no leader becomes
//! one, takes every queued request (up to [`MAX_GROUP_ITEMS`] items), stages
//! them one after another into one overlay — exactly as if they had been
//! written in that order, each all or nothing: a request that fails its
//! staging (a store at a capacity limit) is taken back alone and gets its
//! own error — commits the group, hands each thread its answer, and passes
//! the lead to the first request still queued. An error of the group's own
//! write (RocksDB failing, a corrupt block to merge) fails every request of
//! the group, and none of it is stored. Requests that arrive while a group is written form the
//! next group, so groups grow with the load and a lone request is written
//! at once.
//!
//! An idempotency key is checked against the store and against the
//! requests before it in the same group, so a retry that arrives with its
//! first attempt gets the first attempt's answer.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use cohort_event::TrackRequest;
use rocksdb::WriteBatch;

use crate::codec;
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::options::Durability;
use crate::profile::ProfileChanges;
use crate::remember::{record_key, Applied, Remember, RememberedRequest, MAX_REQUEST_KEY_BYTES};
use crate::state::Pending;
use crate::store::{now_millis, AppendOptions, Store};

/// The most items (events, tag and attribute changes) one group takes; a
/// request is never split, so a group holds at least one whole request.
pub const MAX_GROUP_ITEMS: usize = 20_000;

/// One request to write in a group, owned: another thread may write it.
#[derive(Debug)]
pub struct GroupWrite {
    /// The validated request.
    pub request: TrackRequest,
    /// Its durability and receive time.
    pub options: AppendOptions,
    /// Remember it under an idempotency key: a request stored under the
    /// same key within its `ttl_ms` (measured from `now`) is not stored
    /// again, and its answer is returned instead ([`Applied::Again`], or
    /// [`Applied::Conflict`] when the digests differ).
    pub remember: Option<Remember>,
    /// The clock when the request arrived: the age of an earlier record
    /// under the same key is measured from it (Unix ms).
    pub now: i64,
}

/// What a grouped write did, and the commit to sync through before
/// answering (see [`Store::sync_through`]): the group's commit, or for a
/// group that wrote nothing the last commit made — either at or after the
/// one that holds a retry's first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOutcome {
    /// What happened to the request.
    pub applied: Applied,
    /// Sync through this commit before answering.
    pub commit: u64,
}

/// The queue of requests waiting to be written, and whether a thread
/// leads (is writing a group).
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: VecDeque<Arc<Slot>>,
    leading: bool,
}

/// One queued request: its write until a leader takes it, then its answer.
#[derive(Debug)]
struct Slot {
    write: Mutex<Option<GroupWrite>>,
    answer: Mutex<Option<Result<GroupOutcome>>>,
    /// Set (under the queue lock) when this slot's thread is to lead next.
    lead: AtomicBool,
    /// Waited on with the queue lock.
    wake: Condvar,
}

impl Slot {
    fn answer(&self) -> Option<Result<GroupOutcome>> {
        self.answer.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn set_answer(&self, answer: Result<GroupOutcome>) {
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
    }
}

/// Answers a group whose leader unwound (a bug): every slot of it gets an
/// error, and the lead passes on, so no thread waits for ever.
struct Unwinding<'a> {
    queue: &'a WriteQueue,
    group: Option<Vec<Arc<Slot>>>,
}

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            let mut q = self.queue.lock();
            for slot in &group {
                slot.set_answer(Err(StoreError::Corrupt(
                    "the write of a group of requests was interrupted by a bug; it may or may not \
                     be stored (a retry with the same idempotency key is safe)"
                        .into(),
                )));
                slot.wake.notify_one();
            }
            pass_lead(&mut q);
        }
    }
}

impl WriteQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Gives the lead to the first waiting slot, or gives it up.
fn pass_lead(q: &mut QueueState) {
    match q.waiting.front() {
        Some(next) => {
            next.lead.store(true, Ordering::Release);
            next.wake.notify_one();
        }
        None => q.leading = false,
    }
}

impl Store {
    /// Stores a validated track request like [`Store::apply`] (with
    /// `remember`, at most once per key), written together with the
    /// requests other threads are writing at the same time (group commit,
    /// see `group.rs`); the answer is the same as if the group's requests
    /// had been written one by one, in the group's order (unless the
    /// group's write itself fails: then every request of it gets the
    /// error). Call [`Store::sync_through`] of [`GroupOutcome::commit`]
    /// before acknowledging: then the request, or for a retry the first
    /// request, is durable. (With [`Durability::Sync`] a stored request is
    /// durable at once; a retry's answer still needs `sync_through`.)
    pub fn apply_grouped(&self, write: GroupWrite) -> Result<GroupOutcome> {
        if let Some(r) = &write.remember {
            if r.key.is_empty() || r.key.len() > MAX_REQUEST_KEY_BYTES {
                return Err(StoreError::BadRequestKey {
                    bytes: r.key.len(),
                    limit: MAX_REQUEST_KEY_BYTES,
                });
            }
        }
        let me = Arc::new(Slot {
            write: Mutex::new(Some(write)),
            answer: Mutex::new(None),
            lead: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        let mut q = self.queue.lock();
        q.waiting.push_back(Arc::clone(&me));
        if q.leading {
            loop {
                if let Some(answer) = me.answer() {
                    return answer;
                }
                if me.lead.load(Ordering::Acquire) {
                    break;
                }
                q = me.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        } else {
            q.leading = true;
        }
        // This thread leads until its own request is written. The lead goes
        // only to the queue's first slot, and a thread that finds no leader
        // finds no one queued before it, so its request is in the first
        // group it takes and this loop runs once; it loops rather than
        // trust that.
        loop {
            let mut group = Vec::new();
            let mut items = 0;
            while let Some(slot) = q.waiting.front() {
                let len = slot
                    .write
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map_or(0, |w| w.request.len());
                if !group.is_empty() && items + len > MAX_GROUP_ITEMS {
                    break;
                }
                items += len;
                group.push(q.waiting.pop_front().expect("front exists"));
            }
            drop(q);
            let mut guard = Unwinding {
                queue: &self.queue,
                group: Some(group),
            };
            let writes: Vec<GroupWrite> = guard
                .group
                .as_ref()
                .expect("set above")
                .iter()
                .map(|s| {
                    s.write
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                        .expect("a queued slot holds its write until a leader takes it")
                })
                .collect();
            let answers = self.write_group(writes);
            let group = guard.group.take().expect("set above");
            q = self.queue.lock();
            let mut mine = None;
            for (slot, answer) in group.iter().zip(answers) {
                if Arc::ptr_eq(slot, &me) {
                    mine = Some(answer);
                } else {
                    slot.set_answer(answer);
                    slot.wake.notify_one();
                }
            }
            if let Some(answer) = mine {
                pass_lead(&mut q);
                return answer;
            }
        }
    }

    /// Writes one group under the writer lock: one answer per write, in
    /// order.
    pub(crate) fn write_group(&self, writes: Vec<GroupWrite>) -> Vec<Result<GroupOutcome>> {
        let _writer = self.writer.lock();
        let n = writes.len();
        match self.write_group_locked(writes) {
            Ok(answers) => answers,
            Err(e) => (0..n).map(|_| Err(shared(&e))).collect(),
        }
    }

    fn write_group_locked(&self, writes: Vec<GroupWrite>) -> Result<Vec<Result<GroupOutcome>>> {
        self.check_writable()?;
        self.subject_map()?;
        let state = self.read_state();
        let mut pending = Pending::new(&state, self.limits);
        let mut batch = WriteBatch::default();
        // What each write became: staged (index into `receipts`), or answered.
        enum Staged {
            New(usize),
            Answered(Result<Applied>),
        }
        let mut staged = Vec::with_capacity(writes.len());
        let mut receipts = Vec::new();
        let mut records_here: HashMap<String, RememberedRequest> = HashMap::new();
        let mut sync = false;
        let mut written_at = i64::MIN;
        for w in &writes {
            if let Some(r) = &w.remember {
                let earlier = match records_here.get(&r.key) {
                    Some(record) => Some(*record),
                    None => self.remembered(&r.key)?,
                };
                if let Some(earlier) = earlier {
                    if w.now.saturating_sub(earlier.at) < r.ttl_ms {
                        staged.push(Staged::Answered(Ok(if earlier.digest == r.digest {
                            Applied::Again(earlier)
                        } else {
                            Applied::Conflict(earlier)
                        })));
                        continue;
                    }
                }
            }
            let received_at = w.options.received_at.unwrap_or_else(now_millis);
            let profile = ProfileChanges {
                tags: &w.request.tags,
                attributes: &w.request.attributes,
            };
            match self.stage_request(&mut pending, &w.request.events, profile, received_at) {
                Err(e) => staged.push(Staged::Answered(Err(e))),
                Ok(receipt) => {
                    if let Some(r) = &w.remember {
                        let record = RememberedRequest::answered(r.digest, w.now, &receipt);
                        batch.put_cf(
                            self.cf(cf::META),
                            record_key(&r.key),
                            codec::encode(&record),
                        );
                        records_here.insert(r.key.clone(), record);
                    }
                    sync |= w.options.durability == Durability::Sync;
                    written_at = written_at.max(received_at);
                    staged.push(Staged::New(receipts.len()));
                    receipts.push(receipt);
                }
            }
        }
        let commit = if receipts.is_empty() {
            drop(state);
            // Nothing to write: a retry's answer waits for every commit
            // made so far, the first request's among them.
            self.last_commit()
        } else {
            let small_blocks = self.seal(&mut pending, &mut batch, written_at)?;
            let batch_bytes = batch.size_in_bytes();
            for r in &mut receipts {
                r.batch_bytes = batch_bytes;
            }
            let changes = pending.into_changes();
            drop(state);
            let durability = if sync {
                Durability::Sync
            } else {
                Durability::Buffered
            };
            self.commit_write(batch, durability, changes, small_blocks)?
        };
        Ok(staged
            .into_iter()
            .map(|s| match s {
                Staged::New(i) => {
                    let mut receipt = receipts[i];
                    receipt.commit = commit;
                    Ok(GroupOutcome {
                        applied: Applied::New(receipt),
                        commit,
                    })
                }
                Staged::Answered(answer) => answer.map(|applied| GroupOutcome { applied, commit }),
            })
            .collect())
    }
}

/// One error of a group's write, for each request of the group.
fn shared(e: &StoreError) -> StoreError {
    match e {
        StoreError::Rocks(e) => StoreError::Rocks(e.clone()),
        StoreError::Poisoned(p) => StoreError::Poisoned(p.clone()),
        StoreError::ReadOnly(p) => StoreError::ReadOnly(p.clone()),
        StoreError::Corrupt(s) => StoreError::Corrupt(s.clone()),
        other => StoreError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use cohort_event::{Event, SubjectKind};

    use super::*;
    use crate::options::StoreOptions;

    const T0: i64 = 1_780_000_000_000;

    fn request(user: &str, types: &[&str]) -> TrackRequest {
        TrackRequest {
            events: types
                .iter()
                .map(|t| Event {
                    subject_kind: SubjectKind::User,
                    subject_id: user.to_owned(),
                    event_type: (*t).to_owned(),
                    time: Some(T0),
                    data: Vec::new(),
                })
                .collect(),
            tags: Vec::new(),
            attributes: Vec::new(),
        }
    }

    fn write(request: TrackRequest, key: Option<(&str, u8)>) -> GroupWrite {
        GroupWrite {
            request,
            options: AppendOptions {
                durability: Durability::Buffered,
                received_at: Some(T0),
            },
            remember: key.map(|(key, digest)| Remember {
                key: key.to_owned(),
                digest: [digest; 16],
                ttl_ms: 60_000,
            }),
            now: T0,
        }
    }

    /// One group, written as if its requests came one by one: a request
    /// that fails takes back only itself, and an idempotency key is
    /// honoured against the requests before it in the same group.
    #[test]
    fn a_group_is_its_requests_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            StoreOptions {
                max_event_types: 2,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let answers = store.write_group(vec![
            write(request("u1", &["a"]), Some(("k", 1))),
            // "b" fits, "c" would be a third type: all of it is refused.
            write(request("u2", &["b", "c"]), None),
            write(request("u3", &["a"]), Some(("k", 1))),
            write(request("u4", &["a"]), Some(("k", 2))),
            write(request("u5", &["a", "a"]), None),
        ]);
        let commit = store.last_commit();
        assert_eq!(commit, 1, "one group, one commit");
        let applied: Vec<_> = answers
            .into_iter()
            .map(|a| a.map(|o| (o.applied, o.commit)))
            .collect();
        let Ok((Applied::New(first), 1)) = &applied[0] else {
            panic!("first request: {:?}", applied[0]);
        };
        assert_eq!((first.stored, first.new_subjects, first.commit), (1, 1, 1));
        assert!(
            matches!(&applied[1], Err(StoreError::Capacity { .. })),
            "{:?}",
            applied[1]
        );
        let Ok((Applied::Again(again), 1)) = &applied[2] else {
            panic!("retry: {:?}", applied[2]);
        };
        assert_eq!((again.stored, again.new_subjects), (1, 1));
        assert!(
            matches!(&applied[3], Ok((Applied::Conflict(_), 1))),
            "{:?}",
            applied[3]
        );
        let Ok((Applied::New(last), 1)) = &applied[4] else {
            panic!("last request: {:?}", applied[4]);
        };
        assert_eq!((last.stored, last.new_subjects), (2, 1));

        // Stored: u1 and u5's events, nothing of u2, u3 or u4.
        let stored = |id: &str| store.events(SubjectKind::User, id, ..).unwrap().len();
        assert_eq!(["u1", "u2", "u3", "u4", "u5"].map(stored), [1, 0, 0, 0, 2]);
        let catalog = store.catalog().unwrap();
        let names: Vec<_> = catalog.iter().map(|c| (c.name.as_str(), c.count)).collect();
        assert_eq!(names, [("a", 3)], "\"b\" went back with its request");
        assert_eq!(
            store.remembered("k").unwrap().map(|r| r.digest),
            Some([1; 16])
        );
    }

    /// A group in which every request is answered without a write commits
    /// nothing, and its answers wait for the commits before it.
    #[test]
    fn a_group_of_retries_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let first = store.write_group(vec![write(request("u1", &["a"]), Some(("k", 1)))]);
        assert!(matches!(first[0], Ok(GroupOutcome { commit: 1, .. })));
        let again = store.write_group(vec![
            write(request("u1", &["a"]), Some(("k", 1))),
            write(request("u1", &["a"]), Some(("k", 3))),
        ]);
        assert!(matches!(
            again[0],
            Ok(GroupOutcome {
                applied: Applied::Again(_),
                commit: 1
            })
        ));
        assert!(matches!(
            again[1],
            Ok(GroupOutcome {
                applied: Applied::Conflict(_),
                commit: 1
            })
        ));
        assert_eq!(store.last_commit(), 1);
        assert_eq!(store.events(SubjectKind::User, "u1", ..).unwrap().len(), 1);
    }

    /// A group holding a request that asks for a synced write is synced.
    #[test]
    fn a_group_with_a_synced_request_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut synced = write(request("u2", &["a"]), None);
        synced.options.durability = Durability::Sync;
        let answers = store.write_group(vec![write(request("u1", &["a"]), None), synced]);
        assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
        assert_eq!(store.durable_seq(), 2, "both events are durable");
        let buffered = store.write_group(vec![write(request("u3", &["a"]), None)]);
        assert!(buffered[0].is_ok());
        assert_eq!(store.durable_seq(), 2, "a buffered group waits for a sync");
        store
            .sync_through(buffered[0].as_ref().unwrap().commit)
            .unwrap();
        assert_eq!(store.durable_seq(), 3);
    }
}
