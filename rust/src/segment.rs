//! Topic boundary detection over a conversation's turn embeddings (TextTiling-style).
//!
//! The turns are `n` rows of a row-major `(n, d)` matrix; gap `g` (for `1 <= g < n`) lies between turns
//! `g - 1` and `g`, and a boundary at `g` means that a new segment starts at turn `g`.
//!
//! 1. **Gap scores.** Rows are L2-normalised (a zero row has similarity 0 to everything). The score of
//!    gap `g` is the mean cosine similarity over all pairs (a, b) with `a` among the `window` turns
//!    before the gap and `b` among the `window` turns after it (fewer near the ends), computed as
//!    `(sum of a's unit rows) . (sum of b's unit rows) / pairs`. Scores are
//!    computed in f64 and rounded to fixed point in units of 2^-32 (far below f32 input precision):
//!    every later step is then exact integer arithmetic, so ties and plateaus are real ties and the
//!    result does not depend on summation order.
//! 2. **Depth.** A gap is a local minimum when the score before it is strictly higher (or it is the
//!    first gap) and the next different score after it is higher (or there is none). Its depth is
//!    `(left peak - score) + (right peak - score)`, each peak found by climbing while the scores do not
//!    decrease. Other gaps have depth 0.
//! 3. **Candidates.** A gap with depth > 0 and depth > mean + threshold * std of the depths of all the
//!    conversation's gaps (population std) is a candidate. A gap whose time gap exceeds `max_gap` is a
//!    forced boundary.
//! 4. **min_len.** The forced boundaries and the conversation's two ends are accepted first; candidates
//!    are then accepted by decreasing depth (ties: earlier gap) if they are at least `min_len` turns away
//!    from every accepted boundary and end. So of two candidates closer than `min_len` the weaker is
//!    dropped and a forced boundary always wins. Only forced cuts, and step 5 when
//!    `max_len < 2 * min_len - 1`, can leave a segment shorter than `min_len`.
//! 5. **max_len.** A segment longer than `max_len` is split at its lowest-scoring gap among those leaving
//!    at least `min(min_len, len / 2)` turns on each side (ties: closest to the middle, then earlier),
//!    and the halves are split again until none is longer than `max_len`.

use std::collections::BTreeSet;
use std::ops::Range;

use ndarray::ArrayView2;

use crate::error::{check_finite, KernelError, KernelResult};
use crate::lanes::{dot, squared_norm};
use crate::matrix::ROW_MAJOR;

/// Fixed-point scale of gap scores: one unit is 2^-32.
const SCORE_SCALE: f64 = 4_294_967_296.0;

/// The validated knobs of [`topic_boundaries`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentParams {
    window: usize,
    threshold: f64,
    min_len: usize,
    max_len: usize,
    max_gap: f64,
}

impl SegmentParams {
    /// Checks `window >= 1`, `1 <= min_len <= max_len`, a finite `threshold` and `max_gap >= 0`
    /// (infinity allowed: no time cut).
    pub fn new(
        window: i64,
        threshold: f64,
        min_len: i64,
        max_len: i64,
        max_gap: f64,
    ) -> KernelResult<Self> {
        let at_least_one = |value: i64, name: &str| {
            usize::try_from(value)
                .ok()
                .filter(|&v| v >= 1)
                .ok_or_else(|| KernelError::Value(format!("{name} must be >= 1, got {value}")))
        };
        let window = at_least_one(window, "window")?;
        let min_len = at_least_one(min_len, "min_len")?;
        let max_len = at_least_one(max_len, "max_len")?;
        if max_len < min_len {
            return Err(KernelError::Value(format!(
                "max_len must be >= min_len, got max_len = {max_len} and min_len = {min_len}"
            )));
        }
        if !threshold.is_finite() {
            return Err(KernelError::Value(format!(
                "threshold must be finite, got {threshold}"
            )));
        }
        if max_gap.is_nan() || max_gap < 0.0 {
            return Err(KernelError::Value(format!(
                "max_gap must be >= 0 (inf allowed), got {max_gap}"
            )));
        }
        Ok(Self {
            window,
            threshold,
            min_len,
            max_len,
            max_gap,
        })
    }
}

/// Writes into `out` the sum of rows `rows` (non-empty) of `x`, each scaled to unit length by `inv_norm`.
#[inline(always)]
fn unit_sum(x: &[f32], inv_norm: &[f64], rows: Range<usize>, out: &mut [f64]) {
    let d = out.len();
    let first = rows.start;
    for (o, &v) in out.iter_mut().zip(&x[first * d..(first + 1) * d]) {
        *o = f64::from(v) * inv_norm[first];
    }
    for i in rows.skip(1) {
        let scale = inv_norm[i];
        for (o, &v) in out.iter_mut().zip(&x[i * d..(i + 1) * d]) {
            *o += f64::from(v) * scale;
        }
    }
}

/// Appends the inverse L2 norms (0 for a zero row) of rows `inv_norm.len()..upto` of `x`. Fails if
/// such a row is not finite: then its squared norm is not finite either, while that of a finite f32
/// row always is (each square is below 1.2e77, so no realistic `d` reaches f64::MAX).
#[inline(always)]
fn extend_inv_norms(x: &[f32], d: usize, upto: usize, inv_norm: &mut Vec<f64>) -> KernelResult<()> {
    for i in inv_norm.len()..upto {
        let squared = squared_norm(&x[i * d..(i + 1) * d]);
        if !squared.is_finite() {
            check_finite(x, "embeddings")?;
        }
        inv_norm.push(if squared > 0.0 {
            1.0 / squared.sqrt()
        } else {
            0.0
        });
    }
    Ok(())
}

/// Fixed-point gap scores (see the module doc), `n - 1` of them for `n >= 2` rows, or an error if a
/// row is not finite.
///
/// The mean cosine over the pairs (a, b) of the two windows is `(sum of a's unit rows) . (sum of b's
/// unit rows) / pairs`, so every gap costs one window sum and one dot product: the window after gap
/// `g` (rows `g..g + window`) is kept in a ring and is, `window` gaps later, the window before gap
/// `g + window`. Only the first `window - 1` gaps, whose left window is cut short, sum their own.
/// Each row is normalised just before it first enters a window, so the matrix is read from memory once.
///
/// On x86-64 CPUs with AVX2 the same code is compiled a second time for AVX2 and chosen at run time.
/// The results are bit-identical: the arithmetic is separate multiplies and adds (never fused) in
/// eight fixed lanes, whatever the vector width.
fn gap_scores(x: &[f32], n: usize, d: usize, window: usize) -> KernelResult<Vec<i64>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { gap_scores_avx2(x, n, d, window) };
    }
    gap_scores_portable(x, n, d, window)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gap_scores_avx2(x: &[f32], n: usize, d: usize, window: usize) -> KernelResult<Vec<i64>> {
    gap_scores_portable(x, n, d, window)
}

// Always inlined, like the helpers it calls, so that `gap_scores_avx2` compiles all of it for AVX2.
#[inline(always)]
fn gap_scores_portable(x: &[f32], n: usize, d: usize, window: usize) -> KernelResult<Vec<i64>> {
    let ring = window + 1;
    let mut ahead = vec![0.0f64; ring * d];
    let mut short_left = vec![0.0f64; d];
    let mut inv_norm = Vec::with_capacity(n);
    extend_inv_norms(x, d, window.min(n), &mut inv_norm)?;
    unit_sum(x, &inv_norm, 0..window.min(n), &mut ahead[..d]);
    let mut scores = Vec::with_capacity(n.saturating_sub(1));
    // Ring slots of the windows after gaps g (g % ring) and g - window ((g + 1) % ring), kept by
    // increments: with `g % ring`, the release build recomputed the division inside the inner loops
    // (once every 16 values), which doubled the kernel's time.
    let next = |slot: usize| if slot + 1 == ring { 0 } else { slot + 1 };
    let mut slot = 0;
    for g in 1..n {
        slot = next(slot);
        let (left, right) = (g.saturating_sub(window)..g, g..(g + window).min(n));
        let pairs = (left.len() * right.len()) as f64;
        extend_inv_norms(x, d, right.end, &mut inv_norm)?;
        let here = slot * d;
        unit_sum(x, &inv_norm, right, &mut ahead[here..here + d]);
        let left_sum = if g >= window {
            let earlier = next(slot) * d;
            &ahead[earlier..earlier + d]
        } else {
            unit_sum(x, &inv_norm, left, &mut short_left);
            &short_left
        };
        let mean = dot(left_sum, &ahead[here..here + d]) / pairs;
        scores.push((mean * SCORE_SCALE + 0.5).floor() as i64);
    }
    Ok(scores)
}

/// Depth of every gap: `(left peak - s) + (right peak - s)` at local minima, 0 elsewhere.
fn depths(s: &[i64]) -> Vec<i64> {
    let len = s.len();
    let mut left_peak = s.to_vec();
    for j in 1..len {
        if s[j - 1] >= s[j] {
            left_peak[j] = left_peak[j - 1];
        }
    }
    let mut right_peak = s.to_vec();
    // rises_after[j]: the next score different from s[j] is higher, or there is none.
    let mut rises_after = vec![true; len];
    for j in (0..len.saturating_sub(1)).rev() {
        if s[j + 1] >= s[j] {
            right_peak[j] = right_peak[j + 1];
        }
        rises_after[j] = if s[j + 1] == s[j] {
            rises_after[j + 1]
        } else {
            s[j + 1] > s[j]
        };
    }
    (0..len)
        .map(|j| {
            let falls_before = j == 0 || s[j - 1] > s[j];
            if falls_before && rises_after[j] {
                (left_peak[j] - s[j]) + (right_peak[j] - s[j])
            } else {
                0
            }
        })
        .collect()
}

/// Indexes of the gaps whose depth is > 0 and > mean + threshold * std over all gaps.
///
/// With `G` gaps, `S1 = sum(depth)` and `S2 = sum(depth^2)` (exact in i128), the test
/// `depth > S1 / G + threshold * sqrt(S2 / G - (S1 / G)^2)` is evaluated as
/// `G * depth - S1 > threshold * sqrt(G * S2 - S1^2)`, with a single rounding on each side.
fn deep_gaps(depth: &[i64], threshold: f64) -> Vec<usize> {
    let g = depth.len() as i128;
    let s1: i128 = depth.iter().map(|&v| i128::from(v)).sum();
    let s2: i128 = depth.iter().map(|&v| i128::from(v) * i128::from(v)).sum();
    let spread = threshold * ((g * s2 - s1 * s1) as f64).sqrt();
    (0..depth.len())
        .filter(|&j| depth[j] > 0 && ((g * i128::from(depth[j]) - s1) as f64) > spread)
        .collect()
}

/// Lowest-scoring split position of the overlong segment `a..b` (see the module doc, step 5).
fn split_point(scores: &[i64], a: usize, b: usize, min_len: usize) -> usize {
    let margin = min_len.min((b - a) / 2);
    // Position p is gap p, whose score is scores[p - 1]; `a + margin <= b - margin` as margin <= len / 2.
    (a + margin..=b - margin)
        .min_by_key(|&p| (scores[p - 1], (2 * p).abs_diff(a + b), p))
        .unwrap_or(a + margin)
}

/// Segment start positions `0 < i < n` of the `n` turn embeddings, the rows of `embeddings` (copied
/// first if they are not in row-major order), sorted. `time_gaps` (length `n - 1`, `>= 0`, any unit)
/// are the pauses between consecutive turns. The algorithm is described in the module documentation.
///
/// Errors: `embeddings` not finite, `time_gaps` of the wrong length, negative or not finite.
pub fn topic_boundaries(
    embeddings: ArrayView2<'_, f32>,
    time_gaps: Option<&[f32]>,
    params: &SegmentParams,
) -> KernelResult<Vec<usize>> {
    let (n, d) = embeddings.dim();
    let rows = embeddings.as_standard_layout();
    let embeddings = rows.as_slice().expect(ROW_MAJOR);
    if let Some(gaps) = time_gaps.filter(|g| g.len() != n.saturating_sub(1)) {
        return Err(KernelError::Shape(format!(
            "time_gaps has length {}, expected n - 1 = {} (one pause between each two turns)",
            gaps.len(),
            n.saturating_sub(1)
        )));
    }
    let time_gaps = time_gaps.unwrap_or(&[]);
    check_finite(time_gaps, "time_gaps")?;
    if let Some(i) = time_gaps.iter().position(|&t| t < 0.0) {
        return Err(KernelError::Value(format!(
            "time_gaps must be >= 0, found {} at position {i}",
            time_gaps[i]
        )));
    }
    if n < 2 {
        check_finite(embeddings, "embeddings")?;
        return Ok(Vec::new());
    }

    let scores = gap_scores(embeddings, n, d, params.window)?;
    let depth = depths(&scores);
    let mut candidates = deep_gaps(&depth, params.threshold);
    candidates.sort_by_key(|&j| (std::cmp::Reverse(depth[j]), j));

    let mut accepted: BTreeSet<usize> = [0, n].into();
    accepted.extend(
        time_gaps
            .iter()
            .enumerate()
            .filter(|&(_, &t)| f64::from(t) > params.max_gap)
            .map(|(j, _)| j + 1),
    );
    for pos in candidates.into_iter().map(|j| j + 1) {
        let before = accepted.range(..=pos).next_back().copied().unwrap_or(0);
        let after = accepted.range(pos..).next().copied().unwrap_or(n);
        if pos - before >= params.min_len && after - pos >= params.min_len {
            accepted.insert(pos);
        }
    }

    let mut pending: Vec<(usize, usize)> = accepted
        .iter()
        .zip(accepted.iter().skip(1))
        .map(|(&a, &b)| (a, b))
        .collect();
    while let Some((a, b)) = pending.pop() {
        if b - a > params.max_len {
            let p = split_point(&scores, a, b, params.min_len);
            accepted.insert(p);
            pending.extend([(a, p), (p, b)]);
        }
    }
    Ok(accepted.into_iter().filter(|&p| p != 0 && p != n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        window: i64,
        threshold: f64,
        min_len: i64,
        max_len: i64,
        max_gap: f64,
    ) -> SegmentParams {
        SegmentParams::new(window, threshold, min_len, max_len, max_gap).unwrap()
    }

    /// The row-major values `x` as rows of `d` columns.
    fn rows(x: &[f32], d: usize) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((x.len() / d, d), x).unwrap()
    }

    /// `n` rows of dimension 3: row i is the unit vector of axis `topic[i]`.
    fn topics(topic: &[usize]) -> Vec<f32> {
        topic
            .iter()
            .flat_map(|&t| (0..3).map(move |k| if k == t { 1.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn params_are_validated() {
        assert!(SegmentParams::new(0, 0.5, 2, 16, f64::INFINITY).is_err());
        assert!(SegmentParams::new(-1, 0.5, 2, 16, f64::INFINITY).is_err());
        assert!(SegmentParams::new(1, 0.5, 0, 16, f64::INFINITY).is_err());
        assert!(SegmentParams::new(1, 0.5, 3, 2, f64::INFINITY).is_err());
        assert!(SegmentParams::new(1, f64::NAN, 2, 16, f64::INFINITY).is_err());
        assert!(SegmentParams::new(1, 0.5, 2, 16, f64::NAN).is_err());
        assert!(SegmentParams::new(1, 0.5, 2, 16, -1.0).is_err());
    }

    #[test]
    fn finds_a_topic_change() {
        let x = topics(&[0, 0, 0, 0, 1, 1, 1, 1]);
        let p = params(2, 0.5, 2, 16, f64::INFINITY);
        assert_eq!(topic_boundaries(rows(&x, 3), None, &p).unwrap(), vec![4]);
        let p = params(1, 0.5, 2, 16, f64::INFINITY);
        assert_eq!(topic_boundaries(rows(&x, 3), None, &p).unwrap(), vec![4]);
    }

    #[test]
    fn reads_views_in_any_layout() {
        let x = topics(&[0, 0, 0, 0, 1, 1, 1, 1]);
        let transposed = rows(&x, 3).t().to_owned();
        let p = params(2, 0.5, 2, 16, f64::INFINITY);
        assert_eq!(topic_boundaries(transposed.t(), None, &p).unwrap(), vec![4]);
    }

    #[test]
    fn min_len_drops_the_weaker_boundary() {
        // Topics a a a b b c c c with cos(a, b) = 0 < cos(b, c) = 0.6: dips at gaps 3 and 5.
        let (a, b, c) = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8]);
        let x: Vec<f32> = [a, a, a, b, b, c, c, c].concat();
        let p = params(1, 0.0, 2, 16, f64::INFINITY);
        assert_eq!(topic_boundaries(rows(&x, 3), None, &p).unwrap(), vec![3, 5]);
        let p = params(1, 0.0, 3, 16, f64::INFINITY);
        assert_eq!(topic_boundaries(rows(&x, 3), None, &p).unwrap(), vec![3]);
    }

    #[test]
    fn equal_vectors_only_get_time_and_length_cuts() {
        let x = vec![0.5f32; 40 * 4];
        let p = params(3, 0.5, 2, 16, 4.0);
        assert_eq!(
            topic_boundaries(rows(&x, 4), None, &p).unwrap(),
            vec![10, 20, 30]
        );
        let mut gaps = vec![0.0f32; 39];
        gaps[0] = 5.0; // a forced cut may leave a segment shorter than min_len
        assert_eq!(
            topic_boundaries(rows(&x, 4), Some(&gaps), &p).unwrap(),
            vec![1, 10, 20, 30]
        );
    }

    #[test]
    fn zero_rows_are_dissimilar_to_everything() {
        let mut x = topics(&[0, 0, 0, 0, 0, 0]);
        x[9..12].fill(0.0); // row 3
        let s = gap_scores(&x, 6, 3, 1).unwrap();
        assert_eq!(s, vec![1 << 32, 1 << 32, 0, 0, 1 << 32]);
    }

    #[test]
    fn dispatched_and_portable_gap_scores_are_identical() {
        let mut state = 7u64;
        let x: Vec<f32> = (0..200 * 37)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        for window in 1..4 {
            let dispatched = gap_scores(&x, 200, 37, window).unwrap();
            assert_eq!(
                dispatched,
                gap_scores_portable(&x, 200, 37, window).unwrap()
            );
        }
    }

    #[test]
    fn depth_climbs_through_plateaus() {
        assert_eq!(depths(&[5, 3, 3, 7]), vec![0, 6, 0, 0]);
        assert_eq!(depths(&[1, 2, 3]), vec![2, 0, 0]); // the ends count as half dips
        assert_eq!(depths(&[3, 2, 1]), vec![0, 0, 2]);
        assert_eq!(depths(&[4, 4, 4]), vec![0, 0, 0]);
        assert_eq!(depths(&[]), Vec::<i64>::new());
    }

    #[test]
    fn statistics_are_exact_at_the_threshold() {
        // Depths [d, 0]: mean = d/2, std = d/2, so threshold 1 puts the cutoff exactly at d.
        assert_eq!(deep_gaps(&[7, 0], 1.0), Vec::<usize>::new());
        assert_eq!(deep_gaps(&[7, 0], 0.999), vec![0]);
        assert_eq!(deep_gaps(&[0, 0], -1.0), Vec::<usize>::new());
    }

    #[test]
    fn max_len_splits_at_the_lowest_gap() {
        assert_eq!(split_point(&[9, 9, 1, 9, 9, 9, 9], 0, 8, 2), 3);
        assert_eq!(split_point(&[5; 9], 0, 10, 2), 5);
        // min_len 5 and max_len 6 cannot both hold for 7 turns: split leaves >= 3 a side.
        assert_eq!(split_point(&[0, 0, 9, 9, 9, 9], 0, 7, 5), 3);
    }

    #[test]
    fn shapes_and_values_are_validated() {
        let p = params(2, 0.5, 2, 16, f64::INFINITY);
        assert!(topic_boundaries(rows(&[], 3), None, &p).unwrap().is_empty());
        assert!(topic_boundaries(rows(&[1.0; 3], 3), None, &p)
            .unwrap()
            .is_empty());
        assert!(topic_boundaries(rows(&[1.0; 3], 3), Some(&[]), &p).is_ok());
        assert!(topic_boundaries(rows(&[f32::NAN; 6], 3), None, &p).is_err());
        assert!(topic_boundaries(rows(&[1.0; 6], 3), Some(&[]), &p).is_err());
        assert!(topic_boundaries(rows(&[1.0; 6], 3), Some(&[1.0, 2.0]), &p).is_err());
        assert!(topic_boundaries(rows(&[1.0; 6], 3), Some(&[f32::INFINITY]), &p).is_err());
        assert!(topic_boundaries(rows(&[1.0; 6], 3), Some(&[-1.0]), &p).is_err());
    }
}
