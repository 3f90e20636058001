//! Track-request validation never panics; an accepted request holds 1 to
//! 100 events.
#![no_main]

use cohort_event::{parse_track_request, Source, MAX_REQUEST_EVENTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = parse_track_request(data, Source::Client) {
        assert!((1..=MAX_REQUEST_EVENTS).contains(&events.len()));
    }
});
