//! Event validation never panics, whatever the bytes; and an accepted
//! event obeys the limits of docs/events.md.
#![no_main]

use cohort_event::{parse_event, Source, Value, MAX_KEYS, MAX_SUBJECT_ID_BYTES, MAX_TYPE_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for source in [Source::Client, Source::System] {
        match parse_event(data, source) {
            Ok(event) => {
                assert!(!event.subject_id.is_empty() && event.subject_id.len() <= MAX_SUBJECT_ID_BYTES);
                assert!(!event.event_type.is_empty() && event.event_type.len() <= MAX_TYPE_BYTES);
                assert!(event.data.len() <= MAX_KEYS);
                assert!(source == Source::System || !event.is_automatic());
                for (_, v) in &event.data {
                    if let Value::Number(x) = v {
                        assert!(x.is_finite());
                    }
                }
            }
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
});
