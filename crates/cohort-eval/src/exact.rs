//! Sums that do not depend on the order of their terms.
//!
//! Floating-point addition is not associative: added in one order,
//! 2^53 + 1 + 1 is 2^53; in another, 2^53 + 2. The evaluator splits a scan
//! across threads and the reference evaluator adds in time order, so a sum
//! must not depend on order. Every `sum` and `avg` is therefore the exact
//! sum of its terms, rounded once to the nearest `f64`.
//!
//! The fast path keeps, per subject, the sum in 64.64 fixed point in an
//! `i128`: a term that is a multiple of 2^-64 below 2^62 in magnitude (an
//! amount, a price with cents, a count, most of what data holds) is added
//! exactly, and integers commute. A term that is not, or an addition that
//! would overflow, goes to a side list that [`fsum`] adds exactly with the
//! fixed part at the end. Only sums whose terms overflow `f64`'s range
//! (past ±1.7e308) are not exact: they become ±∞ or not a number, which no
//! comparison holds for.

/// Scale of the fixed-point part: 64 fractional bits.
const SCALE: f64 = 18_446_744_073_709_551_616.0; // 2^64
/// Largest magnitude (scaled) a term may have to enter the fixed part.
const LIMIT: f64 = 85_070_591_730_234_615_865_843_651_857_942_052_864.0; // 2^126

/// `x` in 64.64 fixed point, if it is exactly representable there.
pub(crate) fn to_fixed(x: f64) -> Option<i128> {
    let scaled = x * SCALE;
    (scaled.abs() < LIMIT && scaled.trunc() == scaled).then_some(scaled as i128)
}

/// A fixed-point sum as `f64`s whose exact total it is (for [`fsum`]).
pub(crate) fn fixed_parts(v: i128) -> [f64; 3] {
    // Three 43-bit limbs of the magnitude: each is exact in an f64, and so
    // is each times a power of two.
    let sign = if v < 0 { -1.0 } else { 1.0 };
    let m = v.unsigned_abs();
    let limb = |shift: u32| ((m >> shift) & ((1u128 << 43) - 1)) as f64 * sign;
    let p = |e: i32| 2f64.powi(e);
    [
        limb(86) * p(86 - 64),
        limb(43) * p(43 - 64),
        limb(0) * p(-64),
    ]
}

/// The fixed-point sum rounded to the nearest `f64` (the cast rounds to
/// nearest; the power-of-two scale is exact).
pub(crate) fn fixed_to_f64(v: i128) -> f64 {
    v as f64 / SCALE
}

/// The exact sum of `values`, rounded once to the nearest `f64` (ties to
/// even): Shewchuk's algorithm, as in Python's `math.fsum`.
pub fn fsum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for mut x in values {
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    let Some(mut n) = partials.len().checked_sub(1) else {
        return 0.0;
    };
    let mut hi = partials[n];
    if !hi.is_finite() {
        return hi;
    }
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    // Round half to even across the partials below.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi + 0.0
}

/// Per-subject exact sums (the `sum` and `avg` accumulators).
pub(crate) struct Sums {
    pub fixed: Vec<i128>,
    /// Terms (or overflowed parts) outside the fixed part, by subject.
    pub rest: Vec<(u32, f64)>,
}

impl Sums {
    pub fn new(subjects: usize) -> Sums {
        Sums {
            fixed: vec![0; subjects],
            rest: Vec::new(),
        }
    }

    pub fn add(&mut self, subject: u32, x: f64) {
        let slot = &mut self.fixed[subject as usize];
        match to_fixed(x).and_then(|f| slot.checked_add(f)) {
            Some(sum) => *slot = sum,
            None => self.rest.push((subject, x)),
        }
    }

    pub fn merge(&mut self, other: Sums) {
        for (s, (a, b)) in self.fixed.iter_mut().zip(other.fixed).enumerate() {
            match a.checked_add(b) {
                Some(sum) => *a = sum,
                None => self
                    .rest
                    .extend(fixed_parts(b).map(|part| (s as u32, part))),
            }
        }
        self.rest.extend(other.rest);
    }

    /// Each subject's sum, rounded once.
    pub fn finish(mut self) -> Vec<f64> {
        let mut out: Vec<f64> = self.fixed.iter().map(|&v| fixed_to_f64(v)).collect();
        if self.rest.is_empty() {
            return out;
        }
        self.rest.sort_unstable_by_key(|r| r.0);
        for group in self.rest.chunk_by(|a, b| a.0 == b.0) {
            let s = group[0].0 as usize;
            let terms = fixed_parts(self.fixed[s])
                .into_iter()
                .chain(group.iter().map(|(_, x)| *x));
            out[s] = fsum(terms);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_change_a_sum() {
        let big = 9_007_199_254_740_992.0; // 2^53
        assert_eq!(fsum([big, 1.0, 1.0]), big + 2.0);
        assert_eq!(fsum([1.0, 1.0, big]), big + 2.0);
        assert_eq!(fsum([0.1, 0.2, 0.3]), 0.6);
        assert_eq!(fsum([]), 0.0);
        assert_eq!(fsum([-0.0]), 0.0);
        assert_eq!(fsum([1e-300, 1.0, -1.0]), 1e-300);
    }

    #[test]
    fn fixed_and_side_terms_give_the_exact_sum_in_any_split() {
        let terms = [
            9_007_199_254_740_992.0,
            1.0,
            1.0,
            0.1,
            1e-30,
            -3.5,
            1e40,
            -1e40,
            19.99,
        ];
        let want = fsum(terms);
        for split in 0..=terms.len() {
            let mut a = Sums::new(1);
            let mut b = Sums::new(1);
            terms[..split].iter().for_each(|&x| a.add(0, x));
            terms[split..].iter().rev().for_each(|&x| b.add(0, x));
            b.merge(a);
            assert_eq!(b.finish()[0], want, "split at {split}");
        }
        assert!(to_fixed(1e-30).is_none() && to_fixed(1e40).is_none());
        assert_eq!(to_fixed(19.5), Some(39 << 63));
    }

    #[test]
    fn fixed_parts_add_up_to_the_fixed_value() {
        for v in [0i128, 1, -1, 12345 << 64, i128::MAX >> 2, -(i128::MAX >> 2)] {
            let parts = fixed_parts(v);
            assert_eq!(fsum(parts), fixed_to_f64(v), "{v}");
        }
    }
}
