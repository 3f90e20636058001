//! Differential property: on random stores and random filters, the fast
//! evaluator (parallel and single-threaded) equals the reference evaluator
//! subject by subject.

mod common;

use cohort_eval::NoSegments;
use cohort_store::SubjectKind;
use proptest::prelude::*;

const T0: i64 = 1_780_000_000_000; // now
const HOUR: i64 = 3_600_000;

fn event() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(("user", "u")), Just(("device", "d"))],
        0u8..5,
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("@clicked")],
        -240i64..48,
        prop::option::of(-3i32..4),
        prop::option::of(prop_oneof![Just("x"), Just("y"), Just("xy")]),
        prop::option::of(any::<bool>()),
        0i64..3,
        prop::option::of(prop_oneof![
            Just("9007199254740992"),
            Just("-9007199254740992"),
            Just("1"),
            Just("0.1"),
            Just("1e-30"),
            Just("1e300"),
        ]),
    )
        .prop_map(|((kind, prefix), n, ty, hours, x, s, t, jitter, big)| {
            let mut data = Vec::new();
            if let Some(x) = x {
                data.push(format!(r#""x":{x}"#));
            }
            // Terms whose float sum depends on the order they are added in.
            if let Some(big) = big {
                data.push(format!(r#""big":{big}"#));
            }
            if let Some(s) = s {
                data.push(format!(r#""s":"{s}""#));
            }
            if let Some(t) = t {
                data.push(format!(r#""t":{t}"#));
            }
            let time = T0 + hours * HOUR + jitter;
            format!(
                r#"{{"subjectType":"{kind}","subjectId":"{prefix}{n}","type":"{ty}","createdAt":{time},"data":{{{}}}}}"#,
                data.join(",")
            )
        })
}

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1i64..300).prop_map(|h| format!(", last {h}h")),
        (0i64..300).prop_map(|h| format!(", since now - {h}h")),
        (0i64..300, 0i64..300).prop_map(|(a, b)| format!(", between now - {a}h and now - {b}h")),
        Just(", between 2026-01-01 and now + 1d".to_string()),
    ]
}

fn predicate() -> impl Strategy<Value = String> {
    let test = prop_oneof![
        (
            prop_oneof![Just("="), Just("!="), Just("<"), Just(">="), Just(">")],
            -3i32..4
        )
            .prop_map(|(c, n)| format!("data.x {c} {n}")),
        prop_oneof![Just("\"x\""), Just("\"xy\"")].prop_map(|s| format!("data.s = {s}")),
        Just("data.s contains \"y\"".to_string()),
        Just("data.s starts_with \"x\"".to_string()),
        Just("data.s matches \"^x.$\"".to_string()),
        any::<bool>().prop_map(|b| format!("data.t != {b}")),
        Just("data.x is null".to_string()),
        Just("data.s is not null".to_string()),
        Just("data.x in (1, 2, \"x\")".to_string()),
        Just("data.missing = 1".to_string()),
    ];
    test.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

fn selection() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("c"),
            Just("*"),
            Just("@clicked"),
            Just("never")
        ],
        prop::option::of(predicate()),
    )
        .prop_map(|(t, p)| match p {
            Some(p) => format!("{t} where {p}"),
            None => t.to_string(),
        })
}

fn condition() -> impl Strategy<Value = String> {
    let cmp = prop_oneof![
        Just("="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    prop_oneof![
        (selection(), window()).prop_map(|(s, w)| format!("did({s}{w})")),
        (
            prop_oneof![Just("count"), Just("days")],
            selection(),
            window(),
            cmp.clone(),
            0u32..4
        )
            .prop_map(|(m, s, w, c, n)| format!("{m}({s}{w}) {c} {n}")),
        (
            prop_oneof![Just("sum"), Just("avg"), Just("min"), Just("max")],
            selection(),
            window(),
            cmp.clone(),
            -3i32..5
        )
            .prop_map(|(m, s, w, c, n)| format!("{m}({s}, data.x{w}) {c} {n}")),
        (
            prop_oneof![Just("sum"), Just("avg")],
            selection(),
            window(),
            cmp.clone(),
            prop_oneof![
                Just("9007199254740992"),
                Just("9007199254740994"),
                Just("0"),
                Just("1"),
                Just("0.1"),
                Just("1e-30"),
            ]
        )
            .prop_map(|(m, s, w, c, n)| format!("{m}({s}, data.big{w}) {c} {n}")),
        (
            prop_oneof![Just("first"), Just("last")],
            selection(),
            window(),
            cmp,
            0i64..300
        )
            .prop_map(|(m, s, w, c, h)| format!("{m}({s}{w}) {c} now - {h}h")),
        (
            prop::collection::vec(selection(), 2..4),
            prop::option::of(1i64..100),
            window()
        )
            .prop_map(|(steps, within, w)| {
                let within = within.map(|h| format!(", within {h}h")).unwrap_or_default();
                format!("seq({}{within}{w})", steps.join(" -> "))
            }),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    common::combined(condition())
}

#[test]
fn fast_equals_reference_and_parallel_equals_sequential() {
    common::check_property(
        64,
        || {
            (
                prop::collection::vec(event(), 0..60),
                prop::collection::vec(filter(), 1..6),
            )
        },
        |(events, filters)| {
            let dir = tempfile::tempdir().unwrap();
            let store = common::store_from_ndjson(dir.path(), &events.join("\n"));
            for text in &filters {
                let f = cohort_filter::parse(text)
                    .map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
                for kind in SubjectKind::ALL {
                    let (fast, reference) =
                        common::members_all_ways(&store, &f, kind, T0, &NoSegments);
                    prop_assert_eq!(fast, reference, "{} ({})", text, kind);
                }
            }
            Ok(())
        },
    );
}
