//! Resource bounds of the language, measured by counting (issue 8).

use cohort_filter::{parse, Expr, Predicate, Test, MAX_REGEXES, MAX_REGEX_BYTES};

/// Every `matches` pattern of a filter.
fn patterns(e: &Expr, out: &mut Vec<cohort_filter::Pattern>) {
    fn pred(p: &Predicate, out: &mut Vec<cohort_filter::Pattern>) {
        match p {
            Predicate::Or(items) | Predicate::And(items) => items.iter().for_each(|q| pred(q, out)),
            Predicate::Not(inner) => pred(inner, out),
            Predicate::Test(Test::Matches { pattern, .. }) => out.push(pattern.clone()),
            Predicate::Test(_) => {}
        }
    }
    match e {
        Expr::Or(items) | Expr::And(items) => items.iter().for_each(|i| patterns(i, out)),
        Expr::Not(inner) => patterns(inner, out),
        Expr::Cond(cohort_filter::Condition::Did { selection, .. }) => {
            if let Some(p) = &selection.predicate {
                pred(p, out)
            }
        }
        Expr::Cond(_) => {}
    }
}

/// Regression, issue 8 case 4: 1,100 `matches "\\w{150}"` tests (62 KB)
/// took 55 s to check and 8 GB to evaluate. One pattern repeated is
/// compiled once; distinct ones share one budget and stop with an error
/// at the first that does not fit.
#[test]
fn regexes_are_bounded_in_total_not_only_one_by_one() {
    let same: Vec<String> = (0..1100)
        .map(|_| r#"did(t where data.s matches "\\w{150}")"#.to_owned())
        .collect();
    let filter = parse(&same.join(" or ")).map_err(|e| e.message).unwrap();
    let mut found = Vec::new();
    patterns(&filter, &mut found);
    assert_eq!(found.len(), 1100);
    let mut distinct: Vec<&str> = found.iter().map(|p| p.as_str()).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), 1, "one pattern text");
    assert!(found[0].compiled_bytes() <= MAX_REGEX_BYTES);

    let distinct: Vec<String> = (0..1100)
        .map(|i| format!(r#"did(t where data.s matches "\\w{{150}}{i}")"#))
        .collect();
    let text = distinct.join(" or ");
    let err = parse(&text).unwrap_err();
    assert!(
        err.message
            .contains("regular expressions may compile to 16 MiB in all"),
        "{}",
        err.message
    );
    // The caret is under a pattern, early in the filter: it stopped there.
    assert!(
        text[err.offset..].starts_with("\"\\\\w{150}"),
        "{}",
        err.message
    );
    assert!(
        err.offset < text.len() / 100,
        "stopped at byte {}",
        err.offset
    );

    // Many small distinct patterns: the count limit.
    let many: Vec<String> = (0..=MAX_REGEXES)
        .map(|i| format!(r#"did(t where data.s matches "a{i}")"#))
        .collect();
    let err = parse(&many.join(" or ")).unwrap_err();
    assert!(
        err.message.contains("at most 64 distinct"),
        "{}",
        err.message
    );
    parse(&many[..MAX_REGEXES].join(" or "))
        .map_err(|e| e.message)
        .unwrap();
}

/// Regression, issue 8 case 11: dates printed twice as long as written
/// made a canonical filter longer than its text.
#[test]
fn dates_print_as_dates() {
    let text =
        "did(a, since 2026-01-01) and count(b, between 2025-12-31 and 2026-01-01T12:00:00Z) > 1";
    let filter = parse(text).unwrap();
    assert_eq!(filter.to_string(), text);
    assert_eq!(parse(&filter.to_string()).unwrap(), filter);
}
