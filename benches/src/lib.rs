//! Shared inputs for cohort's benchmarks.

use std::io::Read;

/// The CDNOW sample (69,659 events), decompressed.
pub fn cdnow_ndjson() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/cdnow.ndjson.gz");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("testdata/cdnow.ndjson.gz"))
        .read_to_end(&mut out)
        .expect("a readable gzip file");
    out
}

/// The sample repeated `times` times with distinct customer ids per copy,
/// for inputs large enough to reach steady state.
pub fn cdnow_repeated(times: usize) -> Vec<u8> {
    let one = cdnow_ndjson();
    let text = std::str::from_utf8(&one).expect("UTF-8");
    let mut out = Vec::with_capacity(one.len() * times + times * 70_000);
    for copy in 0..times {
        for line in text.lines() {
            out.extend_from_slice(
                line.replacen("\"subjectId\":\"", &format!("\"subjectId\":\"{copy}-"), 1)
                    .as_bytes(),
            );
            out.push(b'\n');
        }
    }
    out
}

/// Number of events in the CDNOW sample.
pub const CDNOW_EVENTS: u64 = 69_659;

/// Ingests NDJSON bytes into `store` with default options, ignoring
/// progress and rejects.
pub fn ingest_quietly(store: &cohort::Store, input: &[u8]) -> cohort::ingest::IngestReport {
    cohort::ingest::ingest_reader(
        store,
        "bench",
        input,
        &cohort::ingest::IngestOptions::default(),
        &mut cohort::ingest::Observer {
            on_reject: &mut |_| {},
            on_progress: &mut |_| {},
        },
    )
    .expect("ingest")
}
