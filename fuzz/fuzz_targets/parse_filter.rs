//! Parsing any text never panics (nor overflows the stack).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cohort_filter::parse(text);
    }
});
