//! The bar of live segments: exact. Random stores, random live segments
//! (every condition kind, nested, negated, profile conditions with time
//! zones) and a simulated clock: after every write and every clock step,
//! each live segment's members equal a full evaluation at that instant,
//! and replaying the change feed from empty gives the same members —
//! every entry followed by its exit, never two in a row.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cohort_eval::{evaluate, EvalOptions, LiveEngine, StoreSegments};
use cohort_store::{
    AppendOptions, BulkLoad, LiveContext, LiveHook, LivePair, SavedSegment, Source, Store,
    StoreError, StoreOptions, SubjectKind, Verdict, SWEEP_ROUND,
};
use proptest::prelude::*;

const T0: i64 = 1_780_272_000_000; // 2026-06-01T00:00:00Z
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The segments: every condition kind, windows of every form, nesting,
/// negation at the root and inside, tags, attributes, age and birthday.
const SEGMENTS: &[(&str, SubjectKind, &str)] = &[
    ("twice", SubjectKind::User, "count(purchase, last 2d) >= 2"),
    (
        "big",
        SubjectKind::User,
        "did(purchase where data.amount >= 100, last 12h)",
    ),
    ("idle", SubjectKind::User, "not did(purchase, last 1d)"),
    ("habit", SubjectKind::User, "days(app_open, last 3d) >= 2"),
    (
        "spend",
        SubjectKind::User,
        "sum(purchase, data.amount, since now - 2d) > 150",
    ),
    (
        "mid",
        SubjectKind::User,
        "avg(purchase, data.amount, between now - 3d and now - 1d) >= 100",
    ),
    (
        "new_buyer",
        SubjectKind::User,
        "first(purchase) >= now - 2d",
    ),
    ("gone", SubjectKind::User, "last(app_open) < now - 6h"),
    (
        "funnel",
        SubjectKind::User,
        "seq(app_open -> purchase, within 6h, last 2d)",
    ),
    (
        "nested",
        SubjectKind::User,
        r#"in_segment("twice") and not in_segment("idle")"#,
    ),
    (
        "pro",
        SubjectKind::User,
        r#"tag.plan = "pro" and did(app_open, last 1d)"#,
    ),
    ("cake", SubjectKind::User, "age >= 26 or birthday"),
    ("trial", SubjectKind::User, "tag.trial_end < now + 1d"),
    (
        "due",
        SubjectKind::User,
        "did(purchase where data.at <= now - 1h)",
    ),
    (
        "swing",
        SubjectKind::User,
        "max(purchase, data.amount, last 1d) > 150 or min(purchase, data.amount, last 1d) < 60",
    ),
    (
        "window",
        SubjectKind::User,
        "did(*, between 2026-06-02 and now + 1d) and not did(app_open, last 30m)",
    ),
    ("seen", SubjectKind::Device, "did(*, last 1d)"),
];

#[derive(Debug, Clone)]
enum Step {
    /// Events: (user?, subject, type, minutes from now, amount, `at` in hours from now).
    Events(Vec<(bool, u8, u8, i64, u16, i64)>),
    /// A tag change: subject, plan, trial_end hours from now, minutes from now.
    Tags(u8, Option<&'static str>, Option<i64>, i64),
    /// Attributes: subject, dob, zone, minutes from now.
    Attributes(u8, Option<&'static str>, Option<&'static str>, i64),
    /// The clock moves on, by minutes; with `true`, a sweep follows
    /// (else the next write catches up what fell due).
    Advance(i64, bool),
    /// Segment `i` becomes live (if it is not).
    MakeLive(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let event = (
        prop::bool::weighted(0.8),
        0u8..6,
        0u8..3,
        // Late (up to 3 days back), now, or ahead (up to 20 hours).
        prop_oneof![3 => -4320i64..0, 2 => Just(0i64), 1 => 1i64..1200],
        0u16..300,
        -48i64..48,
    );
    prop_oneof![
        6 => prop::collection::vec(event, 1..4).prop_map(Step::Events),
        1 => (
            0u8..6,
            prop::option::of(prop_oneof![Just("pro"), Just("free")]),
            prop::option::of(-48i64..72),
            prop_oneof![Just(0i64), -600i64..600],
        )
            .prop_map(|(s, plan, trial, at)| Step::Tags(s, plan, trial, at)),
        1 => (
            0u8..6,
            prop::option::of(prop_oneof![
                Just("2000-06-02"),
                Just("2000-06-03"),
                Just("1999-06-01"),
                Just("2000-02-29"),
                Just("2001-06-04"),
            ]),
            prop::option::of(prop_oneof![
                Just("UTC"),
                Just("Asia/Seoul"),
                Just("America/Los_Angeles"),
                Just("Pacific/Kiritimati"),
                Just("Pacific/Pago_Pago"),
            ]),
            prop_oneof![Just(0i64), -600i64..600],
        )
            .prop_map(|(s, dob, zone, at)| Step::Attributes(s, dob, zone, at)),
        4 => (
            prop_oneof![1i64..90, 60i64..1500, 1000i64..4000],
            prop::bool::weighted(0.7),
        )
            .prop_map(|(minutes, sweep)| Step::Advance(minutes, sweep)),
        1 => (0..SEGMENTS.len()).prop_map(Step::MakeLive),
    ]
}

fn body(step: &Step, now: i64) -> Option<String> {
    let time = |minutes: i64| cohort_store::format_millis(now + minutes * MINUTE);
    match step {
        Step::Events(events) => {
            let items: Vec<String> = events
                .iter()
                .map(|&(user, s, t, minutes, amount, at)| {
                    let (kind, prefix) = if user { ("user", "u") } else { ("device", "d") };
                    let ty = ["purchase", "app_open", "view"][t as usize];
                    format!(
                        r#"{{"subjectType":"{kind}","subjectId":"{prefix}{s}","type":"{ty}","createdAt":"{}","data":{{"amount":{amount},"at":"{}"}}}}"#,
                        time(minutes),
                        time(at * 60)
                    )
                })
                .collect();
            Some(format!(r#"{{"events":[{}]}}"#, items.join(",")))
        }
        Step::Tags(s, plan, trial, at) => {
            let plan = plan.map_or("null".to_string(), |p| format!("\"{p}\""));
            let trial = trial.map_or("null".to_string(), |h| format!("\"{}\"", time(h * 60)));
            Some(format!(
                r#"{{"tags":[{{"subjectType":"user","subjectId":"u{s}","createdAt":"{}","tags":{{"plan":{plan},"trial_end":{trial}}}}}]}}"#,
                time(*at)
            ))
        }
        Step::Attributes(s, dob, zone, at) => {
            let text = |v: &Option<&str>| v.map_or("null".to_string(), |v| format!("\"{v}\""));
            Some(format!(
                r#"{{"userAttributes":[{{"userId":"u{s}","createdAt":"{}","dob":{},"timeZone":{}}}]}}"#,
                time(*at),
                text(dob),
                text(zone)
            ))
        }
        Step::Advance(..) | Step::MakeLive(_) => None,
    }
}

/// A write step's track request, as of `now`.
fn request(step: &Step, now: i64) -> cohort_event::TrackRequest {
    let body = body(step, now).expect("a write step");
    cohort_event::parse_track_request(body.as_bytes(), Source::Client, now)
        .unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn sweep(store: &Store, now: i64) {
    while store.sweep(now, 4).unwrap().more {}
}

/// The subjects a write step touches.
fn touched(step: &Step) -> BTreeSet<String> {
    match step {
        Step::Events(events) => events
            .iter()
            .map(|&(user, s, ..)| format!("{}{s}", if user { "u" } else { "d" }))
            .collect(),
        Step::Tags(s, ..) | Step::Attributes(s, ..) => BTreeSet::from([format!("u{s}")]),
        Step::Advance(..) | Step::MakeLive(_) => BTreeSet::new(),
    }
}

/// Every live segment's members (of `only`, if given) equal a full
/// evaluation at `now`, and the feed, replayed, gives the live members.
fn check(store: &Store, now: i64, what: &str, only: Option<&BTreeSet<String>>) {
    let view = store.view();
    let segments = StoreSegments::new(store);
    let mut replayed: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut last_at: HashMap<(String, String), i64> = HashMap::new();
    for c in store.changes(0, None, usize::MAX).unwrap() {
        let members = replayed.entry(c.segment.clone()).or_default();
        if c.entered {
            assert!(
                members.insert(c.subject.clone()),
                "{what}: entered twice: {c:?}"
            );
        } else {
            assert!(
                members.remove(&c.subject),
                "{what}: left without entering: {c:?}"
            );
        }
        let at = last_at
            .entry((c.segment.clone(), c.subject.clone()))
            .or_insert(i64::MIN);
        assert!(c.at >= *at, "{what}: changes out of order: {c:?}");
        *at = c.at;
    }
    for (_, def) in store.live_segments() {
        let filter = cohort_filter::parse(&def.filter).unwrap();
        let options = EvalOptions {
            kind: def.kind,
            ..EvalOptions::at(now)
        };
        let expected = evaluate(&view, &filter, &segments, &options).unwrap();
        let live = store.live_members(&def.name).unwrap();
        let names = |bits: &roaring::RoaringBitmap| -> BTreeSet<String> {
            bits.iter()
                .map(|sid| view.subject_id(def.kind, sid).unwrap())
                .collect()
        };
        let of_only = |names: BTreeSet<String>| -> BTreeSet<String> {
            match only {
                Some(only) => names.intersection(only).cloned().collect(),
                None => names,
            }
        };
        assert_eq!(
            of_only(names(&live)),
            of_only(names(&expected)),
            "{what}: live members of {} ({}) at {}",
            def.name,
            def.filter,
            cohort_store::format_millis(now)
        );
        assert_eq!(
            replayed.remove(&def.name).unwrap_or_default(),
            names(&live),
            "{what}: the feed of {} replayed",
            def.name
        );
    }
}

fn run(live_at_start: &[bool], steps: &[Step]) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.set_live_hook(Arc::new(LiveEngine::new()));
    let mut now = T0;
    save_segments(&[&store]);
    let make_live = |i: usize, now: i64| {
        let (name, kind, _) = SEGMENTS[i];
        let saved = store.segment(name).unwrap().unwrap();
        store.make_live(name, kind, &saved.filter, now).unwrap();
    };
    for (i, live) in live_at_start.iter().enumerate() {
        if *live {
            make_live(i, now);
        }
    }
    // Whether the live state is current: a clock step without a sweep
    // leaves it behind until the next write, sweep or backfill.
    let mut current = true;
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Advance(minutes, swept) => {
                now += minutes * MINUTE;
                if !swept {
                    current = false;
                    continue;
                }
                sweep(&store, now);
            }
            Step::MakeLive(i) => {
                let (name, kind, _) = SEGMENTS[*i];
                if store.live_segment_id(name).is_none() {
                    make_live(*i, now);
                } else if !current {
                    continue;
                } else {
                    // Deciding a current live segment again (as a save of
                    // the same filter does) finds nothing to change.
                    let saved = store.segment(name).unwrap().unwrap();
                    let again = store.make_live(name, kind, &saved.filter, now).unwrap();
                    assert_eq!(again.changes, 0, "step {n}: {name} decided again changed");
                }
            }
            _ => {
                let request = request(step, now);
                if n % 3 == 2 {
                    // Every third write as a bulk load's commit, decided
                    // segment by segment at once: the writes around it
                    // must not decide from what they read before it (the
                    // cache of decoded histories, `history.rs`).
                    let mut load = store.bulk_load().unwrap();
                    let profile = cohort_store::ProfileChanges {
                        tags: &request.tags,
                        attributes: &request.attributes,
                    };
                    load.append(&request.events, profile, Some(now), None)
                        .unwrap();
                    load.commit().unwrap();
                } else {
                    let options = AppendOptions {
                        received_at: Some(now),
                        ..Default::default()
                    };
                    store.apply(&request, options).unwrap();
                }
                if !current {
                    // A write catches up the deadlines of the subjects it
                    // touches; the others' wait for the sweep.
                    let what = format!("after step {n} ({step:?}), unswept");
                    check(&store, now, &what, Some(&touched(step)));
                    sweep(&store, now);
                }
            }
        }
        current = true;
        check(&store, now, &format!("after step {n} ({step:?})"), None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn live_members_equal_a_full_evaluation_after_every_write_and_tick(
        live_at_start in prop::collection::vec(prop::bool::weighted(0.7), SEGMENTS.len()),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        run(&live_at_start, &steps);
    }
}

/// Decides subject by subject only: the backfill the store falls back
/// to when the hook cannot decide a segment at once.
struct PerSubject(LiveEngine);

impl LiveHook for PerSubject {
    fn decide(
        &self,
        ctx: &LiveContext<'_, '_>,
        pairs: &[LivePair],
    ) -> Result<Vec<Option<Verdict>>, StoreError> {
        self.0.decide(ctx, pairs)
    }

    fn triggers(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
    ) -> Result<Option<std::collections::BTreeSet<String>>, StoreError> {
        self.0.triggers(ctx, segment)
    }
}

/// The engine, counting the segments it decided at once.
#[derive(Default)]
struct AtOnce {
    engine: LiveEngine,
    answered: std::sync::atomic::AtomicUsize,
}

impl LiveHook for AtOnce {
    fn decide(
        &self,
        ctx: &LiveContext<'_, '_>,
        pairs: &[LivePair],
    ) -> Result<Vec<Option<Verdict>>, StoreError> {
        self.engine.decide(ctx, pairs)
    }

    fn triggers(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
    ) -> Result<Option<std::collections::BTreeSet<String>>, StoreError> {
        self.engine.triggers(ctx, segment)
    }

    fn decide_all(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
        at: i64,
    ) -> Result<Option<cohort_store::AllVerdicts>, StoreError> {
        let all = self.engine.decide_all(ctx, segment, at)?;
        if all.is_some() {
            self.answered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(all)
    }

    fn entries(
        &self,
        ctx: &LiveContext<'_, '_>,
        pairs: &[LivePair],
    ) -> Result<Vec<Option<cohort_store::EventRecord>>, StoreError> {
        self.engine.entries(ctx, pairs)
    }
}

/// Two empty stores: the first decides whole segments at once where it
/// can (its hook counts how often), the second subject by subject only.
fn fast_and_slow() -> ([tempfile::TempDir; 2], Store, Store, Arc<AtOnce>) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let fast = Store::open(dirs[0].path(), StoreOptions::default()).unwrap();
    let slow = Store::open(dirs[1].path(), StoreOptions::default()).unwrap();
    let at_once = Arc::new(AtOnce::default());
    fast.set_live_hook(at_once.clone());
    slow.set_live_hook(Arc::new(PerSubject(LiveEngine::new())));
    (dirs, fast, slow, at_once)
}

/// Saves every segment of [`SEGMENTS`] in `stores`; returns their
/// canonical filters.
fn save_segments(stores: &[&Store]) -> Vec<String> {
    let mut filters = Vec::new();
    for (name, kind, filter) in SEGMENTS {
        let canonical = cohort_filter::parse(filter).unwrap().to_string();
        let saved = SavedSegment {
            filter: canonical.clone(),
            kind: *kind,
            description: None,
        };
        for store in stores {
            store.save_segment(name, &saved).unwrap();
        }
        filters.push(canonical);
    }
    filters
}

/// A backfill in one evaluation and one block scan equals the backfill
/// subject by subject: the same members, the same change records, and
/// each subject's very deadline.
fn backfills_agree(steps: &[Step]) {
    let (_dirs, fast, slow, _) = fast_and_slow();
    let mut now = T0;
    for step in steps {
        match step {
            Step::Advance(minutes, _) => now += minutes * MINUTE,
            Step::MakeLive(_) => {}
            _ => {
                let request = request(step, now);
                let options = AppendOptions {
                    received_at: Some(now),
                    ..Default::default()
                };
                fast.apply(&request, options).unwrap();
                slow.apply(&request, options).unwrap();
            }
        }
    }
    save_segments(&[&fast, &slow]);
    for (name, kind, _) in SEGMENTS {
        let filter = fast.segment(name).unwrap().unwrap().filter;
        let a = fast.make_live(name, *kind, &filter, now).unwrap();
        let b = slow.make_live(name, *kind, &filter, now).unwrap();
        assert_eq!((a.members, a.changes), (b.members, b.changes), "{name}");
        assert_eq!(fast.live_members(name), slow.live_members(name), "{name}");
        for sid in 0..fast.view().subject_count(*kind) {
            assert_eq!(
                fast.live_deadline(name, *kind, sid).unwrap(),
                slow.live_deadline(name, *kind, sid).unwrap(),
                "{name}: the deadline of {kind} #{sid}"
            );
        }
    }
    let feed = |s: &Store| {
        s.changes(0, None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|c| (c.segment, c.subject, c.entered, c.at))
            .collect::<Vec<_>>()
    };
    assert_eq!(feed(&fast), feed(&slow));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_backfill_at_once_equals_one_subject_by_subject(
        steps in prop::collection::vec(step(), 1..40),
    ) {
        backfills_agree(&steps);
    }
}

/// A bulk load's commits decided a segment at once (one evaluation of the
/// store as the commit leaves it) equal the same commits decided subject
/// by subject: the same members and change records, entry events
/// included, after each commit and each sweep (so deadlines that took
/// effect agree); and the members equal a full evaluation. (Commits with
/// profile changes take the subject-by-subject path in both.)
fn bulk_commits_agree(steps: &[Step]) {
    let (_dirs, fast, slow, at_once) = fast_and_slow();
    let answered = || at_once.answered.load(std::sync::atomic::Ordering::Relaxed);
    let mut now = T0;
    let filters = save_segments(&[&fast, &slow]);
    for store in [&fast, &slow] {
        for ((name, kind, _), filter) in SEGMENTS.iter().zip(&filters) {
            store.make_live(name, *kind, filter, now).unwrap();
        }
    }
    // In feed order, except that one commit's records may come segment by
    // segment or subject by subject (stable: a pair's records keep their
    // order).
    let feed = |s: &Store| {
        let mut feed: Vec<_> = s
            .changes(0, None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|c| (c.at, c.segment, c.subject, c.entered, c.cause, c.entry))
            .collect();
        feed.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
        feed
    };
    let agree = |now: i64, what: &str| {
        check(&fast, now, what, None);
        assert_eq!(feed(&fast), feed(&slow), "{what}: the feeds");
        // Deadlines may differ: one subject by subject, a write that cannot
        // change a pair keeps its deadline, which may be earlier than one
        // decided afresh (earlier is allowed). Both must still be ahead.
        for (name, kind, _) in SEGMENTS {
            assert_eq!(
                fast.live_members(name),
                slow.live_members(name),
                "{what}: {name}"
            );
            for sid in 0..fast.view().subject_count(*kind) {
                for store in [&fast, &slow] {
                    let d = store.live_deadline(name, *kind, sid).unwrap();
                    assert!(
                        d.is_none_or(|d| d > now),
                        "{what}: {name}: {kind} #{sid}: {d:?}"
                    );
                }
            }
        }
    };
    // Steps between two clock steps are staged together and committed
    // as one (a load is begun by its first step: an empty load's commit
    // would catch up to the wall clock, when it began).
    let mut loads: Option<(BulkLoad<'_>, BulkLoad<'_>)> = None;
    // Whether the staged steps change profiles (then the commit is decided
    // subject by subject in both stores).
    let mut profiled = false;
    let commit = |(mut a, mut b): (BulkLoad<'_>, BulkLoad<'_>), profiled: bool| {
        let before = answered();
        a.commit().unwrap();
        b.commit().unwrap();
        assert!(
            profiled || answered() > before,
            "a commit without profile changes was not decided at once"
        );
    };
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Advance(minutes, swept) => {
                if let Some(both) = loads.take() {
                    commit(both, std::mem::take(&mut profiled));
                    agree(now, &format!("after the commit before step {n}"));
                }
                now += minutes * MINUTE;
                if *swept {
                    sweep(&fast, now);
                    sweep(&slow, now);
                    agree(now, &format!("after step {n} ({step:?})"));
                }
            }
            Step::MakeLive(_) => {}
            _ => {
                let request = request(step, now);
                let profile = || cohort_store::ProfileChanges {
                    tags: &request.tags,
                    attributes: &request.attributes,
                };
                // A sweep cannot run while a load holds the writer.
                let (a, b) = loads
                    .get_or_insert_with(|| (fast.bulk_load().unwrap(), slow.bulk_load().unwrap()));
                a.append(&request.events, profile(), Some(now), None)
                    .unwrap();
                b.append(&request.events, profile(), Some(now), None)
                    .unwrap();
                profiled |= !profile().is_empty();
            }
        }
    }
    if let Some(both) = loads.take() {
        commit(both, profiled);
    }
    // What fell due since the last clock step without a sweep.
    sweep(&fast, now);
    sweep(&slow, now);
    agree(now, "at the end");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_bulk_commit_decided_at_once_equals_one_subject_by_subject(
        steps in prop::collection::vec(step(), 1..40),
    ) {
        bulk_commits_agree(&steps);
    }
}

/// A store with one live segment, `recent`: a purchase in the last hour.
fn recent_purchasers() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.set_live_hook(Arc::new(LiveEngine::new()));
    let saved = SavedSegment {
        filter: "did(purchase, last 1h)".into(),
        kind: SubjectKind::User,
        description: None,
    };
    store.save_segment("recent", &saved).unwrap();
    store
        .make_live("recent", SubjectKind::User, &saved.filter, T0)
        .unwrap();
    (dir, store)
}

/// Applies a track request received at `at`.
fn track_at(store: &Store, body: &str, at: i64) {
    let request = cohort_event::parse_track_request(body.as_bytes(), Source::Client, at).unwrap();
    let options = AppendOptions {
        received_at: Some(at),
        ..Default::default()
    };
    store.apply(&request, options).unwrap();
}

#[test]
fn a_wave_of_deadlines_is_swept_in_rounds_each_at_its_instant() {
    let (_dir, store) = recent_purchasers();
    // More subjects than one round holds, all leaving at the same instant.
    let n = SWEEP_ROUND * 2 + 7;
    let events: Vec<cohort_event::Event> = (0..n)
        .map(|i| cohort_event::Event {
            subject_kind: SubjectKind::User,
            subject_id: format!("u{i}"),
            event_type: "purchase".into(),
            time: Some(T0),
            data: Vec::new(),
        })
        .collect();
    store
        .append(
            &events,
            AppendOptions {
                received_at: Some(T0),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(store.live_members("recent").unwrap().len(), n as u64);
    let leave = T0 + HOUR + 1;
    // Earlier wakes may come (a candidate where nothing changes), never a
    // later one; sweeping up to just before the exit changes nothing.
    assert!(store.next_deadline().unwrap().is_some_and(|t| t <= leave));
    sweep(&store, leave - 1);
    assert_eq!(store.live_members("recent").unwrap().len(), n as u64);
    assert_eq!(store.next_deadline().unwrap(), Some(leave));
    // One round at a time: the rest waits, and writes may go between.
    let r = store.sweep(leave, 1).unwrap();
    assert_eq!(
        (r.decided, r.changes, r.more),
        (SWEEP_ROUND, SWEEP_ROUND, true)
    );
    sweep(&store, leave);
    assert!(store.live_members("recent").unwrap().is_empty());
    let changes = store.changes(0, Some("recent"), usize::MAX).unwrap();
    assert_eq!(changes.len(), 2 * n);
    assert!(changes[n..].iter().all(|c| !c.entered && c.at == leave));
    assert_eq!(store.next_deadline().unwrap(), None);
}

#[test]
fn deleting_a_user_takes_them_out_of_live_segments_and_the_feed() {
    let (_dir, store) = recent_purchasers();
    let body = format!(
        r#"{{"events":[{{"subjectType":"user","subjectId":"gone","type":"purchase","createdAt":{T0},"data":{{"secret":"s3cr3t"}}}},{{"subjectType":"user","subjectId":"stays","type":"purchase","createdAt":{T0}}}]}}"#
    );
    track_at(&store, &body, T0);
    assert_eq!(store.live_members("recent").unwrap().len(), 2);
    store.delete_user("gone").unwrap().unwrap();
    assert_eq!(store.live_members("recent").unwrap().len(), 1);
    let feed = store.changes(0, None, usize::MAX).unwrap();
    assert_eq!(feed.len(), 1, "only the user who stays: {feed:?}");
    assert_eq!(feed[0].subject, "stays");
    // Their deadline went too: time passing records only the other exit.
    sweep(&store, T0 + 2 * HOUR);
    let feed = store.changes(0, None, usize::MAX).unwrap();
    assert_eq!(feed.len(), 2);
    assert_eq!(
        (feed[1].subject.as_str(), feed[1].entered),
        ("stays", false)
    );
    check(&store, T0 + 2 * HOUR, "after the deletion", None);
}

#[test]
fn a_save_cut_short_before_its_refresh_is_decided_again_on_open() {
    let (_dir, store) = recent_purchasers();
    let body = format!(
        r#"{{"events":[{{"subjectType":"user","subjectId":"a","type":"purchase","createdAt":{T0}}},{{"subjectType":"user","subjectId":"b","type":"view","createdAt":{T0}}}]}}"#
    );
    let request = cohort_event::parse_track_request(body.as_bytes(), Source::Client, T0).unwrap();
    let options = AppendOptions {
        received_at: Some(T0),
        ..Default::default()
    };
    store.apply(&request, options).unwrap();
    assert_eq!(store.live_members("recent").unwrap().len(), 1);
    // The application marks it, saves the new filter, then crashes before
    // the refresh: the definition still holds the old filter.
    store.mark_live_unready(&["recent".to_owned()]).unwrap();
    let saved = SavedSegment {
        filter: "did(view, last 1h)".into(),
        kind: SubjectKind::User,
        description: None,
    };
    store.save_segment("recent", &saved).unwrap();
    assert_eq!(store.finish_backfills(T0 + MINUTE).unwrap(), 1);
    let (_, def) = &store.live_segments()[0];
    assert_eq!(
        (def.filter.as_str(), def.ready),
        ("did(view, last 1h)", true)
    );
    check(&store, T0 + MINUTE, "after the refresh", None);
    let members = store.live_members("recent").unwrap();
    let b = store
        .view()
        .subject_dense_id(SubjectKind::User, "b")
        .unwrap();
    assert_eq!(members.iter().collect::<Vec<_>>(), [b]);
}

#[test]
fn a_write_after_an_unswept_deadline_records_the_exit_at_its_instant() {
    let (_dir, store) = recent_purchasers();
    let write = |at: i64, id: &str, ty: &str| {
        let body = format!(
            r#"{{"events":[{{"subjectType":"user","subjectId":"{id}","type":"{ty}","createdAt":{at}}}]}}"#
        );
        track_at(&store, &body, at);
    };
    write(T0, "a", "purchase");
    write(T0, "b", "purchase");
    // Two hours on, nobody swept; a's next event is a purchase again.
    write(T0 + 2 * HOUR, "a", "purchase");
    let seen = |id: &str| -> Vec<(bool, i64, cohort_store::Cause)> {
        let feed = store.changes(0, None, usize::MAX).unwrap();
        feed.iter()
            .filter(|c| c.subject == id)
            .map(|c| (c.entered, c.at, c.cause))
            .collect()
    };
    use cohort_store::Cause::{Time, Write};
    assert_eq!(
        seen("a"),
        [
            (true, T0, Write),
            (false, T0 + HOUR + 1, Time),
            (true, T0 + 2 * HOUR, Write)
        ]
    );
    // The write did not wait to sweep b, whom it does not touch: the
    // sweep records b's exit, at its own instant.
    assert_eq!(seen("b"), [(true, T0, Write)]);
    sweep(&store, T0 + 2 * HOUR);
    assert_eq!(seen("b"), [(true, T0, Write), (false, T0 + HOUR + 1, Time)]);
    check(&store, T0 + 2 * HOUR, "after the second write", None);
}

/// A hook that fails every decision by panicking.
struct Panics;

impl LiveHook for Panics {
    fn decide(
        &self,
        _: &LiveContext<'_, '_>,
        _: &[LivePair],
    ) -> Result<Vec<Option<Verdict>>, StoreError> {
        panic!("a hook that panics");
    }
}

#[test]
fn a_sweep_round_that_panics_leaves_its_deadlines_to_the_next_sweep() {
    let (_dir, store) = recent_purchasers();
    let body = r#"{"events":[{"subjectType":"user","subjectId":"a","type":"purchase"}]}"#;
    track_at(&store, body, T0);
    assert_eq!(store.live_members("recent").unwrap().len(), 1);
    // The round due at T0 + 1 h + 1 ms panics halfway.
    store.set_live_hook(Arc::new(Panics));
    let later = T0 + 2 * HOUR;
    let swept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.sweep(later, 4)));
    assert!(swept.is_err(), "the hook panics");
    // The next sweep still finds the deadline: a's exit is recorded at
    // its instant.
    store.set_live_hook(Arc::new(LiveEngine::new()));
    sweep(&store, later);
    assert_eq!(store.live_members("recent").unwrap().len(), 0);
    let exits: Vec<i64> = store
        .changes(0, None, usize::MAX)
        .unwrap()
        .iter()
        .filter(|c| !c.entered)
        .map(|c| c.at)
        .collect();
    assert_eq!(exits, [T0 + HOUR + 1]);
    check(&store, later, "after the panic and the sweep", None);
}
