//! Sums that do not depend on the order of their terms.
//!
//! Floating-point addition is not associative: added in one order,
//! 2^53 + 1 + 1 is 2^53; in another, 2^53 + 2. The evaluator splits a scan
//! across threads and the reference evaluator adds in time order, so a sum
//! must not depend on order. Every `sum` and `avg` is therefore the exact
//! sum of its terms, rounded once to the nearest `f64` (ties to even; past
//! the largest `f64`, ±∞).
//!
//! The fast path keeps, per subject, an `f64` that is exactly the sum of
//! the terms added so far: each addition is checked with Knuth's TwoSum,
//! which computes its rounding error exactly, and while the error is zero
//! the running `f64` *is* the exact sum (amounts, prices with cents,
//! counts: nearly all data stays here, at a few instructions per row). At
//! the first addition that would round, the subject moves to an [`Exact`]
//! accumulator — a fixed-point number wide enough for every finite `f64`
//! and any sum of them, a few hundred bytes — which holds its exact sum
//! from then on. Memory is bounded by subjects, never by rows.

use std::collections::HashMap;

/// Bit 0 of an [`Exact`] is 2^-1074, the smallest subnormal `f64`.
const BIAS: u32 = 1074;
/// 64-bit limbs: the largest `f64` is below 2^1024 (bit 2098), and carries
/// need a little room above it.
const LIMBS: usize = 36;

/// `a + b` when the floating-point addition is exact, `None` when it would
/// round (TwoSum: the error term is computed exactly; it is zero exactly
/// when the sum is).
#[inline]
pub(crate) fn exact_add(a: f64, b: f64) -> Option<f64> {
    let s = a + b;
    let bb = s - a;
    let error = (a - (s - bb)) + (b - bb);
    (error == 0.0 && s.is_finite()).then_some(s)
}

/// An exact sum of finite `f64`s: a two's-complement fixed-point number in
/// 64-bit limbs, each kept in an `i128` so that carries can wait until the
/// end (every addition puts less than 2^64 into a limb).
#[derive(Clone)]
pub struct Exact {
    limbs: [i128; LIMBS],
}

impl Default for Exact {
    fn default() -> Exact {
        Exact { limbs: [0; LIMBS] }
    }
}

impl Exact {
    /// Adds `sign × value × 2^(position - 1074)`.
    fn add_bits(&mut self, negative: bool, value: u64, position: u32) {
        let (k, r) = ((position / 64) as usize, position % 64);
        let v = u128::from(value) << r;
        let (lo, hi) = ((v as u64) as i128, (v >> 64) as i128);
        if negative {
            self.limbs[k] -= lo;
            self.limbs[k + 1] -= hi;
        } else {
            self.limbs[k] += lo;
            self.limbs[k + 1] += hi;
        }
    }

    /// Adds a finite `f64` exactly (a non-finite one is ignored: data
    /// numbers are finite).
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() || x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let fraction = bits & ((1 << 52) - 1);
        // value = mantissa × 2^(position - 1074)
        let (mantissa, position) = if exponent == 0 {
            (fraction, 0)
        } else {
            (fraction | (1 << 52), exponent - 1)
        };
        self.add_bits(x < 0.0, mantissa, position);
    }

    /// Adds another exact sum.
    pub(crate) fn merge(&mut self, other: &Exact) {
        for (a, b) in self.limbs.iter_mut().zip(&other.limbs) {
            *a += b;
        }
    }

    /// Moves every limb but the top into `0..2^64`, carrying upwards.
    fn normalize(&mut self) {
        for k in 0..LIMBS - 1 {
            let carry = self.limbs[k] >> 64;
            self.limbs[k] -= carry << 64;
            self.limbs[k + 1] += carry;
        }
    }

    /// The sum, rounded once to the nearest `f64` (ties to even).
    pub fn to_f64(&self) -> f64 {
        self.divided_by(1)
    }

    /// The sum divided by `n` (at least 1), rounded once to the nearest
    /// `f64`: an average whose sum is past the largest `f64` is still
    /// finite, and no order of the terms changes it.
    pub fn divided_by(&self, n: u32) -> f64 {
        let mut q = self.clone();
        q.normalize();
        let negative = q.limbs[LIMBS - 1] < 0;
        if negative {
            q.limbs.iter_mut().for_each(|l| *l = -*l);
            q.normalize();
        }
        // Long division, top limb down: every limb is now in 0..2^64 and
        // the remainder below n, so each step fits in a u128.
        let n = u128::from(n.max(1));
        let mut remainder = 0u128;
        for limb in q.limbs.iter_mut().rev() {
            let current = (remainder << 64) | (*limb as u128);
            *limb = (current / n) as i128;
            remainder = current % n;
        }
        let magnitude = q.round_magnitude(remainder, n);
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }

    /// The non-negative, normalized fixed-point value plus `remainder / n`
    /// of a unit (below one unit), rounded once.
    fn round_magnitude(&self, remainder: u128, n: u128) -> f64 {
        let Some(h) = self.limbs.iter().rposition(|&l| l != 0) else {
            // Below one unit of 2^-1074: half a unit or less rounds to 0.
            return if 2 * remainder > n {
                f64::from_bits(1)
            } else {
                0.0
            };
        };
        if h == 0 && self.limbs[0] < 1 << 53 {
            // Exact in units of 2^-1074 (a subnormal or a small normal):
            // round the fraction of a unit here, ties to even.
            let units = self.limbs[0] as u64;
            let up = 2 * remainder > n || (2 * remainder == n && units & 1 == 1);
            return (units + u64::from(up)) as f64 * f64::from_bits(1);
        }
        // The top 128 bits (at least 54 significant), and whether any bit
        // below them is set: folded into the lowest bit, far below the
        // rounding point, it breaks ties the right way.
        let low = if h == 0 { 0 } else { self.limbs[h - 1] as u64 };
        let mut top = ((self.limbs[h] as u128) << 64) | low as u128;
        let below = h >= 2 && self.limbs[..h - 1].iter().any(|&l| l != 0);
        if below || remainder != 0 {
            top |= 1;
        }
        scale(top as f64, 64 * (h as i32 - 1) - BIAS as i32)
    }
}

/// `x × 2^e`, exactly when the result is a normal `f64` (two steps, so
/// that no intermediate power of two is out of range).
fn scale(x: f64, e: i32) -> f64 {
    let pow = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    match e {
        e if e > 1023 => x * pow(1023) * pow((e - 1023).min(1023)),
        e if e < -1022 => x * pow(-1022) * pow(e + 1022),
        e => x * pow(e),
    }
}

/// The exact sum of `values`, rounded once (what every evaluator's `sum`
/// is).
pub fn exact_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = Exact::default();
    values.into_iter().for_each(|x| sum.add(x));
    sum.to_f64()
}

/// The exact mean of `values`, rounded once (what every evaluator's `avg`
/// is); `None` for no values.
pub fn exact_mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut sum = Exact::default();
    let mut n = 0u32;
    values.into_iter().for_each(|x| {
        sum.add(x);
        n = n.saturating_add(1);
    });
    (n > 0).then(|| sum.divided_by(n))
}

/// Per-subject exact sums (the `sum` and `avg` accumulators).
pub(crate) struct Sums {
    /// The exact sum so far, or NaN once the subject is in `wide`.
    sums: Vec<f64>,
    /// Subjects whose sum no `f64` holds exactly (yet).
    wide: HashMap<u32, Box<Exact>>,
}

impl Sums {
    pub fn new(subjects: usize) -> Sums {
        Sums {
            sums: vec![0.0; subjects],
            wide: HashMap::new(),
        }
    }

    /// Moves a subject to the wide path with `terms` (finite ones) added.
    fn widen(&mut self, subject: u32, terms: [f64; 2]) {
        let exact = self.wide.entry(subject).or_default();
        terms
            .into_iter()
            .filter(|x| !x.is_nan())
            .for_each(|x| exact.add(x));
        self.sums[subject as usize] = f64::NAN;
    }

    #[inline]
    pub fn add(&mut self, subject: u32, x: f64) {
        let a = self.sums[subject as usize];
        match exact_add(a, x) {
            Some(sum) => self.sums[subject as usize] = sum,
            None => self.widen(subject, [a, x]),
        }
    }

    pub fn merge(&mut self, other: Sums) {
        // One branch-free pass (it vectorises): where the sum is exact,
        // take it, and flag the rest; then widen only the flagged.
        let mut flags = vec![0u8; self.sums.len()];
        let mut flagged = 0usize;
        for ((a, &b), flag) in self.sums.iter_mut().zip(&other.sums).zip(&mut flags) {
            let s = *a + b;
            let bb = s - *a;
            let error = (*a - (s - bb)) + (b - bb);
            let inexact = !(error == 0.0 && s.is_finite());
            *flag = u8::from(inexact);
            flagged += usize::from(inexact);
            *a = if inexact { *a } else { s };
        }
        if flagged > 0 {
            for (s, _) in flags.iter().enumerate().filter(|(_, &f)| f == 1) {
                let (a, b) = (self.sums[s], other.sums[s]);
                self.widen(s as u32, [a, b]);
            }
        }
        for (s, exact) in other.wide {
            match self.wide.get_mut(&s) {
                Some(mine) => mine.merge(&exact),
                None => {
                    self.wide.insert(s, exact);
                }
            }
        }
    }

    /// Each subject's sum, rounded once.
    pub fn finish(self) -> Vec<f64> {
        let mut out = self.sums;
        for (s, exact) in self.wide {
            out[s as usize] = exact.to_f64();
        }
        out
    }

    /// Each subject's sum divided by its count of terms, rounded once (a
    /// subject with no terms gets NaN).
    pub fn finish_means(self, counts: &[u32]) -> Vec<f64> {
        let mut out = self.sums;
        for (s, c) in out.iter_mut().zip(counts) {
            // An exact f64 sum divided by a count: one IEEE rounding.
            *s = if *c == 0 {
                f64::NAN
            } else {
                *s / f64::from(*c)
            };
        }
        for (s, exact) in self.wide {
            out[s as usize] = exact.divided_by(counts[s as usize]);
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
        assert_eq!(exact_sum([big, 1.0, 1.0]), big + 2.0);
        assert_eq!(exact_sum([1.0, 1.0, big]), big + 2.0);
        assert_eq!(exact_sum([0.1, 0.2, 0.3]), 0.6);
        assert_eq!(exact_sum([0.1, 0.2]), 0.30000000000000004);
        assert_eq!(exact_sum([]), 0.0);
        assert_eq!(exact_sum([-0.0]), 0.0);
        assert_eq!(exact_sum([1e-300, 1.0, -1.0]), 1e-300);
        assert_eq!(exact_sum([-2.5, 1.0]), -1.5);
        // Overflow in the middle does not matter; only the total's range.
        for order in [
            [1e308, 1e308, -1e308],
            [1e308, -1e308, 1e308],
            [-1e308, 1e308, 1e308],
        ] {
            assert_eq!(exact_sum(order), 1e308, "{order:?}");
        }
        assert_eq!(exact_sum([f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(exact_sum([-f64::MAX, -f64::MAX]), f64::NEG_INFINITY);
        // Subnormals are exact.
        let tiny = f64::from_bits(1);
        assert_eq!(exact_sum([tiny, tiny, tiny]), f64::from_bits(3));
        assert_eq!(
            exact_sum([f64::MIN_POSITIVE, -tiny]),
            f64::from_bits((1 << 52) - 1)
        );
        // Ties round to even across many limbs: 1 + 2^-53 is a tie (to 1),
        // and a far smaller term breaks it upwards.
        let half_ulp = 2f64.powi(-53);
        assert_eq!(exact_sum([1.0, half_ulp]), 1.0);
        assert_eq!(exact_sum([1.0, half_ulp, 1e-300]), 1.0 + 2.0 * half_ulp);
        assert_eq!(exact_sum([1.0, half_ulp, -1e-300]), 1.0);
    }

    #[test]
    fn a_mean_is_rounded_once_and_never_overflows() {
        assert_eq!(exact_mean([1e308, 1e308]), Some(1e308));
        assert_eq!(exact_mean([f64::MAX, f64::MAX, f64::MAX]), Some(f64::MAX));
        assert_eq!(exact_mean([-1e308, -1e308]), Some(-1e308));
        assert_eq!(exact_mean([]), None);
        assert_eq!(exact_mean([1.0, 2.0]), Some(1.5));
        // Exactly 0.2000000000000000055…: 0.2, where 0.6 / 3.0 rounds twice.
        assert_eq!(exact_mean([0.1, 0.2, 0.3]), Some(0.2));
        assert_eq!(exact_mean([1.0, 1.0, 2.0]), Some(4.0 / 3.0));
        // 2^53 + 1 is no f64: the sum rounded first would give 2^52.
        let big = 9_007_199_254_740_992.0;
        assert_eq!(exact_mean([big, 1.0, 1.0]), Some((big + 2.0) / 3.0));
        assert_eq!(exact_mean([big, 1.0]), Some(4_503_599_627_370_496.5));
        // Subnormal means round to the nearest unit, ties to even.
        let tiny = f64::from_bits(1);
        assert_eq!(exact_mean([tiny, 0.0]), Some(0.0));
        assert_eq!(exact_mean([tiny, tiny, tiny, 0.0]), Some(f64::from_bits(1)));
        assert_eq!(
            exact_mean([f64::from_bits(3), 0.0]),
            Some(f64::from_bits(2))
        );
        assert_eq!(exact_mean([tiny, 0.0, 0.0]), Some(0.0));
        assert_eq!(exact_mean([tiny, tiny, 0.0]), Some(tiny));
        // The fast path (an exact f64 sum) and the wide path agree.
        let mut s = Sums::new(2);
        [1e308, 1e308].iter().for_each(|&x| s.add(0, x));
        [3.0, 4.0].iter().for_each(|&x| s.add(1, x));
        let means = s.finish_means(&[2, 2]);
        assert_eq!(means, vec![1e308, 3.5]);
    }

    #[test]
    fn agrees_with_a_careful_float_sum_where_that_is_exact() {
        // Shuffled sums of values whose exact total is known.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..200 {
            let mut terms = Vec::new();
            let mut want = 0i128;
            for _ in 0..50 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let cents = (seed % 2_000_001) as i128 - 1_000_000;
                want += cents;
                terms.push(cents as f64 / 128.0); // exact binary fractions
            }
            let sum = exact_sum(terms.iter().copied());
            assert_eq!(sum, want as f64 / 128.0, "round {round}");
            terms.reverse();
            assert_eq!(exact_sum(terms), sum);
        }
    }

    #[test]
    fn the_fast_path_and_the_wide_path_agree_in_any_split() {
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
            1e300,
            -1e300,
            1e308,
            1e308,
            -1e308,
        ];
        let want = exact_sum(terms);
        for split in 0..=terms.len() {
            let mut a = Sums::new(2);
            let mut b = Sums::new(2);
            terms[..split].iter().for_each(|&x| a.add(1, x));
            terms[split..].iter().rev().for_each(|&x| b.add(1, x));
            b.merge(a);
            let got = b.finish();
            assert_eq!(got[1], want, "split at {split}");
            assert_eq!(got[0], 0.0);
        }
        assert_eq!(exact_add(1.0, 2.0), Some(3.0));
        assert_eq!(exact_add(9_007_199_254_740_992.0, 1.0), None);
        assert_eq!(exact_add(0.1, 0.2), None);
        assert_eq!(exact_add(f64::MAX, f64::MAX), None);
        // Integer amounts stay on the fast path.
        let mut s = Sums::new(1);
        (1..=1000).for_each(|i| s.add(0, f64::from(i) * 100.0));
        assert!(s.wide.is_empty());
        assert_eq!(s.finish()[0], 50_050_000.0);
    }
}
