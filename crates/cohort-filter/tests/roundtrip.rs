//! Printing a tree and parsing the text gives the same tree, for arbitrary
//! trees; and the spec's examples parse.

use cohort_filter::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        "@[a-z_]{1,8}",
        "[ -~]{1,10}",
        Just("last".to_string()),
        Just("add to cart".to_string()),
        Just("ünïcode \"quoted\"\n".to_string()),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    (
        0u64..100_000,
        prop_oneof![
            Just(Unit::Millis),
            Just(Unit::Seconds),
            Just(Unit::Minutes),
            Just(Unit::Hours),
            Just(Unit::Days),
            Just(Unit::Weeks)
        ],
    )
        .prop_map(|(amount, unit)| Duration { amount, unit })
}

fn time() -> impl Strategy<Value = TimeExpr> {
    prop_oneof![
        (-62_000_000_000_000i64..250_000_000_000_000).prop_map(TimeExpr::At),
        Just(TimeExpr::Now(None)),
        (any::<bool>(), duration()).prop_map(|(plus, d)| TimeExpr::Now(Some((
            if plus { Sign::Plus } else { Sign::Minus },
            d
        )))),
    ]
}

fn window() -> impl Strategy<Value = Option<Window>> {
    prop_oneof![
        Just(None),
        duration().prop_map(|d| Some(Window::Last(d))),
        time().prop_map(|t| Some(Window::Since(t))),
        (time(), time()).prop_map(|(a, b)| Some(Window::Between(a, b))),
    ]
}

fn cmp() -> impl Strategy<Value = Cmp> {
    prop_oneof![
        Just(Cmp::Eq),
        Just(Cmp::Ne),
        Just(Cmp::Lt),
        Just(Cmp::Le),
        Just(Cmp::Gt),
        Just(Cmp::Ge)
    ]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        -1e300f64..1e300,
        Just(0.1),
        Just(1e21),
        Just(-2.5e-7)
    ]
}

fn path() -> impl Strategy<Value = Path> + Clone {
    name().prop_map(|key| Path { key })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        name().prop_map(Literal::String),
        number().prop_map(Literal::Number),
        any::<bool>().prop_map(Literal::Bool),
        time().prop_map(Literal::Time),
    ]
}

fn test_() -> impl Strategy<Value = Test> {
    test_on(path())
}

fn profile_path() -> impl Strategy<Value = ProfilePath> + Clone {
    prop_oneof![
        name().prop_map(ProfilePath::Tag),
        proptest::sample::select(cohort_event::Attribute::ALL.to_vec()).prop_map(ProfilePath::User),
        Just(ProfilePath::Age),
    ]
}

fn test_on<P: Clone + std::fmt::Debug + 'static>(
    path: impl Strategy<Value = P> + Clone + 'static,
) -> impl Strategy<Value = Test<P>> {
    prop_oneof![
        (path.clone(), cmp(), literal())
            .prop_filter("no ordering on booleans", |(_, c, l)| !(c.is_ordering()
                && matches!(l, Literal::Bool(_))))
            .prop_map(|(path, cmp, literal)| Test::Compare { path, cmp, literal }),
        (path.clone(), prop::collection::vec(literal(), 1..4))
            .prop_map(|(path, literals)| Test::In { path, literals }),
        (path.clone(), literal()).prop_map(|(path, literal)| Test::Contains { path, literal }),
        (path.clone(), name()).prop_map(|(path, value)| Test::StartsWith { path, value }),
        (path.clone(), name()).prop_map(|(path, value)| Test::EndsWith { path, value }),
        (path.clone(), "[a-z]{1,5}(\\.\\*)?").prop_map(|(path, pattern)| Test::Matches {
            path,
            pattern: cohort_filter::Pattern::new(&pattern).unwrap()
        }),
        (path, any::<bool>()).prop_map(|(path, negated)| Test::IsNull { path, negated }),
    ]
}

fn predicate() -> impl Strategy<Value = Predicate> {
    test_()
        .prop_map(Predicate::Test)
        .prop_recursive(2, 6, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Predicate::Or),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Predicate::And),
                inner.prop_map(|p| Predicate::Not(Box::new(p))),
            ]
        })
}

fn selection() -> impl Strategy<Value = Selection> {
    (
        prop_oneof![Just(EventSel::Any), name().prop_map(EventSel::Named)],
        prop::option::of(predicate()),
    )
        .prop_map(|(event, predicate)| Selection { event, predicate })
}

fn condition() -> impl Strategy<Value = Condition> {
    let agg = prop_oneof![
        Just(Aggregate::Sum),
        Just(Aggregate::Avg),
        Just(Aggregate::Min),
        Just(Aggregate::Max)
    ];
    prop_oneof![
        (selection(), window())
            .prop_map(|(selection, window)| Condition::Did { selection, window }),
        (selection(), window(), cmp(), number()).prop_map(|(selection, window, cmp, value)| {
            Condition::Measure {
                measure: Measure::Count { selection, window },
                cmp,
                value,
            }
        }),
        (selection(), window(), cmp(), number()).prop_map(|(selection, window, cmp, value)| {
            Condition::Measure {
                measure: Measure::Days { selection, window },
                cmp,
                value,
            }
        }),
        (agg, selection(), path(), window(), cmp(), number()).prop_map(
            |(func, selection, path, window, cmp, value)| {
                Condition::Measure {
                    measure: Measure::Aggregate {
                        func,
                        selection,
                        path,
                        window,
                    },
                    cmp,
                    value,
                }
            }
        ),
        (any::<bool>(), selection(), window(), cmp(), time()).prop_map(
            |(first, selection, window, cmp, value)| {
                Condition::Moment {
                    which: if first { Which::First } else { Which::Last },
                    selection,
                    window,
                    cmp,
                    value,
                }
            }
        ),
        (
            prop::collection::vec(selection(), 2..4),
            prop::option::of(duration()),
            window()
        )
            .prop_map(|(steps, within, window)| Condition::Seq {
                steps,
                within,
                window
            }),
        name().prop_map(Condition::InSegment),
        test_on(profile_path()).prop_map(Condition::Profile),
        Just(Condition::Birthday),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    condition()
        .prop_map(Expr::Cond)
        .prop_recursive(3, 10, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                inner.prop_map(|e| Expr::Not(Box::new(e))),
            ]
        })
}

/// proptest builds deep strategy trees whose frames are large in debug
/// builds: run it on a thread with room.
fn with_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn print_then_parse_gives_the_same_tree() {
    with_big_stack(|| {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 512,
            ..ProptestConfig::default()
        });
        runner
            .run(&expr(), |e| {
                let text = e.to_string();
                let back =
                    parse(&text).map_err(|err| TestCaseError::fail(format!("{text}\n{err}")))?;
                prop_assert_eq!(back, e, "{}", text);
                Ok(())
            })
            .unwrap();
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "[ -~\n]{0,80}") {
        let _ = parse(&s);
    }
}

#[test]
fn the_deepest_allowed_filter_parses_on_a_small_stack() {
    // `not (` is two levels: 32 around a condition whose predicate nests 31 more.
    let inner = format!("{}data.x = 1{}", "not (".repeat(15), ")".repeat(15));
    let text = format!(
        "{}did(a where {inner}){}",
        "not (".repeat(16),
        ")".repeat(16)
    );
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || parse(&text).map(|_| ()).map_err(|e| e.to_string()));
    assert_eq!(handle.unwrap().join().unwrap(), Ok(()));
}

#[test]
fn the_spec_examples_parse() {
    let examples = [
        "count(purchase where data.amount >= 10000, last 30d) >= 2\nand did(@clicked, last 7d)\nand not did(cart_abandoned where data.category in (\"shoes\", \"bags\"), since 2026-01-01)",
        "count(*, last 1d) >= 1",
        "did(\"add to cart\")",
        "last(purchase) < now - 60d",
        "first(*) >= now - 14d",
        "seq(view_item -> add_to_cart -> purchase, within 1d, last 30d)",
        "days(app_open, last 30d) >= 10",
        "sum(purchase, data.amount, last 30d) >= 10000",
        "count(purchase where data.category != \"books\") >= 1",
        "count(purchase where not (data.category = \"books\")) >= 1",
        "avg(purchase, data.amount) > 0",
        "seq(view_item -> add_to_cart)",
        "seq(view_item -> purchase, within 1h)",
        "not did(*, last 30d)",
        "sum(purchase, data.amount) < 5000",
        "did(x where data[\"product id\"] = \"1\" and data.t >= 2026-01-01T09:30:00.5+09:00, between 2026-01-01 and now + 1w) # trailing comment",
        "did(x where data.tags contains \"games\" or data.name starts_with \"a\" and data.name ends_with \"z\" or data.s matches \"^a.*$\" or data.n is not null or data.m is null)",
        "in_segment(\"vip\") and max(purchase, data.amount, since now - 90m) <= -2.5e3 and min(purchase, data.amount) = 1e6",
        "count(purchase, last 500ms) > 0 or count(purchase, last 10s) > 0 or count(purchase, last 12h) > 0",
        // Version 2: profile conditions, from the spec.
        "tag.plan = \"pro\"",
        "tag.plan is null",
        "not (tag.plan = \"free\")",
        "tag.point >= 100",
        "tag.cart_at < now - 3h",
        "age >= 26",
        "birthday",
        "user.country in (\"KR\", \"JP\") and count(purchase, last 30d) >= 2",
        "tag.point is not null or user.country = \"US\"",
        "tag.cart_at >= now - 3h and tag.cart_at <= now",
        "tag.expires_at > now and tag.expires_at <= now + 168h",
        "tag[\"a key\"] != 1 and user.dob = \"1990-01-01\" and user.phoneNumber starts_with \"+82\"",
        // Version 1 filters naming events `birthday` or `age` still parse.
        "did(birthday) and count(age) >= 1 and birthday and age > 1",
    ];
    for text in examples {
        let e = parse(text).unwrap_or_else(|err| panic!("{text}\n{err}"));
        assert_eq!(parse(&e.to_string()).unwrap(), e, "{text}");
    }
    assert_eq!(
        parse("did(birthday) and count(age) >= 1")
            .unwrap()
            .to_string(),
        "did(birthday) and count(age) >= 1",
        "printed unquoted, as version 1 saved them"
    );
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let e = parse("did(a) or did(b) and not did(c)").unwrap();
    let did = |n: &str| {
        Expr::Cond(Condition::Did {
            selection: Selection {
                event: EventSel::Named(n.into()),
                predicate: None,
            },
            window: None,
        })
    };
    assert_eq!(
        e,
        Expr::Or(vec![
            did("a"),
            Expr::And(vec![did("b"), Expr::Not(Box::new(did("c")))])
        ])
    );
    assert_eq!(e.to_string(), "did(a) or (did(b) and not did(c))");
}

#[test]
fn times_and_durations_mean_what_they_say() {
    let e = parse("did(a, between 2026-01-01 and 2026-01-01T09:30:00.5+09:00)").unwrap();
    let Expr::Cond(Condition::Did {
        window: Some(Window::Between(a, b)),
        ..
    }) = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(a, TimeExpr::At(1_767_225_600_000));
    assert_eq!(b, TimeExpr::At(1_767_225_600_000 + 30 * 60_000 + 500));
    assert_eq!(
        TimeExpr::Now(Some((
            Sign::Minus,
            Duration {
                amount: 7,
                unit: Unit::Days
            }
        )))
        .resolve(1_000_000_000_000),
        1_000_000_000_000 - 7 * 86_400_000
    );
}
