//! Track-request and bulk-line validation never panic; an accepted request
//! holds 1 to 100 items in each group it has.
#![no_main]

use cohort_event::{parse_line, parse_track_request, Source, MAX_GROUP_ITEMS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    const NOW: i64 = 1_800_000_000_000;
    if let Ok(request) = parse_track_request(data, Source::Client, NOW) {
        assert!(!request.is_empty());
        for n in [request.events.len(), request.tags.len(), request.attributes.len()] {
            assert!(n <= MAX_GROUP_ITEMS);
        }
    }
    let _ = parse_line(data, Source::System, NOW);
});
