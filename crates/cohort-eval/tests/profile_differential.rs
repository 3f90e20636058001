//! Differential property for profiles: on random tag and attribute
//! histories (deletes, ties at one instant, changes after `now`), random
//! clocks and time zones, the fast evaluator (parallel and
//! single-threaded), which reads profile columns, equals the reference
//! evaluator, which walks each subject's history.

mod common;

use cohort_eval::NoSegments;
use cohort_store::SubjectKind;
use proptest::prelude::*;

const T0: i64 = 1_780_272_000_000; // 2026-06-01T00:00:00Z
const HOUR: i64 = 3_600_000;

fn tag_change() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(("user", "u")), Just(("device", "d"))],
        0u8..5,
        -72i64..24,
        prop::collection::vec(
            (
                prop_oneof![Just("plan"), Just("point"), Just("at"), Just("list")],
                prop_oneof![
                    Just("null".to_string()),
                    prop_oneof![Just("\"pro\""), Just("\"free\""), Just("\"p\"")]
                        .prop_map(str::to_string),
                    (-2i32..3).prop_map(|n| (n * 500).to_string()),
                    (-48i64..48).prop_map(|h| format!(
                        "\"{}\"",
                        cohort_store::format_millis(T0 + h * HOUR)
                    )),
                    Just("[\"a\",\"b\"]".to_string()),
                ],
            ),
            1..3,
        ),
    )
        .prop_map(|((kind, prefix), n, hours, tags)| {
            let mut seen = std::collections::BTreeSet::new();
            let tags: Vec<String> = tags
                .into_iter()
                .filter(|(k, _)| seen.insert(*k))
                .map(|(k, v)| format!(r#""{k}":{v}"#))
                .collect();
            format!(
                r#"{{"tags":[{{"subjectType":"{kind}","subjectId":"{prefix}{n}","createdAt":{},"tags":{{{}}}}}]}}"#,
                T0 + hours * HOUR,
                tags.join(",")
            )
        })
}

fn attribute_change() -> impl Strategy<Value = String> {
    (
        0u8..5,
        -72i64..24,
        prop::option::of(prop_oneof![
            Just("\"2000-02-29\""),
            Just("\"1990-06-01\""),
            Just("\"2000-05-31\""),
            Just("\"2026-06-01\""),
            Just("\"1980-12-31\""),
            Just("null"),
        ]),
        prop::option::of(prop_oneof![
            Just("\"UTC\""),
            Just("\"Asia/Seoul\""),
            Just("\"America/Los_Angeles\""),
            Just("\"Pacific/Kiritimati\""),
            Just("\"Pacific/Pago_Pago\""),
            Just("null"),
        ]),
        prop::option::of(prop_oneof![Just("\"KR\""), Just("\"US\""), Just("null")]),
    )
        .prop_map(|(n, hours, dob, zone, country)| {
            let mut fields = Vec::new();
            if let Some(d) = dob {
                fields.push(format!(r#""dob":{d}"#));
            }
            if let Some(z) = zone {
                fields.push(format!(r#""timeZone":{z}"#));
            }
            // At least one attribute.
            fields.push(format!(r#""country":{}"#, country.unwrap_or("\"JP\"")));
            format!(
                r#"{{"userAttributes":[{{"userId":"u{n}","createdAt":{},{}}}]}}"#,
                T0 + hours * HOUR,
                fields.join(",")
            )
        })
}

fn event() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(("user", "u")), Just(("device", "d"))],
        0u8..6,
        -72i64..24,
    )
        .prop_map(|((kind, prefix), n, hours)| {
            format!(
                r#"{{"subjectType":"{kind}","subjectId":"{prefix}{n}","type":"a","createdAt":{}}}"#,
                T0 + hours * HOUR
            )
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
        (cmp.clone(), prop_oneof![Just("\"pro\""), Just("\"free\"")])
            .prop_map(|(c, v)| format!("tag.plan {c} {v}")),
        (cmp.clone(), -2i32..3).prop_map(|(c, n)| format!("tag.point {c} {}", n * 500)),
        (cmp.clone(), -30i64..30).prop_map(|(c, h)| if h < 0 {
            format!("tag.at {c} now + {}h", -h)
        } else {
            format!("tag.at {c} now - {h}h")
        }),
        Just("tag.plan is null".to_string()),
        Just("tag.point is not null".to_string()),
        Just("tag.list contains \"a\"".to_string()),
        Just("tag.plan in (\"pro\", \"p\")".to_string()),
        Just("tag.plan starts_with \"p\"".to_string()),
        (cmp.clone(), 0i64..50).prop_map(|(c, n)| format!("age {c} {n}")),
        Just("age is null".to_string()),
        Just("birthday".to_string()),
        (cmp, prop_oneof![Just("\"KR\""), Just("\"US\"")])
            .prop_map(|(c, v)| format!("user.country {c} {v}")),
        Just("user.dob is not null".to_string()),
        Just("user.timeZone = \"UTC\"".to_string()),
        Just("did(a, last 24h)".to_string()),
        Just("count(*) >= 1".to_string()),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    common::combined(condition())
}

#[test]
fn profile_conditions_fast_equals_reference() {
    common::check_property(
        64,
        || {
            (
                prop::collection::vec(event(), 0..15),
                prop::collection::vec(tag_change(), 0..25),
                prop::collection::vec(attribute_change(), 0..12),
                prop::collection::vec(filter(), 1..5),
                // Clocks around the changes, and near local midnights.
                prop::collection::vec(-80i64..30, 1..4),
                0i64..60,
            )
        },
        |(events, tags, attributes, filters, hours, minutes)| {
            let dir = tempfile::tempdir().unwrap();
            let lines: Vec<String> = events.into_iter().chain(tags).chain(attributes).collect();
            let store = common::store_from_ndjson(dir.path(), &lines.join("\n"));
            for text in &filters {
                let f = cohort_filter::parse(text)
                    .map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
                for &h in &hours {
                    let now = T0 + h * HOUR + minutes * 60_000;
                    for kind in SubjectKind::ALL {
                        if kind == SubjectKind::Device && cohort_eval::uses_user_profile(&f) {
                            continue;
                        }
                        let (fast, reference) =
                            common::members_all_ways(&store, &f, kind, now, &NoSegments);
                        prop_assert_eq!(fast, reference, "{} ({}) at {}", text, kind, now);
                    }
                }
            }
            Ok(())
        },
    );
}
