//! Live segments: the store's [`LiveHook`]. Writes and time are decided
//! one subject at a time (below); backfills and bulk commits a whole
//! segment at once ([`LiveHook::decide_all`]: the fast evaluator and
//! one scan of the blocks for deadlines).
//!
//! For each (segment, subject) the store asks about, the subject's whole
//! history (as the write being sealed leaves it) is read once and given to
//! the reference evaluator at the pair's instant — the same code that is
//! the oracle of every other test — and [`Clock`] says when the answer can
//! next change by time alone. Deciding from the whole history is what
//! makes every condition kind live and exact, late events included: no
//! per-condition state can drift from what a full evaluation would say.
//! Its cost is one pass over the subject's events per write that touches
//! it — read from the log, or from the store's cache of decoded histories
//! when an earlier write left it there (see ARCHITECTURE.md, "Live
//! segments"). A write asks only about the pairs it can change
//! ([`LiveHook::triggers`]: one of its events for the subject is of a
//! type the filter selects, or the subject is new to the universe, or
//! its profile changes); a pair whose filter needs a type the subject has
//! never had is answered "unchanged" from the subject's timeline.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use cohort_filter::{parse, Expr};
use cohort_store::{
    AllVerdicts, Cause, EventRecord, LiveContext, LiveHook, LivePair, StoreError, Verdict,
};
use rayon::prelude::*;

use crate::clock::{Clock, Timeline};
use crate::evaluate::{evaluate, EvalOptions};
use crate::executor::Executor;
use crate::needs::{misses, needed_types};
use crate::reference::{evaluate_in_order, Subject};
use crate::segments::{resolve, Resolved, StoreSegments};

/// Subjects decided one after another below this; in parallel above.
const PARALLEL_SUBJECTS: usize = 64;

/// Decides live memberships for a store; install it with
/// [`cohort_store::Store::set_live_hook`].
#[derive(Default)]
pub struct LiveEngine {
    compiled: Mutex<HashMap<u32, Arc<Compiled>>>,
}

/// One live segment's filter, parsed and resolved, with its clock.
struct Compiled {
    filter: String,
    generation: u64,
    expr: Expr,
    resolved: Resolved,
    clock: Clock,
    /// The event types the filter cannot hold without (`needs.rs`).
    needs: Vec<BTreeSet<String>>,
}

impl LiveEngine {
    /// An engine with nothing compiled yet.
    pub fn new() -> LiveEngine {
        LiveEngine::default()
    }

    /// The segment's filter, compiled once per text and per state of the
    /// saved segments it may reach.
    fn compiled(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
    ) -> Result<Arc<Compiled>, StoreError> {
        let def = ctx
            .def(segment)
            .ok_or_else(|| StoreError::Live(format!("no live segment #{segment}")))?;
        let generation = ctx.store().segments_generation();
        let mut cache = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&segment) {
            if c.filter == def.filter && c.generation == generation {
                return Ok(c.clone());
            }
        }
        let bad = |e: String| StoreError::Live(format!("segment {:?}: {e}", def.name));
        let expr = parse(&def.filter).map_err(|e| bad(e.to_string()))?;
        let resolved = resolve(
            std::slice::from_ref(&expr),
            &StoreSegments::new(ctx.store()),
        )
        .map_err(|e| bad(e.to_string()))?;
        let clock = Clock::of(&expr, &resolved);
        let c = Arc::new(Compiled {
            filter: def.filter.clone(),
            generation,
            needs: needed_types(&expr),
            expr,
            resolved,
            clock,
        });
        cache.insert(segment, c.clone());
        Ok(c)
    }
}

impl LiveHook for LiveEngine {
    fn decide(
        &self,
        ctx: &LiveContext<'_, '_>,
        pairs: &[LivePair],
    ) -> Result<Vec<Option<Verdict>>, StoreError> {
        let mut compiled = HashMap::new();
        for p in pairs {
            if let std::collections::hash_map::Entry::Vacant(slot) = compiled.entry(p.segment) {
                slot.insert(self.compiled(ctx, p.segment)?);
            }
        }
        // Each subject's history is read once for all its pairs (a write
        // asks about its pairs subject by subject: the sort finds them in
        // order).
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by_key(|&i| (pairs[i].kind.tag(), pairs[i].subject));
        let groups: Vec<&[usize]> = order
            .chunk_by(|&a, &b| {
                (pairs[a].kind, pairs[a].subject) == (pairs[b].kind, pairs[b].subject)
            })
            .collect();
        let decide_group = |group: &&[usize]| -> Result<Vec<(usize, Option<Verdict>)>, StoreError> {
            let first = pairs[group[0]];
            let (kind, sid) = (first.kind, first.subject);
            let events = ctx.events(kind, sid)?;
            let profile = ctx.profile(kind, sid)?;
            let events: &[EventRecord] = &events;
            let timeline = Timeline::of(events);
            let subject = Subject {
                events,
                profile: &profile,
            };
            // Decoded again only for an entry to credit.
            let mut new_events: Option<Vec<EventRecord>> = None;
            group
                .iter()
                .map(|&i| {
                    let p = pairs[i];
                    let c = &compiled[&p.segment];
                    // Without an event the filter needs (in its whole
                    // history, this write's events included), the
                    // subject was out at every instant and stays out
                    // until a write brings one: unchanged. Its bit is
                    // off, and a deadline it has, from the clock's
                    // rule, is at worst early (allowed). For a write
                    // only: a backfill's deadlines follow that rule.
                    if ctx.cause() == Cause::Write && misses(&c.needs, |t| timeline.has_type(t)) {
                        return Ok((i, None));
                    }
                    let member = evaluate_in_order(&c.expr, &c.resolved, subject, p.at);
                    let next = c.clock.next_change_in(&timeline, events, &profile, p.at);
                    let entry = if member {
                        let new_events = match (&mut new_events, ctx.cause()) {
                            (Some(v), _) => v,
                            (slot, Cause::Write) => slot.insert(ctx.new_events(kind, sid)?),
                            (slot, _) => slot.insert(Vec::new()),
                        };
                        entry_event(ctx.cause(), new_events, events, c.clock.types(), p.at)
                            .map(Box::new)
                    } else {
                        None
                    };
                    Ok((
                        i,
                        Some(Verdict {
                            member,
                            next,
                            entry,
                        }),
                    ))
                })
                .collect()
        };
        let decided: Vec<Vec<(usize, Option<Verdict>)>> = if groups.len() >= PARALLEL_SUBJECTS {
            groups
                .par_iter()
                .map(decide_group)
                .collect::<Result<_, _>>()?
        } else {
            groups.iter().map(decide_group).collect::<Result<_, _>>()?
        };
        let mut out: Vec<Option<Verdict>> = vec![None; pairs.len()];
        for (i, v) in decided.into_iter().flatten() {
            out[i] = v;
        }
        Ok(out)
    }

    /// The types the filter selects ([`Clock::types`]): a write of other
    /// types to a subject already in the universe, with no profile
    /// change, cannot change the answer — every condition reads only
    /// events of its own types, and the universe is unchanged (what time
    /// did by the write's instant was caught up first, in its batch).
    fn triggers(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
    ) -> Result<Option<BTreeSet<String>>, StoreError> {
        Ok(self.compiled(ctx, segment)?.clock.types().cloned())
    }

    /// A backfill in one batch evaluation (the fast evaluator, as
    /// `cohort eval` runs it) and one scan of the blocks that can hold a
    /// deadline ([`Clock::deadlines`]); subject by subject only when the
    /// filter compares time values in data with `now`.
    fn decide_all(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
        at: i64,
    ) -> Result<Option<AllVerdicts>, StoreError> {
        let c = self.compiled(ctx, segment)?;
        let kind = ctx
            .def(segment)
            .ok_or_else(|| StoreError::Live(format!("no live segment #{segment}")))?
            .kind;
        let store = ctx.store();
        ctx.with_view(|view| {
            let Some(deadlines) = c
                .clock
                .deadlines(view, kind, at, |sid| ctx.profile(kind, sid))?
            else {
                return Ok(None);
            };
            let options = EvalOptions {
                now: at,
                kind,
                executor: Executor::shared(),
            };
            let members = evaluate(view, &c.expr, &StoreSegments::new(store), &options)
                .map_err(|e| StoreError::Live(format!("segment #{segment}: {e}")))?;
            Ok(Some(AllVerdicts { members, deadlines }))
        })
    }

    /// The entry events of a write's entries decided at once: from the
    /// write's events alone, as [`LiveHook::decide`] credits them.
    fn entries(
        &self,
        ctx: &LiveContext<'_, '_>,
        pairs: &[LivePair],
    ) -> Result<Vec<Option<EventRecord>>, StoreError> {
        let entry = |p: &LivePair| -> Result<Option<EventRecord>, StoreError> {
            let c = self.compiled(ctx, p.segment)?;
            let new_events = ctx.new_events(p.kind, p.subject)?;
            Ok(entry_event(
                ctx.cause(),
                &new_events,
                &[],
                c.clock.types(),
                p.at,
            ))
        };
        if pairs.len() >= PARALLEL_SUBJECTS {
            pairs.par_iter().map(entry).collect()
        } else {
            pairs.iter().map(entry).collect()
        }
    }
}

/// The event an entry is credited to: for a write, the latest of the
/// write's events that counts at the instant, preferring a type the
/// filter selects; for time passing, an event dated that very instant
/// (a future-dated event coming into force), likewise. None otherwise.
fn entry_event(
    cause: Cause,
    new_events: &[EventRecord],
    events: &[EventRecord],
    types: Option<&BTreeSet<String>>,
    at: i64,
) -> Option<EventRecord> {
    let candidates: Vec<&EventRecord> = match cause {
        Cause::Write => new_events.iter().filter(|e| e.time <= at).collect(),
        Cause::Time => events.iter().filter(|e| e.time == at).collect(),
        Cause::Backfill | Cause::Delete | Cause::Stop => return None,
    };
    let selected = |e: &&EventRecord| types.is_none_or(|t| t.contains(&e.event_type));
    let latest = |v: Vec<&EventRecord>| v.into_iter().max_by_key(|e| (e.time, e.seq)).cloned();
    let preferred: Vec<&EventRecord> = candidates.iter().copied().filter(selected).collect();
    if preferred.is_empty() {
        latest(candidates)
    } else {
        latest(preferred)
    }
}
