//! Memory bounds of validation, measured by counting allocations (issue 8,
//! case 8): limits are applied while reading, not after building a tree of
//! the whole input. This file is its own test binary so that its counting
//! allocator sees only its own tests, which run one at a time.

use cohort_event::{parse_event, parse_track_request, Source};
use cohort_testkit::{exclusive, peak_of};

#[global_allocator]
static ALLOC: cohort_testkit::Counting = cohort_testkit::Counting;

/// A 16 MiB line holding an 8.4-million-element array took ~570 MB
/// before it was rejected.
#[test]
fn a_huge_array_is_rejected_at_the_cost_of_its_first_elements() {
    let _one = exclusive();
    let elements = 8_388_000;
    let mut line = String::with_capacity(elements * 2 + 200);
    line.push_str(r#"{"subjectType":"user","subjectId":"u","type":"t","data":{"a":["#);
    for i in 0..elements {
        line.push_str(if i == 0 { "1" } else { ",1" });
    }
    line.push_str("]}}");
    assert!(line.len() > 16_000_000);
    let (result, peak) = peak_of(|| parse_event(line.as_bytes(), Source::Client));
    let errors = result.unwrap_err();
    assert_eq!(errors[0].field, "data.a");
    assert_eq!(
        errors[0].reason,
        format!("array must have at most 100 elements, not {elements}")
    );
    assert!(peak < 64 << 10, "peak {peak} bytes");
}

/// A 45 MB track request of 1.5 million events took ~570 MB before it
/// was rejected for holding more than 100.
#[test]
fn a_request_with_too_many_events_is_rejected_at_the_cost_of_its_first_events() {
    let _one = exclusive();
    let event = r#"{"subjectType":"user","subjectId":"u1","type":"view","data":{"k":"v"}}"#;
    let n = 600_000;
    let mut body = String::with_capacity(n * (event.len() + 1) + 20);
    body.push_str(r#"{"events":["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(event);
    }
    body.push_str("]}");
    assert!(body.len() > 40_000_000);
    let (result, peak) = peak_of(|| parse_track_request(body.as_bytes(), Source::Client, 0));
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(r#""events" must hold 1 to 100 items, not {n}"#)
    );
    assert!(peak < 1 << 20, "peak {peak} bytes");
}

/// An object with more fields than any rule allows is refused as a
/// whole, not judged by its first fields only.
#[test]
fn an_event_with_hundreds_of_fields_is_refused_for_that() {
    let _one = exclusive();
    let mut line = String::from(r#"{"x0":1"#);
    for i in 1..300 {
        line.push_str(&format!(r#","x{i}":1"#));
    }
    line.push_str(r#","subjectType":"user","subjectId":"u","type":"t"}"#);
    let errors = parse_event(line.as_bytes(), Source::Client).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].reason.contains("not 303"), "{}", errors[0].reason);
}
