//! Windows and `now`, resolved to inclusive millisecond bounds.

use cohort_filter::Window;

/// The inclusive time range `[lo, hi]` a window selects at `now`
/// (`hi` never exceeds `now`: later events do not exist for a filter).
/// An empty range has `lo > hi`.
pub fn bounds(window: Option<&Window>, now: i64) -> (i64, i64) {
    match window {
        None => (i64::MIN, now),
        Some(Window::Last(d)) => (now.saturating_sub(d.millis()), now),
        Some(Window::Since(t)) => (t.resolve(now), now),
        // `between T1 and T2` is half-open: T1 ≤ t < T2.
        Some(Window::Between(a, b)) => (a.resolve(now), b.resolve(now).saturating_sub(1).min(now)),
    }
}

/// The UTC calendar day of a timestamp (days since 1970-01-01).
pub fn utc_day(millis: i64) -> i64 {
    millis.div_euclid(86_400_000)
}
