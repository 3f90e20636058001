//! Filters and limits, case by case. The spec's examples and other golden
//! cases are data: `testdata/liquid/golden.toml` (tests/golden.rs).

use std::collections::BTreeMap;

use cohort_event::{Attribute, SubjectKind, Value};

use crate::filters::delimit;
use crate::{Context, EntryEvent, Error, Limit, Subject, Template};

fn context() -> Context {
    let mut tags = BTreeMap::new();
    tags.insert("point".to_owned(), Value::Number(1234567.0));
    tags.insert("big".to_owned(), Value::String("x".repeat(600 * 1024)));
    let mut attributes = BTreeMap::new();
    attributes.insert(Attribute::Name, "Kim".to_owned());
    attributes.insert(Attribute::TimeZone, "Asia/Seoul".to_owned());
    Context {
        subject: Some(Subject {
            kind: SubjectKind::User,
            id: "u1".into(),
        }),
        entry_event: Some(EntryEvent {
            event_type: "purchase".into(),
            time: 1_780_000_000_000,
            subject: Subject {
                kind: SubjectKind::User,
                id: "u1".into(),
            },
            data: vec![("amount".into(), Value::Number(10000.0))],
        }),
        tags,
        attributes,
        now: 1_780_000_000_000, // 2026-05-28T20:26:40Z
    }
}

fn render(template: &str) -> Result<String, Error> {
    Template::parse(template)?.render(&context())
}

#[test]
fn number_with_delimiter_groups_whole_digits_only() {
    assert_eq!(delimit("1234567").as_deref(), Some("1,234,567"));
    assert_eq!(delimit("-1234.5").as_deref(), Some("-1,234.5"));
    assert_eq!(delimit("123").as_deref(), Some("123"));
    assert_eq!(delimit("1000.00001").as_deref(), Some("1,000.00001"));
    assert_eq!(delimit("12a"), None);
    assert_eq!(delimit("-"), None);
    assert_eq!(delimit("1."), None);
    assert_eq!(
        render("{{ 1234567 | number_with_delimiter }}").unwrap(),
        "1,234,567"
    );
    assert_eq!(
        render("{{ -1234.5 | number_with_delimiter }}").unwrap(),
        "-1,234.5"
    );
    assert_eq!(
        render("{{ \"98765\" | number_with_delimiter }}").unwrap(),
        "98,765"
    );
    assert_eq!(
        render("{{ \"n/a\" | number_with_delimiter }}").unwrap(),
        "n/a"
    );
    assert_eq!(
        render("{{ tags.point | number_with_delimiter }}").unwrap(),
        "1,234,567"
    );
    assert_eq!(
        render("[{{ tags.nope | number_with_delimiter }}]").unwrap(),
        "[]"
    );
}

#[test]
fn date_reads_every_input_form_and_zone() {
    let t = "2026-05-31T20:00:00Z";
    let r = |tpl: &str| render(&tpl.replace("@T", t)).unwrap();
    assert_eq!(
        r("{{ \"@T\" | date: \"%Y-%m-%d %H:%M\", \"Asia/Seoul\" }}"),
        "2026-06-01 05:00"
    );
    assert_eq!(
        r("{{ \"@T\" | date: \"%Y-%m-%d %H:%M\", \"UTC\" }}"),
        "2026-05-31 20:00"
    );
    // No zone: the subject's timeZone attribute (Asia/Seoul here).
    assert_eq!(r("{{ \"@T\" | date: \"%H:%M\" }}"), "05:00");
    // Unix milliseconds, and "now" (the render's instant).
    assert_eq!(
        render("{{ 1780000000000 | date: \"%Y-%m-%dT%H:%M\", \"UTC\" }}").unwrap(),
        "2026-05-28T20:26"
    );
    assert_eq!(
        render("{{ \"now\" | date: \"%Y-%m-%d\", \"UTC\" }}").unwrap(),
        "2026-05-28"
    );
    // Missing renders nothing, so default stands in at the chain's end.
    assert_eq!(
        render("{{ tags.signup | date: \"%Y\", \"America/Los_Angeles\" | default: \"today\" }}")
            .unwrap(),
        "today"
    );
    // What is not a time is left as it is.
    assert_eq!(render("{{ \"soon\" | date: \"%Y\" }}").unwrap(), "soon");
}

#[test]
fn date_literal_errors_are_found_when_checked() {
    let e = Template::parse("Hi\n{{ \"now\" | date: \"%Y\", \"Mars/Olympus\" }}").unwrap_err();
    match &e {
        Error::Parse { line, reason, .. } => {
            assert_eq!(*line, 2, "{e}");
            assert!(reason.contains("unknown time zone \"Mars/Olympus\""), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let e = Template::parse("{{ \"now\" | date: \"%Q%\" }}").unwrap_err();
    assert!(e.to_string().contains("not a strftime format"), "{e}");
    // A zone held in a variable can only be checked when rendering.
    let t = Template::parse("{{ \"now\" | date: \"%Y\", tags.zone }}").unwrap();
    let mut c = context();
    c.tags
        .insert("zone".into(), Value::String("Nowhere/Land".into()));
    let e = t.render(&c).unwrap_err();
    assert!(matches!(e, Error::Render { .. }), "{e:?}");
    assert!(e.to_string().contains("Nowhere/Land"), "{e}");
}

#[test]
fn missing_variables_render_as_nothing() {
    assert_eq!(
        render("[{{ nope }}][{{ tags.nope }}][{{ entry_event.data.nope }}]").unwrap(),
        "[][][]"
    );
    assert_eq!(
        render("{{ nope.deeper.still | default: \"x\" }}").unwrap(),
        "x"
    );
    assert_eq!(
        render("{% for i in nope %}a{% else %}none{% endfor %}").unwrap(),
        "none"
    );
    assert_eq!(render("{% if nope %}a{% else %}b{% endif %}").unwrap(), "b");
    assert_eq!(
        render("{{ entry_event.data.amount | plus: 1 }}").unwrap(),
        "10001"
    );
    assert_eq!(
        render("{{ subject.type }}:{{ subject.id }}").unwrap(),
        "user:u1"
    );
}

#[test]
fn unknown_names_are_refused_with_a_position() {
    let e = Template::parse("Hello\n  {{ name | shout }}").unwrap_err();
    match &e {
        Error::Parse {
            line,
            column,
            reason,
        } => {
            assert_eq!((*line, *column), (2, 13), "{e}");
            assert!(reason.contains("Unknown filter"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let e = Template::parse("{% nope %}").unwrap_err();
    assert!(matches!(e, Error::Parse { line: 1, .. }), "{e:?}");
    let e = Template::parse("{% if a %}unclosed").unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
    // No partial templates exist, so include and render are not offered.
    assert!(Template::parse("{% include 'x' %}").is_err());
    assert!(Template::parse("{% render 'x' %}").is_err());
}

#[test]
fn loops_work_as_in_liquid() {
    assert_eq!(
        render("{% for i in (1..5) limit: 3 offset: 1 %}{{ i }}{% unless forloop.last %},{% endunless %}{% endfor %}")
            .unwrap(),
        "2,3,4"
    );
    assert_eq!(
        render("{% for i in (1..4) reversed %}{{ i }}{% endfor %}").unwrap(),
        "4321"
    );
    assert_eq!(
        render("{% for i in (1..9) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}")
            .unwrap(),
        "12"
    );
    assert_eq!(
        render("{% for i in (1..2) %}{% for j in (1..2) %}{{ forloop.parentloop.index }}{{ j }} {% endfor %}{% endfor %}")
            .unwrap(),
        "11 12 21 22 "
    );
    assert_eq!(
        render("{% assign xs = \"a,b,c\" | split: \",\" %}{% for x in xs %}{{ forloop.index }}{{ x }}{% endfor %}")
            .unwrap(),
        "1a2b3c"
    );
    assert_eq!(
        render("{% tablerow x in (1..3) cols: 2 %}{{ x }}{% endtablerow %}").unwrap(),
        "<tr class=\"row1\"><td class=\"col1\">1</td><td class=\"col2\">2</td></tr><tr class=\"row2\"><td class=\"col1\">3</td></tr>"
    );
    assert_eq!(
        render("{% capture c %}{% for i in (1..3) %}{{ i }}{% endfor %}{% endcapture %}<{{ c }}>")
            .unwrap(),
        "<123>"
    );
}

fn limit(template: &str) -> Limit {
    match render(template) {
        Err(Error::Limit(l)) => l,
        other => panic!("{template}: {other:?}"),
    }
}

#[test]
fn a_huge_range_stops_at_the_iteration_limit_without_building_it() {
    assert_eq!(
        limit("{% for i in (1..9223372036854775807) %}{% endfor %}"),
        Limit::Iterations
    );
    assert_eq!(
        limit("{% for i in (1..200) %}{% for j in (1..200) %}{% endfor %}{% endfor %}"),
        Limit::Iterations
    );
    // Exactly at the limit is fine.
    let ok = render("{% for i in (1..10000) %}{% endfor %}done").unwrap();
    assert_eq!(ok, "done");
    assert_eq!(
        limit("{% for i in (1..10001) %}{% endfor %}"),
        Limit::Iterations
    );
}

#[test]
fn output_and_values_are_bounded() {
    // tags.big is 600 KiB: twice is over the 1 MiB output.
    assert_eq!(limit("{{ tags.big }}{{ tags.big }}"), Limit::Output);
    assert_eq!(render("{{ tags.big | size }}").unwrap(), "614400");
    // Doubling a string in a loop stops at the value limit.
    assert_eq!(
        limit("{% assign s = \"ab\" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}"),
        Limit::Value
    );
    // replace and join are refused before they build a huge value.
    assert_eq!(
        limit("{{ tags.big | replace: \"x\", \"yyyy\" }}"),
        Limit::Value
    );
    assert_eq!(limit("{{ tags.big | replace: \"\", \"y\" }}"), Limit::Value);
    assert_eq!(
        limit("{% assign xs = tags.big | split: \"\" %}{{ xs | join: \"--\" }}"),
        Limit::Value
    );
    // A capture cannot grow past the value limit either.
    assert_eq!(
        limit("{% capture c %}{% for i in (1..3) %}{{ tags.big }}{% endfor %}{% endcapture %}"),
        Limit::Value
    );
}

#[test]
fn work_is_bounded() {
    // Each read of the 600 KiB tag costs its size: 200 reads pass 64 Mi.
    assert_eq!(
        limit("{% for i in (1..200) %}{% if tags.big == tags.big %}{% endif %}{% endfor %}"),
        Limit::Work
    );
}

#[test]
fn templates_are_bounded_in_size_and_nesting() {
    let e = Template::parse(&"a".repeat(64 * 1024 + 1)).unwrap_err();
    assert!(
        matches!(e, Error::TemplateTooLarge { bytes: 65537, .. }),
        "{e:?}"
    );
    Template::parse(&"a".repeat(64 * 1024)).unwrap();
    let deep = |n: usize| "{% if a %}".repeat(n) + &"{% endif %}".repeat(n);
    Template::parse(&deep(64)).unwrap();
    let e = Template::parse(&deep(65)).unwrap_err();
    assert!(e.to_string().contains("nested more than 64 deep"), "{e}");
    // The deepest nesting 64 KiB allows is refused, not a stack overflow.
    let e = Template::parse(&"{%if a%}".repeat(8000)).unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
}

#[test]
fn render_errors_name_the_cause_without_quoting_whole_values() {
    let e = render("{{ 1 | divided_by: 0 }}").unwrap_err();
    assert!(matches!(e, Error::Render { .. }), "{e:?}");
    assert!(!e.to_string().is_empty());
    // liquid's context quotes the filter's input: a 600 KiB tag here.
    let e = render("{{ tags.big | divided_by: 0 }}").unwrap_err();
    assert!(matches!(e, Error::Render { .. }), "{e:?}");
    assert!(e.to_string().len() < 2000, "{} bytes", e.to_string().len());
}

#[test]
fn engine_panics_become_errors() {
    let e = Template::parse("{{ 99999999999999999999 }}").unwrap_err();
    assert!(matches!(e, Error::Engine { .. }), "{e:?}");
    let e = Template::parse("{{ \"a\n{{\" }}{% \" }}");
    assert!(e.is_err(), "{e:?}");
    for t in [
        "{{ -9223372036854775808 | modulo: -1 }}",
        "{{ -9223372036854775808 | divided_by: -1 }}",
        "{% cycle \"a\": %}",
    ] {
        match Template::parse(t).and_then(|t| t.render(&context())) {
            Err(Error::Engine { .. } | Error::Render { .. } | Error::Parse { .. }) => {}
            other => panic!("{t}: {other:?}"),
        }
    }
}

#[test]
fn ranges_at_the_ends_of_i64_neither_overflow_nor_wrap() {
    assert_eq!(
        render("{% for i in (9223372036854775806..9223372036854775807) offset: 2 %}x{% endfor %}-")
            .unwrap(),
        "-"
    );
    assert_eq!(
        render("{% for i in (9223372036854775806..9223372036854775807) reversed %}{{ i }} {% endfor %}")
            .unwrap(),
        "9223372036854775807 9223372036854775806 "
    );
    assert_eq!(
        limit("{% for i in (-9223372036854775808..0) reversed %}{% endfor %}"),
        Limit::Iterations
    );
    assert_eq!(
        limit("{% for i in (-9223372036854775808..9223372036854775807) %}x{% endfor %}"),
        Limit::Iterations
    );
}

#[test]
fn deep_expressions_run_on_their_own_stack() {
    // 64 KiB allows ~21,000 levels of `a[…]` and ~12,000 `or` terms; liquid
    // recurses on both. Either answer is fine; a stack overflow is not.
    let n = 21_000;
    let deep = format!("{{{{ {}b{} }}}}", "a[".repeat(n), "]".repeat(n));
    assert!(deep.len() <= crate::MAX_TEMPLATE_BYTES);
    let _ = Template::parse(&deep).and_then(|t| t.render(&context()));
    let ors = format!("{{% if a{} %}}x{{% endif %}}", " or a".repeat(12_000));
    let t = Template::parse(&ors).unwrap();
    assert_eq!(t.render(&context()).unwrap(), "");
    let elsifs = format!("{{% if a %}}{}{{% endif %}}", "{% elsif a %}".repeat(4_000));
    let _ = Template::parse(&elsifs).and_then(|t| t.render(&context()));
}

#[test]
fn ifchanged_and_uniq_are_bounded_too() {
    let body = "x".repeat(1000);
    assert_eq!(
        limit(&format!(
            "{{%ifchanged%}}{{%for i in (1..10000)%}}{body}{{%endfor%}}{{%endifchanged%}}"
        )),
        Limit::Value
    );
    assert_eq!(
        render("{% for i in (1..3) %}{% ifchanged %}{{ i | divided_by: 2 }}{% endifchanged %}{% endfor %}")
            .unwrap(),
        "01"
    );
    // 300,000 one-character items: uniq would compare 9e10 pairs.
    assert_eq!(
        limit("{% assign xs = tags.big | slice: 0, 300000 | split: \"\" %}{{ xs | uniq | size }}"),
        Limit::Work
    );
}

#[test]
fn a_read_is_charged_once_however_deep_the_loops() {
    // 100 reads of the 600 KiB tag fit the budget, at any loop depth.
    let one = "{% for i in (1..100) %}{% if tags.big %}{% endif %}{% endfor %}ok";
    assert_eq!(render(one).unwrap(), "ok");
    let two =
        format!("{{% for j in (1..1) %}}{{% for k in (1..1) %}}{one}{{% endfor %}}{{% endfor %}}");
    assert_eq!(render(&two).unwrap(), "ok");
}

#[test]
fn parse_errors_point_at_their_line_and_column() {
    let at = |t: &str| match Template::parse(t).unwrap_err() {
        Error::Parse {
            line,
            column,
            reason,
        } => (line, column, reason),
        other => panic!("{other:?}"),
    };
    let (line, _, _) = at("a\nbb {{ x | }}");
    assert_eq!(line, 2);
    let (line, column, reason) = at("hello\nworld {% foo %}");
    assert_eq!((line, column), (2, 10), "{reason}");
    assert!(reason.contains("unknown tag \"foo\""), "{reason}");
    let (_, _, reason) = at("{% include 'x' %}");
    assert!(reason.contains("no partial templates"), "{reason}");
    let (line, column, _) = at("{{ a | date: \"%Y\" }}\n{{ b | date: \"%Y\", \"Mars/Base\" }}");
    assert_eq!((line, column), (2, 20));
}

#[test]
fn a_missing_value_stays_missing_through_any_filter_until_default() {
    assert_eq!(
        render("{{ tags.nope | times: 2 | default: 0 }}").unwrap(),
        "0"
    );
    assert_eq!(render("[{{ tags.nope | plus: 1 | round }}]").unwrap(), "[]");
    assert_eq!(
        render("{{ tags.nope | upcase | default: \"x\" }}").unwrap(),
        "x"
    );
}

#[test]
fn objects_render_in_a_fixed_order() {
    let t = "{% for pair in entry_event.data %}{{ pair[0] }}={{ pair[1] }};{% endfor %}|{% for p in tags %}{{ p[0] }} {% endfor %}";
    let mut c = context();
    if let Some(e) = &mut c.entry_event {
        e.data = (0..20)
            .map(|i| (format!("k{}", 20 - i), Value::Number(i as f64)))
            .collect();
    }
    let template = Template::parse(t).unwrap();
    let first = template.render(&c).unwrap();
    assert!(first.starts_with("k20=0;k19=1;"), "{first}");
    assert!(first.ends_with("|big point "), "{first}");
    for _ in 0..20 {
        assert_eq!(template.render(&c).unwrap(), first);
    }
}
