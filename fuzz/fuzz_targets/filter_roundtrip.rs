//! Whatever parses prints back as text that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(tree) = cohort_filter::parse(text) else { return };
    let printed = tree.to_string();
    let again = cohort_filter::parse(&printed).unwrap_or_else(|e| panic!("{printed}\n{e}"));
    assert_eq!(again, tree, "{printed}");
});
