//! Small formatting helpers for people.

/// `69659` → `69,659`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second, rounded for reading.
pub(crate) fn per_second(count: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return "-".into();
    }
    thousands((count as f64 / seconds).round() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(69_659), "69,659");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
    }
}
