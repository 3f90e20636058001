//! When a filter's answer for one subject can next change by time alone.
//!
//! A filter reads `now` in a few ways only, each a comparison of `now`
//! (plus or minus a constant) with an instant the subject's history holds:
//!
//! - the now rule: an event or profile change counts from its time `t` on;
//! - windows and `now ± D`: `t ≥ now − D` holds until `now = t + D`, and
//!   `t < now + D` from `now = t − D + 1`; in general a comparison of an
//!   instant `x` with `now + s` flips at `x − s` or `x − s + 1`, and a
//!   window's bound (inclusive, a `between`'s end exclusive) at just one
//!   of them, known from its form: only that one is a candidate (an event
//!   now does not wake its segments a millisecond later for nothing);
//! - time literals compared with time values (or numbers, read as Unix ms)
//!   in events' data and in tags: the same, with `x` the value;
//! - `age` and `birthday`: the calendar date of `now` in the user's zone,
//!   which matters only on the local midnights where either changes.
//!
//! So the answer is constant between consecutive candidates
//! `x − s` / `x − s + 1` over every instant `x` of the history and every
//! shift `s` of the filter (0 included), and the calendar midnights: the
//! next change is at the least candidate after `now`, or later. Waking at a
//! candidate where nothing changes costs one decision, never a wrong answer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, Offset, TimeZone};
use cohort_event::Attribute;
use cohort_filter::{
    Condition, EventSel, Expr, Literal, Measure, Predicate, ProfilePath, Selection, Sign, Test,
    TimeExpr, Window,
};
use cohort_store::{bucket_of, EventRecord, Profile, StoreError, SubjectKind, Value, View};
use rayon::prelude::*;

use crate::profile::Birth;
use crate::segments::Resolved;

/// Which of a shift's two candidates a filter needs: `x − s` (a
/// comparison that turns at `now + s = x`, like `t ≤ now + s`) and
/// `x − s + 1` (one that turns just after, like `t ≥ now + s` or
/// `t < now + s`).
#[derive(Debug, Clone, Copy, Default)]
struct Edges {
    at: bool,
    after: bool,
}

const AT: Edges = Edges {
    at: true,
    after: false,
};
const AFTER: Edges = Edges {
    at: false,
    after: true,
};
const BOTH: Edges = Edges {
    at: true,
    after: true,
};

/// What of `now` one filter (with every segment it reaches) reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    /// Every `s` of a `now + s` the filter compares with (0 always, for
    /// the now rule), with the candidates each needs: a window's bounds
    /// are inclusive and a `between`'s end exclusive, so each bound needs
    /// only one of the two; other comparisons take both.
    shifts: BTreeMap<i64, Edges>,
    /// The event types whose times are compared with shifted instants;
    /// `None`: every type (`*`).
    types: Option<BTreeSet<String>>,
    /// Whether a time literal relative to `now` is compared with values.
    value_times: bool,
    /// Whether `age` or `birthday` is read.
    calendar: bool,
}

impl Clock {
    /// The clock of `root` and every segment `resolved` reaches from it.
    pub fn of(root: &Expr, resolved: &Resolved) -> Clock {
        let mut clock = Clock {
            // The now rule: an event counts from its time on (`t ≤ now`).
            shifts: BTreeMap::from([(0, AT)]),
            types: Some(BTreeSet::new()),
            ..Default::default()
        };
        clock.expr(root);
        for (_, expr) in &resolved.segments {
            clock.expr(expr);
        }
        clock
    }

    /// The event types the filter selects (`None`: any).
    pub fn types(&self) -> Option<&BTreeSet<String>> {
        self.types.as_ref()
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Or(v) | Expr::And(v) => v.iter().for_each(|e| self.expr(e)),
            Expr::Not(e) => self.expr(e),
            Expr::Cond(c) => self.condition(c),
        }
    }

    fn condition(&mut self, c: &Condition) {
        match c {
            Condition::Did { selection, window } => {
                self.selection(selection);
                self.window(window.as_ref());
            }
            Condition::Measure { measure, .. } => match measure {
                Measure::Count { selection, window } | Measure::Days { selection, window } => {
                    self.selection(selection);
                    self.window(window.as_ref());
                }
                Measure::Aggregate {
                    selection, window, ..
                } => {
                    self.selection(selection);
                    self.window(window.as_ref());
                }
            },
            Condition::Moment {
                selection,
                window,
                value,
                ..
            } => {
                self.selection(selection);
                self.window(window.as_ref());
                self.time(value, BOTH);
            }
            Condition::Seq { steps, window, .. } => {
                steps.iter().for_each(|s| self.selection(s));
                self.window(window.as_ref());
            }
            // The referenced filter is visited as one of `resolved`'s.
            Condition::InSegment(_) => {}
            Condition::Profile(test) => {
                if matches!(test.path(), ProfilePath::Age) {
                    self.calendar = true;
                }
                self.test(test);
            }
            Condition::Birthday => self.calendar = true,
        }
    }

    fn selection(&mut self, s: &Selection) {
        match &s.event {
            EventSel::Any => self.types = None,
            EventSel::Named(name) => {
                if let Some(types) = &mut self.types {
                    types.insert(name.clone());
                }
            }
        }
        if let Some(p) = &s.predicate {
            self.predicate(p);
        }
    }

    fn predicate(&mut self, p: &Predicate) {
        match p {
            Predicate::Or(v) | Predicate::And(v) => v.iter().for_each(|p| self.predicate(p)),
            Predicate::Not(p) => self.predicate(p),
            Predicate::Test(t) => self.test(t),
        }
    }

    fn test<P>(&mut self, t: &Test<P>) {
        let literals: &[Literal] = match t {
            Test::Compare { literal, .. } => std::slice::from_ref(literal),
            Test::In { literals, .. } => literals,
            _ => &[],
        };
        for l in literals {
            if let Literal::Time(at) = l {
                if matches!(at, TimeExpr::Now(_)) {
                    self.value_times = true;
                }
                self.time(at, BOTH);
            }
        }
    }

    /// A window's bounds (`window.rs`): `lo ≤ t` leaves just after
    /// `now + s = t`; `t ≤ now` (every window's end) comes at `now = t`;
    /// a `between`'s end `t < now + s` comes just after `now + s = t`.
    fn window(&mut self, w: Option<&Window>) {
        match w {
            None => {}
            Some(Window::Last(d)) => self.shift(d.millis().saturating_neg(), AFTER),
            Some(Window::Since(t)) => self.time(t, AFTER),
            Some(Window::Between(a, b)) => {
                self.time(a, AFTER);
                self.time(b, AFTER);
            }
        }
    }

    fn time(&mut self, t: &TimeExpr, edges: Edges) {
        if let TimeExpr::Now(shift) = t {
            let s = match shift {
                None => 0,
                Some((Sign::Plus, d)) => d.millis(),
                Some((Sign::Minus, d)) => d.millis().saturating_neg(),
            };
            self.shift(s, edges);
        }
    }

    fn shift(&mut self, s: i64, edges: Edges) {
        let e = self.shifts.entry(s).or_default();
        e.at |= edges.at;
        e.after |= edges.after;
    }

    /// The least instant after `now` at which the answer for a subject
    /// with this history may change, if any.
    pub fn next_change(&self, events: &[EventRecord], profile: &Profile, now: i64) -> Option<i64> {
        let mut next = Next { now, best: None };
        for e in events {
            // Every event enters the universe at its time.
            next.at(e.time);
            let selected = self
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&e.event_type));
            if selected {
                self.shifted(&mut next, e.time);
            }
            if self.value_times {
                for (_, v) in &e.data {
                    self.value(&mut next, v);
                }
            }
        }
        self.profile(&mut next, profile);
        next.best
    }

    /// [`Clock::next_change`] from a subject's [`Timeline`] (made once for
    /// all its segments): per shift and type, one binary search for the
    /// first event whose candidate is after `now` — candidates grow with
    /// the event's time — instead of a pass over every event. Filters
    /// comparing time values in data with `now` take the pass.
    pub fn next_change_in(
        &self,
        timeline: &Timeline,
        events: &[EventRecord],
        profile: &Profile,
        now: i64,
    ) -> Option<i64> {
        if self.value_times {
            return self.next_change(events, profile, now);
        }
        let mut next = Next { now, best: None };
        // The first event after `now` enters the universe then.
        if let Some(&x) = first_after(&timeline.all, now) {
            next.at(x);
        }
        let lists: Vec<&[i64]> = match &self.types {
            None => vec![&timeline.all],
            Some(types) => types.iter().filter_map(|t| timeline.of_type(t)).collect(),
        };
        for (&s, e) in &self.shifts {
            let edge = now.saturating_add(s);
            for list in &lists {
                // `x − s > now`: the first x past `now + s`.
                if e.at {
                    if let Some(&x) = first_after(list, edge) {
                        next.at(x.saturating_sub(s));
                    }
                }
                // `x − s + 1 > now`: the first x at or past `now + s`.
                if e.after {
                    if let Some(&x) = first_after(list, edge.saturating_sub(1)) {
                        next.at(x.saturating_sub(s).saturating_add(1));
                    }
                }
            }
        }
        self.profile(&mut next, profile);
        next.best
    }

    /// The candidates of a subject's tags and attributes.
    fn profile(&self, next: &mut Next, profile: &Profile) {
        let histories = profile.tags.values().chain(profile.attributes.values());
        for history in histories {
            for change in history {
                next.at(change.time);
                if self.value_times {
                    if let Some(v) = &change.value {
                        self.value(next, v);
                    }
                }
            }
        }
        if self.calendar {
            if let Some(at) = next_calendar_change(profile, next.now) {
                next.at(at);
                next.at(at.saturating_add(1));
            }
        }
    }

    /// [`Clock::next_change`] for every subject of `kind` at once, from a
    /// scan of the event blocks instead of each history: the candidates
    /// of an event at `x` are all at or before `now` unless
    /// `x ≥ now + min shift` (a type the filter selects) or `x > now`
    /// (any other: it enters the universe then), so only the blocks of
    /// those weeks are read, and of them only subjects and times; tags
    /// and attributes are read for the subjects that have any. `None`
    /// when the filter compares time values with `now` (those are in the
    /// events' data: decide subject by subject).
    pub fn deadlines(
        &self,
        view: &View<'_>,
        kind: SubjectKind,
        now: i64,
        profile_of: impl Fn(u32) -> Result<Profile, StoreError> + Sync,
    ) -> Result<Option<BTreeMap<u32, i64>>, StoreError> {
        if self.value_times {
            return Ok(None);
        }
        let facts = view.facts(kind);
        let mut best = vec![i64::MAX; facts.len()];
        let min_shift = self.shifts.keys().next().copied().unwrap_or(0).min(0);
        for type_id in view.type_ids() {
            let selected = match (&self.types, view.type_name(type_id)) {
                (None, _) => true,
                (Some(types), Some(name)) => types.contains(&name),
                (Some(_), None) => false,
            };
            let lo = if selected {
                now.saturating_add(min_shift)
            } else {
                now.saturating_add(1)
            };
            let blocks = view.blocks_with_columns(
                kind,
                type_id,
                bucket_of(lo)..=bucket_of(i64::MAX),
                Some(&[]),
            )?;
            for block in blocks {
                for (&sid, &x) in block.subjects().iter().zip(block.times()) {
                    if x < lo {
                        continue;
                    }
                    let mut next = Next { now, best: None };
                    if selected {
                        self.shifted(&mut next, x);
                    } else {
                        next.at(x);
                    }
                    let slot = best.get_mut(sid as usize).ok_or_else(|| {
                        StoreError::Corrupt(format!("a block names {kind} #{sid}, unknown"))
                    })?;
                    if let Some(t) = next.best {
                        *slot = (*slot).min(t);
                    }
                }
            }
        }
        let with_profile: Vec<u32> = facts
            .iter()
            .enumerate()
            .filter(|(_, f)| f.profile_first != i64::MAX)
            .map(|(sid, _)| sid as u32)
            .collect();
        let from_profiles: Vec<(u32, i64)> = with_profile
            .par_iter()
            .map(|&sid| {
                let mut next = Next { now, best: None };
                self.profile(&mut next, &profile_of(sid)?);
                Ok(next.best.map(|t| (sid, t)))
            })
            .filter_map(Result::transpose)
            .collect::<Result<_, StoreError>>()?;
        for (sid, t) in from_profiles {
            best[sid as usize] = best[sid as usize].min(t);
        }
        Ok(Some(
            best.into_iter()
                .enumerate()
                .filter(|&(_, t)| t != i64::MAX)
                .map(|(sid, t)| (sid as u32, t))
                .collect(),
        ))
    }

    fn shifted(&self, next: &mut Next, x: i64) {
        for (&s, e) in &self.shifts {
            let at = x.saturating_sub(s);
            if e.at {
                next.at(at);
            }
            if e.after {
                next.at(at.saturating_add(1));
            }
        }
    }

    fn value(&self, next: &mut Next, v: &Value) {
        match v {
            Value::Time(t) => self.shifted(next, t.millis),
            Value::Number(x) if x.is_finite() && x.abs() < 9.0e18 => {
                // Compared as floats with `now + s`: the flip lies between
                // the integers around `x`.
                let floor = x.floor() as i64;
                self.shifted(next, floor);
                self.shifted(next, floor.saturating_add(1));
            }
            _ => {}
        }
    }
}

/// A subject's event times, sorted, all and by type: what
/// [`Clock::next_change_in`] searches.
#[derive(Debug, Default)]
pub(crate) struct Timeline<'e> {
    all: Vec<i64>,
    /// Per event type: a history usually holds few types, so a list
    /// searched from its last hit beats hashing every event's type; past
    /// [`FEW_TYPES`] a map finds them. Names are told apart by their
    /// [`Print`] (no call to compare bytes for each event).
    by_type: Vec<(Print, &'e str, Vec<i64>)>,
    many: std::collections::HashMap<&'e str, usize>,
}

/// Types a [`Timeline`] finds by a search of its list.
const FEW_TYPES: usize = 16;

/// A name's length and its first and last eight bytes: the whole name
/// when it has at most 16 bytes (then equal prints are equal names);
/// longer names with equal prints are compared in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Print {
    len: usize,
    head: u64,
    tail: u64,
}

impl Print {
    fn of(name: &str) -> Print {
        let b = name.as_bytes();
        let n = b.len();
        let word = |s: &[u8]| -> u64 {
            match <[u8; 8]>::try_from(s) {
                Ok(w) => u64::from_le_bytes(w),
                Err(_) => s.iter().rev().fold(0, |w, &x| (w << 8) | u64::from(x)),
            }
        };
        Print {
            len: n,
            head: word(&b[..n.min(8)]),
            tail: word(&b[n.saturating_sub(8)..]),
        }
    }

    /// Whether `name`, whose print this is, is `other` (print `p`).
    fn same(self, name: &str, p: Print, other: &str) -> bool {
        self == p && (self.len <= 16 || name == other)
    }
}

impl<'e> Timeline<'e> {
    /// The timeline of `events` (any order).
    pub fn of(events: &'e [EventRecord]) -> Timeline<'e> {
        let mut t = Timeline {
            all: Vec::with_capacity(events.len()),
            ..Timeline::default()
        };
        let mut last = 0;
        for e in events {
            t.all.push(e.time);
            let name = e.event_type.as_str();
            let print = Print::of(name);
            if t.by_type
                .get(last)
                .is_none_or(|&(p, n, _)| !print.same(name, p, n))
            {
                last = match t.position_of(name, print) {
                    Some(i) => i,
                    None => {
                        t.by_type.push((print, name, Vec::new()));
                        let i = t.by_type.len() - 1;
                        if t.by_type.len() > FEW_TYPES {
                            if t.many.is_empty() {
                                t.many = t
                                    .by_type
                                    .iter()
                                    .enumerate()
                                    .map(|(i, &(_, n, _))| (n, i))
                                    .collect();
                            }
                            t.many.insert(name, i);
                        }
                        i
                    }
                };
            }
            t.by_type[last].2.push(e.time);
        }
        t.all.sort_unstable();
        t.by_type.iter_mut().for_each(|(_, _, v)| v.sort_unstable());
        t
    }

    fn position_of(&self, name: &str, print: Print) -> Option<usize> {
        if self.by_type.len() > FEW_TYPES {
            self.many.get(name).copied()
        } else {
            self.by_type
                .iter()
                .position(|&(p, n, _)| print.same(name, p, n))
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.position_of(name, Print::of(name))
    }

    /// Whether the history holds an event of type `name`.
    pub fn has_type(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The sorted times of one type's events, if any.
    fn of_type(&self, name: &str) -> Option<&[i64]> {
        self.position(name).map(|i| self.by_type[i].2.as_slice())
    }
}

/// The first time in `sorted` after `t`.
fn first_after(sorted: &[i64], t: i64) -> Option<&i64> {
    sorted.get(sorted.partition_point(|&x| x <= t))
}

/// The least candidate after `now`.
struct Next {
    now: i64,
    best: Option<i64>,
}

impl Next {
    fn at(&mut self, t: i64) {
        if t > self.now && self.best.is_none_or(|b| t < b) {
            self.best = Some(t);
        }
    }
}

/// The first local midnight after `now` at which the user's `age` or
/// `birthday` differs from what it is at `now` (their zone as of `now`:
/// a change of zone is a profile change, a candidate of its own).
fn next_calendar_change(profile: &Profile, now: i64) -> Option<i64> {
    let attribute = |a: Attribute| -> Option<&str> {
        match Profile::value_at(profile.attributes.get(&a)?, now)? {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    };
    let birth = Birth {
        dob: attribute(Attribute::Dob),
        time_zone: attribute(Attribute::TimeZone),
    };
    birth.dob?;
    let today = Birth::today_in(birth.time_zone, now)?;
    let then = (birth.age_on(today), birth.is_birthday_on(today));
    // Within a year and a day both have changed (a birthday comes round,
    // and leaves the day after).
    let mut day = today;
    for _ in 0..=367 {
        day = day.succ_opt()?;
        if (birth.age_on(day), birth.is_birthday_on(day)) != then {
            return local_midnight(birth.time_zone, day, now);
        }
    }
    None
}

/// An instant after `now` no later than the first at which the date in
/// `zone` is `day`: local midnight in the UTC offset in force on the day
/// before or on the day, whichever comes first after `now`. Where a
/// transition moves midnight, the earlier of the two may come an hour
/// early: the wake-up there finds nothing changed, and the next candidate
/// is the right one — never late.
fn local_midnight(zone: Option<&str>, day: NaiveDate, now: i64) -> Option<i64> {
    let tz = zone
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::UTC);
    let midnight = day.and_hms_opt(0, 0, 0)?;
    let naive_ms = midnight.and_utc().timestamp_millis();
    let offset_on = |d: NaiveDate| -> Option<i64> {
        let noon = d.and_hms_opt(12, 0, 0)?;
        let at = tz.from_local_datetime(&noon).earliest()?;
        Some(i64::from(at.offset().fix().local_minus_utc()) * 1000)
    };
    let mut candidates: Vec<i64> = [offset_on(day.pred_opt()?), offset_on(day)]
        .into_iter()
        .flatten()
        .map(|off| naive_ms - off)
        .filter(|&t| t > now)
        .collect();
    candidates.sort_unstable();
    candidates.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_store::ProfileEntry;

    fn profile(dob: &str, zone: &str) -> Profile {
        let entry = |v: &str| {
            vec![ProfileEntry {
                time: 0,
                seq: 0,
                value: Some(Value::String(v.into())),
            }]
        };
        let mut p = Profile::default();
        p.attributes.insert(Attribute::Dob, entry(dob));
        p.attributes.insert(Attribute::TimeZone, entry(zone));
        p
    }

    fn at(s: &str) -> i64 {
        cohort_store::parse_rfc3339(s).unwrap().millis
    }

    fn clock(filter: &str) -> Clock {
        let expr = cohort_filter::parse(filter).unwrap();
        let resolved =
            crate::segments::resolve(std::slice::from_ref(&expr), &crate::segments::NoSegments)
                .unwrap();
        Clock::of(&expr, &resolved)
    }

    fn event(ty: &str, time: i64) -> EventRecord {
        EventRecord {
            subject_kind: SubjectKind::User,
            subject_id: String::new(),
            event_type: ty.into(),
            time,
            seq: 0,
            data: Vec::new(),
        }
    }

    #[test]
    fn searching_the_timeline_finds_what_a_pass_over_every_event_finds() {
        let filters = [
            "did(purchase, last 1d)",
            "count(purchase, last 2d) >= 2 and not did(app_open, last 3h)",
            "did(purchase, between now - 2d and now - 1d)",
            "first(purchase) >= now - 2d",
            "last(app_open) < now - 6h",
            "did(*, between 2026-06-02 and now + 1d)",
            "seq(app_open -> purchase, within 6h, last 2d)",
            "did(view, since now - 30m)",
        ];
        let t0 = at("2026-06-01T00:00:00Z");
        let hour = 3_600_000;
        // A fixed spread of whole hours around t0, of three types, out of
        // order; instants every half hour, so that `now + s` often falls
        // right on an event (where `x − s` and `x − s + 1` differ). Every
        // fourth event of one of 20 other types: longer prefixes hold more
        // types than the timeline searches in a list.
        let mut events = Vec::new();
        let mut x: i64 = 12345;
        for i in 0..80 {
            x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
            let time = t0 + (x % 96) * hour - 48 * hour;
            let ty = match i % 4 {
                3 => format!("other{}", (i / 4) % 20),
                _ => ["purchase", "app_open", "view"][i % 3].to_owned(),
            };
            events.push(event(&ty, time));
        }
        let none = Profile::default();
        for f in filters {
            let c = clock(f);
            for n in 0..200 {
                let now = t0 - 50 * hour + n * hour / 2 + [0, 1, -1][n as usize % 3];
                let some = &events[..(n as usize % events.len()) + 1];
                assert_eq!(
                    c.next_change_in(&Timeline::of(some), some, &none, now),
                    c.next_change(some, &none, now),
                    "{f} at {now}"
                );
            }
        }
    }

    #[test]
    fn a_window_wakes_only_when_an_event_leaves_it() {
        let now = at("2026-06-01T00:00:00Z");
        let day = 86_400_000;
        let events = [event("purchase", now)];
        let none = Profile::default();
        // Not a millisecond after the event (it counts from `now` on), but
        // the first instant it is out of the window.
        let window = clock("did(purchase, last 1d)");
        assert_eq!(window.next_change(&events, &none, now), Some(now + day + 1));
        let between = clock("did(purchase, between now - 2d and now - 1d)");
        assert_eq!(
            between.next_change(&events, &none, now),
            Some(now + day + 1)
        );
        // A strict comparison with `now` itself turns a millisecond on.
        let strict = clock("last(purchase) < now");
        assert_eq!(strict.next_change(&events, &none, now), Some(now + 1));
    }

    #[test]
    fn a_birthday_comes_at_local_midnight_and_leaves_the_next() {
        let p = profile("1990-06-15", "Asia/Seoul");
        let now = at("2026-06-01T00:00:00Z");
        assert_eq!(
            next_calendar_change(&p, now),
            Some(at("2026-06-15T00:00:00+09:00"))
        );
        let on = at("2026-06-15T00:00:00+09:00");
        assert_eq!(
            next_calendar_change(&p, on),
            Some(at("2026-06-16T00:00:00+09:00"))
        );
    }

    #[test]
    fn a_29_february_birthday_falls_on_28_february() {
        let p = profile("2000-02-29", "UTC");
        let now = at("2027-01-01T00:00:00Z");
        assert_eq!(
            next_calendar_change(&p, now),
            Some(at("2027-02-28T00:00:00Z"))
        );
    }

    #[test]
    fn midnight_skipped_by_a_transition_is_reached_never_late() {
        // America/Santiago moved clocks from 24:00 to 01:00 on 2022-09-11.
        let day = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        let tz: chrono_tz::Tz = "America/Santiago".parse().unwrap();
        let date = |t: i64| tz.timestamp_millis_opt(t).unwrap().date_naive();
        let mut t = local_midnight(Some("America/Santiago"), day, 0).unwrap();
        let mut wakes = 1;
        while date(t) != day {
            assert!(date(t) < day, "late");
            t = local_midnight(Some("America/Santiago"), day, t).unwrap();
            wakes += 1;
        }
        assert!(wakes <= 2);
        assert!(date(t - 1) < day, "the first instant of the day");
    }

    #[test]
    fn prints_tell_names_apart_exactly() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "search",
            "signup",
            "app_open",
            "purchase",
            "view_item",
            "add_to_cart",
            "@first_session",
            "0123456789abcdef",
            "0123456789abcdeF",
            "X123456789abcdef",
            // Longer than 16 bytes: the same ends, a different middle.
            "checkout_step_one_done",
            "checkout_step_two_done",
            "einkaufswagen_überprüft",
            "a\0",
            "a\0\0",
        ];
        for a in names {
            for b in names {
                let same = Print::of(a).same(a, Print::of(b), b);
                assert_eq!(same, a == b, "{a:?} vs {b:?}");
            }
        }
        let events: Vec<EventRecord> = names.iter().map(|n| event(n, 1)).collect();
        let timeline = Timeline::of(&events);
        for n in names {
            assert_eq!(timeline.of_type(n), Some(&[1][..]), "{n:?}");
        }
        assert!(!timeline.has_type("checkout_step_six_done"));
    }
}
