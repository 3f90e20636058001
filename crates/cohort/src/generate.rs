//! A synthetic, deterministic event stream for benchmarks and demos.
//!
//! [`generate`] writes track-API NDJSON (one event per line, the format
//! `cohort ingest` reads) shaped like a real app's traffic:
//!
//! - **Who.** Activity per subject follows a Zipf–Mandelbrot law
//!   (weight of the r-th most active subject ∝ 1 / (r + 50)): a few power
//!   users, a long tail with a handful of events each. About 15% of the
//!   events are device events (one device per two users, same law).
//! - **What.** A fixed mix of event types ([`EVENT_MIX`]), the automatic
//!   `@` types included — so the output must be ingested as the platform
//!   (`cohort ingest --system`). Data carries numbers (`amount`, `price`),
//!   strings (`productId`, `category`, `plan`, …), booleans (`vip`),
//!   string arrays (`tags`) and times (`expiresAt`, written with a `+09:00`
//!   offset).
//!   Subjects join over time: 60% exist when the history starts, the rest
//!   arrive at uniform moments of it and act only after they joined.
//! - **When.** Timestamps spread evenly over `days` days ending (exclusive)
//!   at `end`, in non-decreasing order, as a live stream would arrive.
//! - **Profiles** (with [`GenOptions::profiles`]). After about 4% of the
//!   events, a track request line changes the same subject's tags at the
//!   same instant: `plan` set (`free`, `pro`, `team`) or deleted (`null`),
//!   `point` (a number), `cart_at` (a time up to a day after). After about
//!   1% of the user events, a line sets the user's attributes: `dob`,
//!   `timeZone` and `country` (and `language` for some). Without the
//!   option the output is the same bytes as before profiles existed.
//!
//! The output depends only on the options: events are produced in fixed
//! chunks, chunk `i` from its own generator seeded by `(seed, i)`, so the
//! bytes are the same whatever the number of threads.

use std::io::{self, Write};

use rayon::prelude::*;

/// Event types and their share of the stream (weights, not percentages).
pub const EVENT_MIX: [(&str, u32); 10] = [
    ("app_open", 250),
    ("view_item", 240),
    ("search", 100),
    ("add_to_cart", 80),
    ("purchase", 40),
    ("signup", 5),
    ("@clicked", 75),
    ("@iam_displayed", 120),
    ("@iam_clicked", 40),
    ("@iam_closed", 50),
];

/// Product categories, most frequent first.
const CATEGORIES: [&str; 8] = [
    "books",
    "games",
    "toys",
    "music",
    "electronics",
    "home",
    "beauty",
    "sports",
];

const TAGS: [&str; 8] = [
    "games", "new", "sale", "kids", "gift", "top", "retro", "indie",
];

const PLATFORMS: [&str; 3] = ["ios", "android", "web"];
const PLANS: [&str; 3] = ["free", "pro", "team"];

/// The Zipf–Mandelbrot offset: keeps the most active subject at a fraction
/// of a percent of the traffic rather than several percent.
const ZIPF_OFFSET: f64 = 50.0;

/// Events per generation chunk (the unit of determinism and parallelism).
const CHUNK_EVENTS: u64 = 1 << 16;

/// Share of device events, in per mille.
const DEVICE_PER_MILLE: u32 = 150;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Number of users (at least 1).
    pub users: u32,
    /// Number of events.
    pub events: u64,
    /// Days of history (at least 1).
    pub days: u32,
    /// The seed: same options, same bytes.
    pub seed: u64,
    /// Unix milliseconds the history ends at (every event is earlier).
    pub end: i64,
    /// Also write tag and attribute changes (track request lines).
    pub profiles: bool,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenReport {
    /// Events written.
    pub events: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why the options cannot be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
    /// Writing the output failed.
    #[error("writing the events: {0}")]
    Io(#[from] io::Error),
}

/// A sampler of subject ranks from the Zipf–Mandelbrot law, mapped to ids
/// by a seeded shuffle (so the busiest user is not always `u1`).
///
/// Subjects arrive over time like a growing app's: 60% exist before the
/// history starts, the others join at a uniform moment of it, and a
/// subject is never drawn before it joined.
struct Population {
    cumulative: Vec<f64>,
    ids: Vec<u32>,
    joined: Vec<i64>,
}

/// Share of subjects that exist before the history starts.
const EXISTING_SHARE: f64 = 0.6;

impl Population {
    fn new(n: u32, seed: u64, start: i64, span: i64) -> Population {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                total += 1.0 / (f64::from(r) + 1.0 + ZIPF_OFFSET);
                total
            })
            .collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut ids: Vec<u32> = (1..=n).collect();
        rng.shuffle(&mut ids);
        let joined = (0..n)
            .map(|r| {
                let u = rng.f64();
                if r == 0 || u < EXISTING_SHARE {
                    i64::MIN
                } else {
                    start + (span as f64 * (u - EXISTING_SHARE) / (1.0 - EXISTING_SHARE)) as i64
                }
            })
            .collect();
        Population {
            cumulative,
            ids,
            joined,
        }
    }

    /// A subject that has joined by `t`: drawn by activity, redrawn when
    /// not yet there (the busiest subject always is, so this ends).
    fn sample(&self, rng: &mut fastrand::Rng, t: i64) -> u32 {
        let total = *self.cumulative.last().expect("at least one subject");
        for _ in 0..32 {
            let x = rng.f64() * total;
            let rank = self
                .cumulative
                .partition_point(|&c| c <= x)
                .min(self.ids.len() - 1);
            if self.joined[rank] <= t {
                return self.ids[rank];
            }
        }
        self.ids[0]
    }
}

/// Writes `options.events` events as NDJSON to `out`, calling `progress`
/// with the number written so far after each batch of chunks.
pub fn generate(
    options: &GenOptions,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<GenReport, GenError> {
    if options.users == 0 {
        return Err(GenError::Invalid("--users must be at least 1".into()));
    }
    if options.days == 0 {
        return Err(GenError::Invalid("--days must be at least 1".into()));
    }
    let span = i64::from(options.days) * 86_400_000;
    let in_range = |t: i64| (cohort_event::MIN_MILLIS..=cohort_event::MAX_MILLIS).contains(&t);
    let start = options
        .end
        .checked_sub(span)
        .filter(|&s| in_range(s) && in_range(options.end));
    let Some(start) = start else {
        return Err(GenError::Invalid(
            "--end and --days must keep every event between the years 0000 and 9999".into(),
        ));
    };
    let users = Population::new(options.users, options.seed ^ 0x5553_4552, start, span);
    let devices = Population::new(
        options.users.div_ceil(2),
        options.seed ^ 0x4445_5649,
        start,
        span,
    );
    let mix_total: u32 = EVENT_MIX.iter().map(|(_, w)| w).sum();
    let ctx = Context {
        users,
        devices,
        mix_total,
        start,
        span,
        total: options.events,
        seed: options.seed,
        profiles: options.profiles,
    };
    let chunks = options.events.div_ceil(CHUNK_EVENTS);
    // A wave of chunks is built in parallel, then written in order: memory
    // stays at a few chunks whatever the size of the output.
    let wave = (rayon::current_num_threads() as u64 * 2).max(2);
    let mut report = GenReport {
        events: 0,
        bytes: 0,
    };
    let mut first = 0;
    while first < chunks {
        let last = (first + wave).min(chunks);
        let bufs: Vec<Vec<u8>> = (first..last)
            .into_par_iter()
            .map(|c| ctx.chunk(c))
            .collect();
        for (c, buf) in (first..last).zip(bufs) {
            out.write_all(&buf)?;
            report.bytes += buf.len() as u64;
            report.events = ((c + 1) * CHUNK_EVENTS).min(options.events);
        }
        progress(report.events);
        first = last;
    }
    out.flush()?;
    Ok(report)
}

struct Context {
    users: Population,
    devices: Population,
    mix_total: u32,
    start: i64,
    span: i64,
    total: u64,
    seed: u64,
    profiles: bool,
}

impl Context {
    fn chunk(&self, c: u64) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(
            self.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(c.wrapping_mul(0xD1B5_4A32_D192_ED03)),
        );
        let lo = c * CHUNK_EVENTS;
        let hi = (lo + CHUNK_EVENTS).min(self.total);
        let mut buf = Vec::with_capacity((hi - lo) as usize * 190);
        let mut day = Day::default();
        // Profile lines draw from their own generator: the events are the
        // same bytes with or without them.
        let mut profile_rng = fastrand::Rng::with_seed(
            (self.seed ^ 0x5052_4f46_494c_4553)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(c.wrapping_mul(0xD1B5_4A32_D192_ED03)),
        );
        for i in lo..hi {
            // Event i sits at a uniform point of its own slice of the span:
            // times never decrease and never reach `end`.
            let slot = (i as f64 + rng.f64()) / self.total as f64;
            let t = self.start + ((self.span as f64 * slot) as i64).min(self.span - 1);
            self.event(&mut rng, &mut profile_rng, t, &mut day, &mut buf);
        }
        buf
    }

    fn event(
        &self,
        rng: &mut fastrand::Rng,
        profile_rng: &mut fastrand::Rng,
        t: i64,
        day: &mut Day,
        buf: &mut Vec<u8>,
    ) {
        let device = rng.u32(0..1000) < DEVICE_PER_MILLE;
        let (kind, prefix, id) = if device {
            ("device", 'd', self.devices.sample(rng, t))
        } else {
            ("user", 'u', self.users.sample(rng, t))
        };
        let mut pick = rng.u32(0..self.mix_total);
        let mut ty = EVENT_MIX[0].0;
        for (name, w) in EVENT_MIX {
            if pick < w {
                ty = name;
                break;
            }
            pick -= w;
        }
        let _ = write!(
            buf,
            r#"{{"subjectType":"{kind}","subjectId":"{prefix}{id}","type":"{ty}","createdAt":""#
        );
        day.write_time(buf, t, 0);
        buf.extend_from_slice(br#"","data":{"#);
        self.data(rng, ty, t, day, buf);
        buf.extend_from_slice(b"}}\n");
        if self.profiles {
            profile_lines(profile_rng, kind, prefix, id, t, day, buf);
        }
    }

    fn data(&self, rng: &mut fastrand::Rng, ty: &str, t: i64, day: &mut Day, buf: &mut Vec<u8>) {
        let category = |rng: &mut fastrand::Rng| CATEGORIES[skewed(rng, CATEGORIES.len())];
        let product = |rng: &mut fastrand::Rng| rng.u32(1..=5000);
        match ty {
            "app_open" => {
                let _ = write!(
                    buf,
                    r#""platform":"{}""#,
                    PLATFORMS[rng.usize(..PLATFORMS.len())]
                );
            }
            "view_item" | "add_to_cart" => {
                let _ = write!(
                    buf,
                    r#""productId":"p{}","category":"{}","price":{}"#,
                    product(rng),
                    category(rng),
                    amount(rng)
                );
            }
            "purchase" => {
                let _ = write!(
                    buf,
                    r#""productId":"p{}","category":"{}","amount":{},"vip":{}"#,
                    product(rng),
                    category(rng),
                    amount(rng),
                    rng.u32(0..10) == 0
                );
            }
            "search" => {
                let _ = write!(buf, r#""query":"q{}","tags":["#, rng.u32(1..=500));
                for k in 0..rng.usize(0..=3) {
                    if k > 0 {
                        buf.push(b',');
                    }
                    let _ = write!(buf, r#""{}""#, TAGS[skewed(rng, TAGS.len())]);
                }
                buf.push(b']');
            }
            "signup" => {
                let _ = write!(
                    buf,
                    r#""plan":"{}","vip":{},"expiresAt":""#,
                    PLANS[rng.usize(..PLANS.len())],
                    rng.u32(0..5) == 0
                );
                day.write_time(buf, t + i64::from(rng.u32(1..=365)) * 86_400_000, 9);
                buf.push(b'"');
            }
            "@clicked" => {
                let _ = write!(
                    buf,
                    r#""campaignId":"c{}","channel":"push""#,
                    rng.u32(1..=40)
                );
            }
            _ => {
                let _ = write!(buf, r#""messageId":"m{}""#, rng.u32(1..=120));
            }
        }
    }
}

/// An index in `0..n`, lower ones more often (each about twice as likely
/// as the one after it, the last two alike).
const TIME_ZONES: [&str; 6] = [
    "Asia/Seoul",
    "America/Los_Angeles",
    "Europe/Berlin",
    "UTC",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
];
const COUNTRIES: [&str; 6] = ["KR", "US", "DE", "GB", "JP", "KI"];
const LANGUAGES: [&str; 5] = ["ko", "en", "de", "en", "ja"];

/// The profile lines after one event of subject `{prefix}{id}` at `t`.
fn profile_lines(
    rng: &mut fastrand::Rng,
    kind: &str,
    prefix: char,
    id: u32,
    t: i64,
    day: &mut Day,
    buf: &mut Vec<u8>,
) {
    if rng.u32(0..100) < 4 {
        let _ = write!(
            buf,
            r#"{{"tags":[{{"subjectType":"{kind}","subjectId":"{prefix}{id}","createdAt":""#
        );
        day.write_time(buf, t, 0);
        buf.extend_from_slice(br#"","tags":{"#);
        match rng.u32(0..100) {
            0..50 => {
                let _ = write!(buf, r#""plan":"{}""#, PLANS[skewed(rng, PLANS.len())]);
            }
            50..60 => buf.extend_from_slice(br#""plan":null"#),
            60..85 => {
                let _ = write!(buf, r#""point":{}"#, rng.u32(0..100) * 50);
            }
            _ => {
                buf.extend_from_slice(br#""cart_at":""#);
                day.write_time(buf, t + rng.i64(0..86_400_000), 0);
                buf.push(b'"');
            }
        }
        buf.extend_from_slice(b"}}]}\n");
    }
    if prefix == 'u' && rng.u32(0..100) < 1 {
        let (year, month, mday) = (rng.i32(1950..2011), rng.u32(1..=12), rng.u32(1..=28));
        let place = rng.usize(0..TIME_ZONES.len());
        let _ = write!(
            buf,
            r#"{{"userAttributes":[{{"userId":"u{id}","createdAt":""#
        );
        day.write_time(buf, t, 0);
        let _ = write!(
            buf,
            r#"","dob":"{year:04}-{month:02}-{mday:02}","timeZone":"{}","country":"{}""#,
            TIME_ZONES[place], COUNTRIES[place]
        );
        if rng.bool() {
            let _ = write!(
                buf,
                r#","language":"{}""#,
                LANGUAGES[place % LANGUAGES.len()]
            );
        }
        buf.extend_from_slice(b"}]}\n");
    }
}

fn skewed(rng: &mut fastrand::Rng, n: usize) -> usize {
    let bits = rng.u32(..) | (1 << (n - 1));
    (bits.trailing_zeros() as usize).min(n - 1)
}

/// A money amount in cents: log-uniform from 5.00 to 2,000.00, so that
/// most purchases are small and a few are large. Whole numbers, so sums
/// are exact in every engine.
fn amount(rng: &mut fastrand::Rng) -> u64 {
    (500.0 * 400f64.powf(rng.f64())) as u64
}

/// Formats times fast: the date part is computed once per day.
#[derive(Default)]
struct Day {
    /// (day number at the offset, `YYYY-MM-DD`).
    cached: Option<(i64, String)>,
}

impl Day {
    /// Writes `t` as RFC 3339 with milliseconds, at `offset_hours` east of
    /// UTC (`Z` when 0).
    fn write_time(&mut self, buf: &mut Vec<u8>, t: i64, offset_hours: i64) {
        let local = t + offset_hours * 3_600_000;
        let d = local.div_euclid(86_400_000);
        if self.cached.as_ref().is_none_or(|(day, _)| *day != d) {
            let date = cohort_event::format_millis(d * 86_400_000)[..10].to_string();
            self.cached = Some((d, date));
        }
        let date = &self.cached.as_ref().expect("just cached").1;
        let ms = local.rem_euclid(86_400_000);
        let _ = write!(
            buf,
            "{date}T{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
        if offset_hours == 0 {
            buf.push(b'Z');
        } else {
            let _ = write!(buf, "+{offset_hours:02}:00");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(options: &GenOptions) -> Vec<u8> {
        let mut out = Vec::new();
        generate(options, &mut out, &mut |_| {}).unwrap();
        out
    }

    fn options() -> GenOptions {
        GenOptions {
            profiles: false,
            users: 1000,
            events: 200_000,
            days: 30,
            seed: 7,
            end: 1_767_225_600_000, // 2026-01-01T00:00:00Z
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = run(&options());
        assert_eq!(a, run(&options()));
        let b = run(&GenOptions {
            seed: 8,
            ..options()
        });
        assert_ne!(a, b);
    }

    #[test]
    fn every_line_is_a_valid_event_in_time_order_before_end() {
        let o = options();
        let out = run(&o);
        let text = std::str::from_utf8(&out).unwrap();
        let mut last = i64::MIN;
        let mut devices = 0;
        let mut types = std::collections::HashMap::new();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, o.events);
        for line in &lines {
            let event = cohort_event::parse_event(line.as_bytes(), cohort_event::Source::System)
                .unwrap_or_else(|e| panic!("{line}: {e:?}"));
            let t = event.time.expect("every event has createdAt");
            assert!(t >= last, "time order at {line}");
            assert!(t < o.end && t >= o.end - 30 * 86_400_000);
            last = t;
            devices += usize::from(event.subject_kind == cohort_event::SubjectKind::Device);
            *types.entry(event.event_type.clone()).or_insert(0usize) += 1;
        }
        // About 15% devices; every listed type present.
        let share = devices as f64 / lines.len() as f64;
        assert!((0.13..0.17).contains(&share), "device share {share}");
        for (name, _) in EVENT_MIX {
            assert!(types.contains_key(name), "{name} missing");
        }
    }

    #[test]
    fn profiles_add_valid_request_lines_and_leave_the_events_as_they_were() {
        let plain = run(&options());
        let with = run(&GenOptions {
            profiles: true,
            ..options()
        });
        let text = std::str::from_utf8(&with).unwrap();
        let (mut events, mut tags, mut attributes) = (Vec::new(), 0, 0);
        let mut plan_deletes = 0;
        for line in text.lines() {
            match cohort_event::parse_line(
                line.as_bytes(),
                cohort_event::Source::System,
                i64::MAX / 4,
            )
            .unwrap_or_else(|e| panic!("{line}: {e:?}"))
            {
                cohort_event::Line::Event(_) => events.push(line),
                cohort_event::Line::Request(r) => {
                    tags += r.tags.len();
                    attributes += r.attributes.len();
                    plan_deletes += r
                        .tags
                        .iter()
                        .filter(|t| t.tags.iter().any(|(k, v)| k == "plan" && v.is_none()))
                        .count();
                    assert!(r.events.is_empty());
                }
            }
        }
        // The same events, byte for byte.
        let plain: Vec<&str> = std::str::from_utf8(&plain).unwrap().lines().collect();
        assert_eq!(events, plain);
        // About 4% tag changes, 1% of user events with attributes.
        let n = plain.len() as f64;
        assert!(
            (0.03..0.05).contains(&(tags as f64 / n)),
            "{tags} tag changes"
        );
        assert!(
            (0.005..0.015).contains(&(attributes as f64 / n)),
            "{attributes}"
        );
        assert!(plan_deletes > 0, "deletes too");
    }

    #[test]
    fn activity_is_heavy_tailed() {
        let o = options();
        let out = run(&o);
        let mut per_user = std::collections::HashMap::new();
        for line in std::str::from_utf8(&out).unwrap().lines() {
            let e =
                cohort_event::parse_event(line.as_bytes(), cohort_event::Source::System).unwrap();
            if e.subject_kind == cohort_event::SubjectKind::User {
                *per_user.entry(e.subject_id).or_insert(0u64) += 1;
            }
        }
        let mut counts: Vec<u64> = per_user.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top = counts[..counts.len() / 100].iter().sum::<u64>();
        let total = counts.iter().sum::<u64>();
        // The busiest 1% of users send far more than 1% of the events.
        assert!(top * 100 / total >= 5, "top 1% sent {top} of {total}");
        assert!(counts[0] > 8 * counts[counts.len() / 2]);
    }

    #[test]
    fn some_users_first_appear_late() {
        let o = options();
        let out = run(&o);
        let mut first = std::collections::HashMap::new();
        for line in std::str::from_utf8(&out).unwrap().lines() {
            let e =
                cohort_event::parse_event(line.as_bytes(), cohort_event::Source::System).unwrap();
            first.entry(e.subject_id).or_insert(e.time.unwrap());
        }
        let late = first
            .values()
            .filter(|&&t| t >= o.end - 7 * 86_400_000)
            .count();
        // Users who joined in the last week of a 30-day history.
        assert!(late * 100 >= first.len(), "{late} of {}", first.len());
    }

    #[test]
    fn data_has_every_value_kind_with_offsets() {
        let out = run(&options());
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains(r#""tags":["#));
        assert!(text.contains(r#""vip":true"#));
        assert!(text.contains("+09:00\""));
        let signup = text.lines().find(|l| l.contains("\"signup\"")).unwrap();
        let e = cohort_event::parse_event(signup.as_bytes(), cohort_event::Source::System).unwrap();
        let expires = e.data.iter().find(|(k, _)| k == "expiresAt").unwrap();
        assert!(matches!(&expires.1, cohort_event::Value::Time(t) if t.offset_minutes == 540));
    }

    #[test]
    fn bad_options_are_refused() {
        let mut sink = Vec::new();
        let err = generate(
            &GenOptions {
                users: 0,
                ..options()
            },
            &mut sink,
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "--users must be at least 1");
        let err = generate(
            &GenOptions {
                end: i64::MIN / 2,
                ..options()
            },
            &mut sink,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("years 0000 and 9999"));
    }
}
