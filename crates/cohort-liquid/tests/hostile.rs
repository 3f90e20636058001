//! Random templates built from hostile parts (huge ranges, nested loops,
//! growing captures and assigns, amplifying filters) never panic, and a
//! render ends with at most 1 MiB or an error naming a limit.

use std::collections::BTreeMap;

use cohort_event::Value;
use cohort_liquid::{Context, Error, Template, MAX_OUTPUT_BYTES};
use proptest::prelude::*;

/// Statements that fit anywhere.
const LEAVES: &[&str] = &[
    "{% assign s = s | append: tags.big %}",
    "{% assign s = tags.big | replace: \"x\", tags.big %}",
    "{% assign xs = tags.big | split: \"\" %}",
    "{{ xs | join: tags.big }}",
    "{{ s }}",
    "{{ c }}",
    "{{ tags.big }}",
    "{{ tags.big | upcase | reverse | size }}",
    "{{ i | plus: j | times: 1000000 }}",
    "{% break %}",
    "{% continue %}",
    "{% cycle 'a', 'b' %}",
    "{% increment n %}",
    "{{ 'now' | date: '%Y-%m-%d %H:%M:%S %Z' }}",
    "{{ forloop.parentloop.index }}",
    "text ",
    "{% raw %}{{ not rendered }}{% endraw %}",
    "{{ missing.deep | default: 'd' }}",
    "{% case tags.plan %}{% when 'pro' %}P{% else %}F{% endcase %}",
];

/// Blocks: what opens one and what closes it.
const BLOCKS: &[(&str, &str)] = &[
    ("{% for i in (1..100000) %}", "{% endfor %}"),
    ("{% for j in (-5..5) reversed %}", "{% endfor %}"),
    ("{% for x in tags.list limit: 500 %}", "{% endfor %}"),
    ("{% tablerow t in tags.list cols: 3 %}", "{% endtablerow %}"),
    ("{% if tags.big == tags.big %}", "{% endif %}"),
    ("{% unless s %}", "{% endunless %}"),
    ("{% capture c %}", "{% endcapture %}"),
];

fn template() -> impl Strategy<Value = String> {
    let leaf = (0..LEAVES.len()).prop_map(|i| LEAVES[i].to_owned());
    leaf.prop_recursive(5, 64, 6, |inner| {
        (0..BLOCKS.len(), proptest::collection::vec(inner, 0..6)).prop_map(|(b, body)| {
            let (open, close) = BLOCKS[b];
            format!("{open}{}{close}", body.concat())
        })
    })
}

fn context() -> Context {
    let mut tags = BTreeMap::new();
    tags.insert("big".to_owned(), Value::String("x".repeat(300 * 1024)));
    tags.insert("plan".to_owned(), Value::String("pro".into()));
    tags.insert(
        "list".to_owned(),
        Value::Strings((0..2000).map(|i| format!("item{i}")).collect()),
    );
    Context {
        tags,
        now: 1_780_000_000_000,
        ..Context::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn hostile_templates_end_bounded(parts in proptest::collection::vec(template(), 1..4)) {
        let text = parts.concat();
        // Every template built here is valid Liquid; only the nesting bound may refuse one.
        let template = match Template::parse(&text) {
            Ok(t) => t,
            Err(e) => {
                prop_assert!(e.to_string().contains("nested more than"), "{text}: {e}");
                return Ok(());
            }
        };
        match template.render(&context()) {
            Ok(out) => prop_assert!(out.len() <= MAX_OUTPUT_BYTES),
            Err(Error::Limit(_) | Error::Render { .. }) => {}
            Err(e) => prop_assert!(false, "{text}: unexpected {e:?}"),
        }
    }
}
