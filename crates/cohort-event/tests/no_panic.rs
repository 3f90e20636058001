//! Validation never panics: random bytes, and valid events with random
//! bytes spliced in. (The fuzz targets in `fuzz/` run this for longer.)

use cohort_event::{parse_event, parse_line, parse_track_request, Source};

const NOW: i64 = 1_800_000_000_000;
use proptest::prelude::*;

const VALID: &str = r#"{"subjectType":"user","subjectId":"u1","type":"purchase","data":{"amount":10000,"t":"2024-04-19T14:23:56+09:00","tags":["a","b"],"n":[1,2.5],"z":null,"b":true},"createdAt":"2024-04-19T14:23:56+09:00"}"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_event(&bytes, Source::Client);
        let _ = parse_track_request(&bytes, Source::System, NOW);
        let _ = parse_line(&bytes, Source::Client, NOW);
    }

    #[test]
    fn spliced_events(at in 0usize..VALID.len(), cut in 0usize..20, insert in "[\\[\\]{}\":,0-9a-z@\\\\ .eE+-]{0,12}") {
        let mut s = VALID.as_bytes().to_vec();
        let end = (at + cut).min(s.len());
        s.splice(at..end, insert.bytes());
        let _ = parse_event(&s, Source::Client);
        let mut body = b"{\"events\":[".to_vec();
        body.extend_from_slice(&s);
        body.extend_from_slice(b"]}");
        let _ = parse_track_request(&body, Source::Client, NOW);
    }
}
