//! Planning: filters (and the segments they reach, each once) become a
//! list of conditions and trees over them.

use std::collections::HashMap;

use cohort_filter::{Condition, EventSel, Expr, Measure, Selection, Which};
use cohort_store::View;
use roaring::RoaringBitmap;

use crate::compile::compile;
use crate::conditions::{
    Aggregate, Common, Count, Days, FirstSeen, Kind, Moment, Planned, ProfileTest, Seq, Step, Types,
};
use crate::segments::Resolved;
use crate::window::bounds;

/// The shape of a filter, with conditions replaced by their index and
/// `in_segment` by the index of the referenced segment's tree.
pub(crate) enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Cond(usize),
    Segment(usize),
}

/// Everything one evaluation computes.
pub(crate) struct Plan {
    pub conditions: Vec<Planned>,
    pub roots: Vec<Node>,
    /// One tree per reached segment, in [`Resolved::segments`] order.
    pub segments: Vec<Node>,
}

pub(crate) fn plan(view: &View<'_>, roots: &[Expr], resolved: &Resolved, now: i64) -> Plan {
    let mut planner = Planner {
        view,
        now,
        resolved,
        conditions: Vec::new(),
    };
    let segments = resolved
        .segments
        .iter()
        .map(|(_, e)| planner.node(e))
        .collect();
    let roots = roots.iter().map(|e| planner.node(e)).collect();
    Plan {
        conditions: planner.conditions,
        roots,
        segments,
    }
}

struct Planner<'v, 'r> {
    view: &'v View<'v>,
    now: i64,
    resolved: &'r Resolved,
    conditions: Vec<Planned>,
}

impl Planner<'_, '_> {
    fn node(&mut self, e: &Expr) -> Node {
        match e {
            Expr::Or(items) => Node::Or(items.iter().map(|i| self.node(i)).collect()),
            Expr::And(items) => Node::And(items.iter().map(|i| self.node(i)).collect()),
            Expr::Not(inner) => Node::Not(Box::new(self.node(inner))),
            Expr::Cond(Condition::InSegment(name)) => Node::Segment(self.resolved.position(name)),
            Expr::Cond(c) => {
                let planned = self.condition(c);
                self.conditions.push(planned);
                Node::Cond(self.conditions.len() - 1)
            }
        }
    }

    fn types(&self, s: &Selection) -> Types {
        match &s.event {
            EventSel::Any => Types::Any,
            EventSel::Named(n) => Types::Ids(self.view.type_id(n).into_iter().collect()),
        }
    }

    fn common(&self, s: &Selection, window: &Option<cohort_filter::Window>) -> Common {
        let (lo, hi) = bounds(window.as_ref(), self.now);
        Common {
            types: self.types(s),
            lo,
            hi,
            pred: s
                .predicate
                .as_ref()
                .map(|p| compile(p, self.view, self.now)),
        }
    }

    fn condition(&self, c: &Condition) -> Planned {
        let now = self.now;
        // Profile conditions read no block: no types, an empty window.
        let no_blocks = || Common {
            types: Types::Ids(Vec::new()),
            lo: 0,
            hi: -1,
            pred: None,
        };
        match c {
            Condition::Profile(test) => Planned {
                common: no_blocks(),
                kind: Kind::Profile(ProfileTest { test: test.clone() }),
            },
            Condition::Birthday => Planned {
                common: no_blocks(),
                kind: Kind::Birthday,
            },
            Condition::Did { selection, window } => Planned {
                common: self.common(selection, window),
                kind: Kind::Count(Count {
                    did: true,
                    cmp: cohort_filter::Cmp::Gt,
                    value: 0.0,
                }),
            },
            Condition::Measure {
                measure,
                cmp,
                value,
            } => match measure {
                Measure::Count { selection, window } => Planned {
                    common: self.common(selection, window),
                    kind: Kind::Count(Count {
                        did: false,
                        cmp: *cmp,
                        value: *value,
                    }),
                },
                Measure::Days { selection, window } => {
                    let common = self.common(selection, window);
                    let kind = Kind::Days(Days::new(*cmp, *value, common.lo, common.hi));
                    Planned { common, kind }
                }
                Measure::Aggregate {
                    func,
                    selection,
                    path,
                    window,
                } => Planned {
                    common: self.common(selection, window),
                    kind: Kind::Aggregate(Aggregate {
                        func: *func,
                        key: self.view.key_id(&path.key),
                        cmp: *cmp,
                        value: *value,
                    }),
                },
            },
            Condition::Moment {
                which,
                selection,
                window,
                cmp,
                value,
            } => {
                let target = value.resolve(now) as f64;
                if *which == Which::First
                    && selection.event == EventSel::Any
                    && selection.predicate.is_none()
                    && window.is_none()
                {
                    let (lo, hi) = bounds(None, now);
                    return Planned {
                        common: Common {
                            types: Types::Ids(Vec::new()),
                            lo,
                            hi,
                            pred: None,
                        },
                        kind: Kind::FirstSeen(FirstSeen { cmp: *cmp, target }),
                    };
                }
                Planned {
                    common: self.common(selection, window),
                    kind: Kind::Moment(Moment {
                        which: *which,
                        cmp: *cmp,
                        target,
                    }),
                }
            }
            Condition::Seq {
                steps,
                within,
                window,
            } => {
                let steps: Vec<Step> = steps
                    .iter()
                    .map(|s| Step {
                        types: self.types(s),
                        pred: s.predicate.as_ref().map(|p| compile(p, self.view, now)),
                    })
                    .collect();
                let types = if steps.iter().any(|s| matches!(s.types, Types::Any)) {
                    Types::Any
                } else {
                    let mut ids: Vec<u32> = steps
                        .iter()
                        .flat_map(|s| match &s.types {
                            Types::Ids(ids) => ids.clone(),
                            Types::Any => Vec::new(),
                        })
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    Types::Ids(ids)
                };
                let (lo, hi) = bounds(window.as_ref(), now);
                Planned {
                    common: Common {
                        types,
                        lo,
                        hi,
                        pred: None,
                    },
                    kind: Kind::Seq(Seq {
                        steps,
                        within: within.map(|d| d.millis()),
                    }),
                }
            }
            Condition::InSegment(_) => unreachable!("segments are planned as trees of their own"),
        }
    }
}

impl Plan {
    /// Per type: the inclusive time range the conditions read of it.
    pub fn ranges(&self, all_types: std::ops::Range<u32>) -> Vec<(u32, i64, i64)> {
        let mut ranges: HashMap<u32, (i64, i64)> = HashMap::new();
        for c in self
            .conditions
            .iter()
            .filter(|c| c.common.lo <= c.common.hi)
        {
            let ids: Vec<u32> = match &c.common.types {
                Types::Any => all_types.clone().collect(),
                Types::Ids(ids) => ids.clone(),
            };
            for id in ids {
                let r = ranges.entry(id).or_insert((c.common.lo, c.common.hi));
                r.0 = r.0.min(c.common.lo);
                r.1 = r.1.max(c.common.hi);
            }
        }
        let mut out: Vec<_> = ranges
            .into_iter()
            .map(|(t, (lo, hi))| (t, lo, hi))
            .collect();
        out.sort_unstable();
        out
    }

    /// Each root's members, from each condition's members; a segment's
    /// tree is combined once and shared by every reference to it.
    pub fn combine(
        &self,
        results: &[RoaringBitmap],
        universe: &RoaringBitmap,
    ) -> Vec<RoaringBitmap> {
        let mut memo: Vec<Option<RoaringBitmap>> = vec![None; self.segments.len()];
        self.roots
            .iter()
            .map(|n| self.node(n, results, universe, &mut memo))
            .collect()
    }

    fn node(
        &self,
        node: &Node,
        results: &[RoaringBitmap],
        universe: &RoaringBitmap,
        memo: &mut Vec<Option<RoaringBitmap>>,
    ) -> RoaringBitmap {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || match node {
            Node::Or(items) => items.iter().fold(RoaringBitmap::new(), |acc, n| {
                acc | self.node(n, results, universe, memo)
            }),
            Node::And(items) => {
                let mut it = items.iter();
                let first = it
                    .next()
                    .map(|n| self.node(n, results, universe, memo))
                    .unwrap_or_default();
                it.fold(first, |acc, n| acc & self.node(n, results, universe, memo))
            }
            Node::Not(inner) => universe - self.node(inner, results, universe, memo),
            Node::Cond(i) => &results[*i] & universe,
            Node::Segment(i) => {
                if let Some(done) = &memo[*i] {
                    return done.clone();
                }
                let members = self.node(&self.segments[*i], results, universe, memo);
                memo[*i] = Some(members.clone());
                members
            }
        })
    }
}
