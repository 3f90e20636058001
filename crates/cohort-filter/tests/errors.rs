//! Bad filters and their exact messages with carets, as data:
//! `testdata/filter/errors.txt` holds cases separated by lines of `===`;
//! each is the filter, a line `---`, and the error exactly as printed.
//! Run with `COHORT_BLESS=1` to print the actual errors for review.

use cohort_filter::parse;

const CASES: &str = include_str!("../../../testdata/filter/errors.txt");

#[test]
fn every_bad_filter_has_its_message_and_caret() {
    let mut failures = Vec::new();
    let mut count = 0;
    for case in CASES
        .split("\n===\n")
        .map(str::trim_end)
        .filter(|c| !c.trim().is_empty())
    {
        let (filter, expected) = case
            .split_once("\n---\n")
            .unwrap_or_else(|| panic!("a case without ---: {case}"));
        count += 1;
        let got = match parse(filter) {
            Ok(expr) => format!("parsed as: {expr}"),
            Err(e) => e.to_string(),
        };
        if std::env::var_os("COHORT_BLESS").is_some() {
            println!("{filter}\n---\n{got}\n===");
        }
        if got != expected {
            failures.push(format!(
                "filter:\n{filter}\nexpected:\n{expected}\ngot:\n{got}\n"
            ));
        }
    }
    assert!(count >= 25, "only {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn limits_are_errors_not_crashes() {
    let deep = format!("{}did(a){}", "(".repeat(10_000), ")".repeat(10_000));
    let e = parse(&deep).unwrap_err();
    assert_eq!(e.message, "the filter nests deeper than 64 levels");
    assert_eq!(e.column, 65);
    let nots = format!("{}did(a)", "not ".repeat(100_000));
    assert!(parse(&nots)
        .unwrap_err()
        .message
        .contains("longer than 64 KiB"));
    let nots = format!("{}did(a)", "not ".repeat(70));
    assert_eq!(
        parse(&nots).unwrap_err().message,
        "the filter nests deeper than 64 levels"
    );
    let pred = format!(
        "did(a where {}data.x = 1{})",
        "(".repeat(200),
        ")".repeat(200)
    );
    assert_eq!(
        parse(&pred).unwrap_err().message,
        "the filter nests deeper than 64 levels"
    );
    // Exactly at the limit is fine.
    let ok = format!("{}did(a){}", "(".repeat(63), ")".repeat(63));
    assert!(parse(&ok).is_ok());
    let long = format!("did(a) or {}", vec!["did(b)"; 12_000].join(" or "));
    assert!(parse(&long)
        .unwrap_err()
        .message
        .contains("longer than 64 KiB"));
}

/// Found by a hostile run: a 64 KiB filter on one line was echoed whole
/// under its error. The caret line shows 160 characters around the column.
#[test]
fn a_long_line_is_clipped_around_the_caret() {
    let filter = format!("{} and did(", vec!["did(a)"; 2000].join(" and "));
    let err = parse(&filter).unwrap_err();
    let shown = err.to_string();
    let source = shown.lines().nth(3).unwrap();
    let caret = shown.lines().nth(4).unwrap();
    assert!(source.chars().count() < 200, "{source}");
    assert!(source.starts_with("1 | …"), "{source}");
    assert!(source.ends_with("and did("), "{source}");
    // The caret sits under the end of the text, where `)` was expected.
    assert_eq!(caret.chars().count(), source.chars().count() + 1, "{shown}");
    assert!(caret.ends_with('^'));
    assert_eq!(err.column, filter.chars().count() + 1);
}

#[test]
fn user_conditions_are_refused_at_their_place_for_devices() {
    use cohort_event::SubjectKind;
    let cases = [
        ("tag.plan = \"pro\" and age >= 20", 22),
        ("birthday", 1),
        ("not (user.country = \"KR\")", 6),
    ];
    for (filter, column) in cases {
        let err = cohort_filter::parse_for(filter, SubjectKind::Device).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "error: `user.`, `age` and `birthday` describe users; this filter is evaluated for devices"
            ),
            "{text}"
        );
        assert!(text.contains(&format!("column {column}")), "{text}");
        // The same filter for users parses.
        cohort_filter::parse_for(filter, SubjectKind::User).unwrap();
    }
    // Tags are both users' and devices'.
    cohort_filter::parse_for("tag.push = true", SubjectKind::Device).unwrap();
}
