//! Near-duplicate clustering for sleep-time consolidation.
//!
//! Every clustering here is a set of connected components, found by union-find (path halving, the
//! larger root linked under the smaller) and labelled deterministically: each row gets the smallest row
//! index of its cluster, so a singleton's label is its own index. Matrices are row-major slices with
//! their shape ([`Matrix`]).
//!
//! * [`cluster_knn`] joins the edges of a kNN graph (e.g. usearch results) whose cosine similarity
//!   reaches a threshold, or whose texts' MinHash signatures agree enough. O(n·k).
//! * [`cluster_embeddings`] finds the same components from an embedding matrix by exact all-pairs cosine
//!   similarity. A low-rank screen bounds every pair's similarity from above and skips the pairs that
//!   cannot reach the threshold; the others get a full dot product (see `Screen`). The all-pairs pass
//!   runs on rayon's thread pool (size: `RAYON_NUM_THREADS`, default one per core).
//! * [`minhash_signatures`] and [`minhash_similarity`]: MinHash of word shingles. The hashing is integer
//!   arithmetic on fixed constants, so signatures are the same on every process and platform and may be
//!   stored:
//!   - words: maximal runs of characters that are Unicode Alphabetic or Numeric (`char::is_alphanumeric`,
//!     which for letters and digits agrees with Python's `str.isalnum`; it also counts combining marks
//!     that are Other_Alphabetic, such as most Indic vowel signs), each lowercased with Unicode full
//!     lowercasing (`str::to_lowercase`, as Python's `str.lower`). Everything else separates words. No
//!     Unicode normalisation is applied: composed and decomposed forms of a word differ.
//!   - shingles: every run of `shingle` consecutive words; a text with fewer words has one shingle of
//!     all of them.
//!   - shingle hash: 64-bit FNV-1a over the words' UTF-8 bytes joined by byte 0xFF (never in UTF-8),
//!     started from the FNV offset basis XOR `mix64(seed)` and finished by `mix64`, the finaliser of
//!     SplitMix64.
//!   - permutation j: `(a_j * (h mod P) + b_j) mod P`, P = 2^61 - 1, with `a_j = 1 + s mod (P - 1)` and
//!     `b_j = s' mod P` for the next two outputs s, s' of a SplitMix64 stream seeded with `seed`. So the
//!     first q positions of a longer signature are those of a shorter one with the same seed.
//!   - signature: the minimum of each permutation over the text's shingles; every value is < P. A text
//!     with no words gets [`EMPTY`] (u64::MAX) at every position.
//!   - similarity: the fraction of positions at which two signatures hold the same value other than
//!     [`EMPTY`], an estimate of the Jaccard similarity of the two shingle sets. A text with no words is
//!     therefore similar to nothing, itself included.

use std::ops::Range;
use std::sync::OnceLock;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView1, Axis};
use rayon::prelude::*;

use crate::error::{check_finite, KernelError, KernelResult};
use crate::lanes::squared_norm;

/// Signature value of a text with no words. Permutations never produce it (their values are < P).
pub const EMPTY: u64 = u64::MAX;
/// Most rows a clustering accepts.
pub const MAX_ROWS: usize = u32::MAX as usize - 1;
/// Largest `num_perm` [`MinHashParams`] accepts.
pub const MAX_PERMUTATIONS: usize = 4096;

const MERSENNE_61: u64 = (1 << 61) - 1;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
const WORD_SEPARATOR: u8 = 0xff;

/// Columns of the coarse bound, computed for every pair (see [`Screen`]): the one of these with the
/// lowest expected cost. More columns cost more per pair but leave fewer pairs to the fine bound.
const COARSE_RANKS: [usize; 3] = [32, 48, 64];
/// Most columns of the fine bound, computed for the pairs that the coarse bound keeps.
const FINE_RANK: usize = 128;
/// With fewer rows, or fewer than `2 * COARSE_RANKS[0]` columns, the screen is exact (all columns).
const SCREEN_MIN_ROWS: usize = 1024;
/// At most this many evenly spaced rows fit the screen's subspace; every second one of them helps
/// estimate how many pairs each bound keeps.
const SCREEN_SAMPLE_ROWS: usize = 1024;
/// Orthogonal-iteration steps that fit the subspace.
const SCREEN_ITERATIONS: usize = 3;
/// Largest error accepted in the entries of QᵀQ - I before the low-rank screen is given up.
const SCREEN_ORTHOGONALITY: f64 = 1e-6;
/// Subtracted from the threshold before a bound is compared with it, so that f32 rounding (~1e-6) in
/// the projections can only let more pairs through.
const SCREEN_SLACK: f32 = 1e-3;
/// Added to each squared residual norm, for the same reason.
const RESIDUAL_FLOOR: f64 = 1e-4;
/// Cost of one column of a pair's fine bound (rows gathered at random), in units of one column of the
/// coarse bound's blocked GEMM: measured ~0.67 ns against ~0.033 ns (10k x 384, one thread).
const FINE_COST: f64 = 20.0;
/// The same for one column of a pair's exact dot product (longer rows, read faster): ~0.25 ns.
const DOT_COST: f64 = 8.0;
/// Rows per task and columns per GEMM tile of the all-pairs pass.
const ROW_BLOCK: usize = 128;
const COL_BLOCK: usize = 512;
/// Rows per task of the projections on the screen's subspace.
const PROJECTION_ROWS: usize = 1024;

/// A row-major `(rows, cols)` view of a slice.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    values: &'a [T],
    rows: usize,
    cols: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// Views `values` (of length `rows * cols`) as a row-major matrix.
    pub fn new(values: &'a [T], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(values.len(), rows * cols);
        Self { values, rows, cols }
    }

    fn row(&self, i: usize) -> &'a [T] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }
}

/// Disjoint sets over `0..n` for `n <=` [`MAX_ROWS`] (u32 links halve the memory that union-find
/// touches at random), with path halving. A union links the larger root under the smaller, so every
/// root is the smallest element of its set and every link points to a smaller element: the labels
/// come out of one forward pass, and no rank array is touched at random.
struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        debug_assert!(n <= MAX_ROWS);
        Self {
            parent: (0..n).map(|i| i as u32).collect(),
        }
    }

    fn find(&mut self, x: usize) -> usize {
        let mut x = x;
        loop {
            let parent = self.parent[x] as usize;
            if parent == x {
                return x;
            }
            let grandparent = self.parent[parent];
            self.parent[x] = grandparent;
            x = grandparent as usize;
        }
    }

    fn same(&mut self, a: usize, b: usize) -> bool {
        self.find(a) == self.find(b)
    }

    /// Joins the sets of `a` and `b`; false if they were already one.
    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child] = root as u32;
        true
    }

    /// Each element's label: the smallest element of its set, i.e. its root. Links point to smaller
    /// elements, so a label is its parent's label, already known.
    fn labels(self) -> Vec<i64> {
        let mut labels = Vec::with_capacity(self.parent.len());
        for (i, &parent) in self.parent.iter().enumerate() {
            let label = if parent as usize == i {
                i as i64
            } else {
                labels[parent as usize]
            };
            labels.push(label);
        }
        labels
    }
}

/// Fails if `what` has more than [`MAX_ROWS`] rows.
fn check_rows(n: usize, what: &str) -> KernelResult<()> {
    if n > MAX_ROWS {
        return Err(KernelError::Shape(format!(
            "{what} has {n} rows, more than the {MAX_ROWS} supported"
        )));
    }
    Ok(())
}

/// Fails unless `-1 <= value <= 1` (NaN fails).
fn check_similarity_threshold(value: f64, name: &str) -> KernelResult<f32> {
    if (-1.0..=1.0).contains(&value) {
        Ok(value as f32)
    } else {
        Err(KernelError::Value(format!(
            "{name} must be in [-1, 1], got {value}"
        )))
    }
}

/// Fails unless `signatures` has at least one column and, when given, exactly `rows` rows.
fn check_signatures(signatures: &Matrix<'_, u64>, rows: Option<(usize, &str)>) -> KernelResult<()> {
    if signatures.cols == 0 {
        return Err(KernelError::Shape(
            "signatures must have at least one column (num_perm >= 1), got 0".into(),
        ));
    }
    match rows {
        Some((n, what)) if signatures.rows != n => Err(KernelError::Shape(format!(
            "signatures must have one row per row of {what}: got {} rows for {n}",
            signatures.rows
        ))),
        _ => Ok(()),
    }
}

/// Checks the shapes of the arguments of [`cluster_knn`].
fn check_knn_shapes(
    neighbors: &Matrix<'_, i64>,
    similarities: &Matrix<'_, f32>,
) -> KernelResult<()> {
    let (n, k) = (neighbors.rows, neighbors.cols);
    check_rows(n, "neighbors")?;
    if k == 0 {
        return Err(KernelError::Shape(format!(
            "neighbors must have at least one column (k >= 1), got shape ({n}, 0)"
        )));
    }
    if (similarities.rows, similarities.cols) != (n, k) {
        return Err(KernelError::Shape(format!(
            "similarities must have the shape of neighbors ({n}, {k}), got ({}, {})",
            similarities.rows, similarities.cols
        )));
    }
    Ok(())
}

/// The error for entry (i, c) of a kNN graph with `n` rows: an index outside [0, n) other than -1,
/// or else a non-finite similarity.
fn knn_entry_error(i: usize, c: usize, j: i64, similarity: f32, n: usize) -> KernelError {
    if j < -1 || j >= n as i64 {
        KernelError::Value(format!(
            "neighbors[{i}, {c}] = {j} is neither a row index in [0, {n}) nor -1 (no neighbour)"
        ))
    } else {
        KernelError::Value(format!(
            "similarities[{i}, {c}] = {similarity} must be finite"
        ))
    }
}

/// Cluster labels of the rows of a kNN graph.
///
/// Row i lists k neighbours (row indices; -1 pads a row with fewer neighbours, and its similarity is
/// ignored) with their cosine similarities. Edge (i, j) joins i and j when its similarity >= `threshold`
/// or, when `signatures` (one row per graph row) are given, when the MinHash similarity of rows i and j
/// (see [`minhash_similarity`]) >= `min_jaccard`; both comparisons are in f32. Self-edges are ignored.
/// Errors: k = 0, mismatched shapes, an index outside [0, n) other than -1, a non-finite similarity of
/// a real neighbour, `threshold` outside [-1, 1], `min_jaccard` outside [0, 1].
pub fn cluster_knn(
    neighbors: Matrix<'_, i64>,
    similarities: Matrix<'_, f32>,
    threshold: f64,
    signatures: Option<Matrix<'_, u64>>,
    min_jaccard: f64,
) -> KernelResult<Vec<i64>> {
    check_knn_shapes(&neighbors, &similarities)?;
    let threshold = check_similarity_threshold(threshold, "threshold")?;
    if !(0.0..=1.0).contains(&min_jaccard) {
        return Err(KernelError::Value(format!(
            "min_jaccard must be in [0, 1], got {min_jaccard}"
        )));
    }
    let min_jaccard = min_jaccard as f32;
    let n = neighbors.rows;
    if let Some(sig) = &signatures {
        check_signatures(sig, Some((n, "neighbors")))?;
    }
    let mut sets = UnionFind::new(n);
    for i in 0..n {
        let row = neighbors.row(i).iter().zip(similarities.row(i));
        for (c, (&j, &sim)) in row.enumerate() {
            // One unsigned comparison rejects both j < 0 and j >= n; -1 is padding.
            if j as u64 >= n as u64 || !sim.is_finite() {
                if j == -1 {
                    continue;
                }
                return Err(knn_entry_error(i, c, j, sim, n));
            }
            let j = j as usize;
            let joins = j != i
                && (sim >= threshold
                    || signatures.as_ref().is_some_and(|sig| {
                        !sets.same(i, j)
                            && signature_similarity(sig.row(i), sig.row(j)) >= min_jaccard
                    }));
            if joins {
                sets.union(i, j);
            }
        }
    }
    Ok(sets.labels())
}

/// L2-normalised rows (a zero row stays zero and is similar to nothing).
struct UnitRows {
    values: Array2<f32>,
    nonzero: Vec<bool>,
}

impl UnitRows {
    fn new(embeddings: &Matrix<'_, f32>) -> Self {
        let mut values = Array2::<f32>::zeros((embeddings.rows, embeddings.cols));
        let mut nonzero = Vec::with_capacity(embeddings.rows);
        for (i, mut out) in values.rows_mut().into_iter().enumerate() {
            let row = embeddings.row(i);
            let norm = row
                .iter()
                .map(|&x| f64::from(x).powi(2))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                // Scaling in f64 keeps every component <= 1, even for rows of subnormal values.
                out.iter_mut()
                    .zip(row)
                    .for_each(|(o, &x)| *o = (f64::from(x) / norm) as f32);
            }
            nonzero.push(norm > 0.0);
        }
        Self { values, nonzero }
    }

    fn rows(&self) -> usize {
        self.nonzero.len()
    }

    /// Whether rows i and j are non-zero with cosine similarity >= `threshold` (f32).
    fn similar(&self, i: usize, j: usize, threshold: f32) -> bool {
        self.nonzero[i] && self.nonzero[j] && self.similarity(i, j) >= threshold
    }

    fn similarity(&self, i: usize, j: usize) -> f32 {
        dot(row(&self.values, i, 0), row(&self.values, j, 0))
    }
}

/// Row `i` of a matrix allocated by this module (always row-major), from column `from` on.
fn row(matrix: &Array2<f32>, i: usize, from: usize) -> &[f32] {
    let width = matrix.ncols();
    let values = matrix
        .as_slice()
        .expect("matrices allocated here are row-major");
    &values[i * width + from..(i + 1) * width]
}

/// Dot product over eight f32 lanes, so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Upper bounds of the cosine similarity of pairs of unit rows u, v from projections on orthonormal
/// columns Q: with p = Qᵀu and r = u - QQᵀu, u·v = p_u·p_v + r_u·r_v <= p_u·p_v + |r_u| |r_v|
/// (Cauchy–Schwarz), where |r_u|² = |u|² - |p_u|².
///
/// Q spans the top eigenvectors of the rows' second-moment matrix (fitted on a sample by orthogonal
/// iteration), so for real embeddings the residuals are small. Every pair gets the coarse bound from
/// the first 32, 48 or 64 columns of Q (one GEMM for all pairs; the number expected to cost least at
/// the threshold, estimated on a sample); a pair that it keeps gets the fine bound from all of them
/// (128, or d / 2 if less); a pair that this one keeps gets its exact dot product. The bounds hold
/// whatever Q is, so the clustering stays exact; the exact screen (Q = I, no residual) is used when
/// the low-rank one would not pay off.
struct Screen {
    /// (n, m) projections p.
    proj: Array2<f32>,
    /// Columns of `proj` in the coarse bound (the first ones).
    coarse: usize,
    /// Residual norms beyond the first `coarse` columns, rounded up.
    coarse_residual: Vec<f32>,
    /// Residual norms beyond all the columns, rounded up.
    fine_residual: Vec<f32>,
}

impl Screen {
    /// The low-rank screen if it is expected to be cheaper than the exact one at `threshold`.
    fn new(unit: &UnitRows, threshold: f32) -> Self {
        let (n, d) = unit.values.dim();
        if n < SCREEN_MIN_ROWS || d < 2 * COARSE_RANKS[0] {
            return Self::exact(unit);
        }
        let sample: Vec<usize> = (0..n).step_by(n.div_ceil(SCREEN_SAMPLE_ROWS)).collect();
        let fine = FINE_RANK.min(d / 2);
        let Some(basis) = top_subspace(&unit.values.select(Axis(0), &sample), fine) else {
            return Self::exact(unit);
        };
        let mut screen = Self::low_rank(unit, &basis, COARSE_RANKS[0]);
        let ranks: Vec<usize> = COARSE_RANKS.into_iter().filter(|&c| c <= fine).collect();
        let estimate: Vec<usize> = sample.into_iter().step_by(2).collect();
        let kept = screen.kept_fractions(unit, &estimate, &ranks, threshold - SCREEN_SLACK);
        let fine_kept = kept[ranks.len()];
        let (cost, coarse) = ranks
            .iter()
            .zip(&kept)
            .map(|(&c, &coarse_kept)| {
                let extra = FINE_COST * coarse_kept * (fine - c) as f64;
                (c as f64 + extra + DOT_COST * fine_kept * d as f64, c)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("d >= 2 * COARSE_RANKS[0] keeps the first rank within the fine one");
        if cost >= d as f64 {
            return Self::exact(unit);
        }
        if coarse != screen.coarse {
            screen.coarse_residual = residual_norms(&unit.values, &screen.proj, coarse);
            screen.coarse = coarse;
        }
        screen
    }

    fn exact(unit: &UnitRows) -> Self {
        Self {
            proj: unit.values.clone(),
            coarse: unit.values.ncols(),
            coarse_residual: vec![0.0; unit.rows()],
            fine_residual: vec![0.0; unit.rows()],
        }
    }

    fn low_rank(unit: &UnitRows, basis: &Array2<f32>, coarse: usize) -> Self {
        let parts = par_map(&row_blocks(unit.rows(), PROJECTION_ROWS), |rows| {
            unit.values.slice(s![rows.clone(), ..]).dot(basis)
        });
        let parts: Vec<_> = parts.iter().map(|part| part.view()).collect();
        let proj = ndarray::concatenate(Axis(0), &parts).expect("blocks of the same width");
        Self {
            coarse_residual: residual_norms(&unit.values, &proj, coarse),
            fine_residual: residual_norms(&unit.values, &proj, proj.ncols()),
            proj,
            coarse,
        }
    }

    /// The fine bound of rows i and j from their coarse dot product.
    fn fine_bound(&self, i: usize, j: usize, coarse_dot: f32) -> f32 {
        let rest = |i: usize| row(&self.proj, i, self.coarse);
        coarse_dot + dot(rest(i), rest(j)) + self.fine_residual[i] * self.fine_residual[j]
    }

    /// Keeps, at the front of `kept` (positions relative to row `first`), the columns j whose fine bound
    /// with row i reaches `cutoff`, and returns that part; `dots` are the coarse dot products from
    /// row `first` on. Branch-free, as `screen_pass`.
    fn fine_pass<'a>(
        &self,
        i: usize,
        first: usize,
        dots: &[f32],
        kept: &'a mut [u32],
        cutoff: f32,
    ) -> &'a [u32] {
        let mut count = 0;
        for pos in 0..kept.len() {
            let k = kept[pos] as usize;
            let bound = self.fine_bound(i, first + k, dots[k]);
            kept[count] = k as u32;
            count += usize::from(bound >= cutoff);
        }
        &kept[..count]
    }

    /// Fractions of the pairs of `sample` rows that the bound on the first c columns keeps at
    /// `cutoff`, for each c of `ranks` (increasing) and then for all the columns.
    fn kept_fractions(
        &self,
        unit: &UnitRows,
        sample: &[usize],
        ranks: &[usize],
        cutoff: f32,
    ) -> Vec<f64> {
        let (values, proj) = (
            unit.values.select(Axis(0), sample),
            self.proj.select(Axis(0), sample),
        );
        let m = sample.len();
        let pairs = (m * m.saturating_sub(1) / 2).max(1) as f64;
        // Dot products on the first `done` columns, extended column range by column range.
        let mut dots = Array2::<f32>::zeros((m, m));
        let mut done = 0;
        let mut fractions = Vec::with_capacity(ranks.len() + 1);
        for &columns in ranks.iter().chain([&proj.ncols()]) {
            let part = proj.slice(s![.., done..columns]);
            general_mat_mul(1.0, &part, &part.t(), 1.0, &mut dots);
            done = columns;
            let residual = residual_norms(&values, &proj, columns);
            let mut kept = 0usize;
            for a in 0..m {
                for b in a + 1..m {
                    kept += usize::from(dots[[a, b]] + residual[a] * residual[b] >= cutoff);
                }
            }
            fractions.push(kept as f64 / pairs);
        }
        fractions
    }
}

/// The norms of the residuals u - QQᵀu of the rows u of `values` beyond the first `columns` of their
/// projections `proj`, rounded up: |r_u|² = |u|² - |p_u|² for orthonormal Q.
fn residual_norms(values: &Array2<f32>, proj: &Array2<f32>, columns: usize) -> Vec<f32> {
    (0..values.nrows())
        .map(|i| {
            let left = squared_norm(row(values, i, 0)) - squared_norm(&row(proj, i, 0)[..columns]);
            (left.max(0.0) + RESIDUAL_FLOOR).sqrt() as f32
        })
        .collect()
}

/// An orthonormal (d, m) basis (in f32) of the top-m eigenvectors of `sampleᵀ sample`, by orthogonal
/// iteration in f64 (on the basis vectors as rows); None if it is not orthonormal to
/// [`SCREEN_ORTHOGONALITY`].
fn top_subspace(sample: &Array2<f32>, m: usize) -> Option<Array2<f32>> {
    let gram = sample.t().dot(sample).mapv(f64::from);
    let d = gram.nrows();
    // A small ridge keeps G·Q of full rank when the sample spans fewer than m directions.
    let ridge = 1e-3 * gram.diag().sum() / d as f64 + f64::MIN_POSITIVE;
    let mut axes: Vec<usize> = (0..d).collect();
    axes.sort_by(|&a, &b| gram[[b, b]].total_cmp(&gram[[a, a]]).then(a.cmp(&b)));
    let mut basis = Array2::<f64>::zeros((m, d));
    for (row, &axis) in axes.iter().take(m).enumerate() {
        basis[[row, axis]] = 1.0;
    }
    for step in 1..=SCREEN_ITERATIONS {
        // The rows of Q·G are G·q for each basis vector q, since G is symmetric. Only the span of the
        // intermediate bases matters, so one CholeskyQR pass is enough for them.
        let passes = if step == SCREEN_ITERATIONS { 2 } else { 1 };
        basis = orthonormalise_rows(basis.dot(&gram) + &basis * ridge, passes)?;
    }
    let basis = basis.t().mapv(|v| v as f32);
    let defect = basis.t().dot(&basis) - Array2::<f32>::eye(m);
    let worst = defect
        .iter()
        .fold(0.0f64, |acc, &v| acc.max(f64::from(v).abs()));
    (worst <= SCREEN_ORTHOGONALITY).then_some(basis)
}

/// The rows of `z` made orthonormal by CholeskyQR: z ← L⁻¹ z where z zᵀ = L Lᵀ, `passes` times (a
/// second pass, CholeskyQR2, restores orthogonality to rounding error; z's condition number is kept
/// below ~1e6 by the ridge of the caller). None if z zᵀ is not numerically positive definite.
fn orthonormalise_rows(mut z: Array2<f64>, passes: usize) -> Option<Array2<f64>> {
    for _ in 0..passes {
        let factor = cholesky(&z.dot(&z.t()))?;
        solve_lower(&factor, &mut z);
    }
    Some(z)
}

/// The lower-triangular L with a = L Lᵀ of a symmetric matrix; None if a is not (numerically)
/// positive definite. Row by row on a flat buffer, so that each entry is one contiguous dot product.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let m = a.nrows();
    let mut factor = vec![0.0f64; m * m];
    for j in 0..m {
        for i in j..m {
            let prefix = |r: usize| ArrayView1::from(&factor[r * m..r * m + j]);
            let value = a[[i, j]] - prefix(i).dot(&prefix(j));
            factor[i * m + j] = if i == j {
                if value.is_nan() || value <= 0.0 {
                    return None;
                }
                value.sqrt()
            } else {
                value / factor[j * m + j]
            };
        }
    }
    Array2::from_shape_vec((m, m), factor).ok()
}

/// Overwrites `z` with L⁻¹ z for a lower-triangular L with a non-zero diagonal, by forward
/// substitution on whole rows of z.
fn solve_lower(factor: &Array2<f64>, z: &mut Array2<f64>) {
    let width = z.ncols();
    let values = z
        .as_slice_mut()
        .expect("matrices allocated here are row-major");
    for i in 0..factor.nrows() {
        let (solved, rest) = values.split_at_mut(i * width);
        let row = &mut rest[..width];
        for (k, solved_row) in solved.chunks_exact(width).enumerate() {
            let weight = factor[[i, k]];
            row.iter_mut()
                .zip(solved_row)
                .for_each(|(y, &x)| *y -= weight * x);
        }
        let pivot = factor[[i, i]];
        row.iter_mut().for_each(|y| *y /= pivot);
    }
}

/// `0..n` in consecutive ranges of `size` (the last one may be shorter).
fn row_blocks(n: usize, size: usize) -> Vec<Range<usize>> {
    (0..n)
        .step_by(size)
        .map(|start| start..(start + size).min(n))
        .collect()
}

/// Maps `f` over `items` on rayon's pool, or on this thread in a process forked from one that started
/// the pool (the pool's threads do not survive a fork, so waiting for them would hang).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    static POOL_PID: OnceLock<u32> = OnceLock::new();
    if *POOL_PID.get_or_init(std::process::id) == std::process::id() {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// The similar pairs (i, j), i in `rows`, j > i, as a spanning forest: a pair is kept only if it joins
/// two components not yet joined by the pairs kept before it, so at most n - 1 pairs are returned.
fn block_edges(
    unit: &UnitRows,
    screen: &Screen,
    threshold: f32,
    rows: Range<usize>,
) -> Vec<(usize, usize)> {
    let n = unit.rows();
    let cutoff = threshold - SCREEN_SLACK;
    let mut forest = UnionFind::new(n);
    let mut edges = Vec::new();
    let mut tile = Array2::<f32>::zeros((rows.len(), COL_BLOCK));
    let mut positions = [0u32; COL_BLOCK];
    let left = screen.proj.slice(s![rows.clone(), ..screen.coarse]);
    for start in (rows.start..n).step_by(COL_BLOCK) {
        let cols = start..(start + COL_BLOCK).min(n);
        let right = screen.proj.slice(s![cols.clone(), ..screen.coarse]);
        general_mat_mul(
            1.0,
            &left,
            &right.t(),
            0.0,
            &mut tile.slice_mut(s![.., ..cols.len()]),
        );
        for (r, i) in rows.clone().enumerate() {
            let first = cols.start.max(i + 1).min(cols.end);
            let dots = &row(&tile, r, first - start)[..cols.end - first];
            let residuals = &screen.coarse_residual[first..cols.end];
            let coarse_kept = screen_pass(
                dots,
                residuals,
                screen.coarse_residual[i],
                cutoff,
                &mut positions,
            );
            for &k in screen.fine_pass(i, first, dots, coarse_kept, cutoff) {
                let j = first + k as usize;
                if !forest.same(i, j) && unit.similar(i, j, threshold) {
                    forest.union(i, j);
                    edges.push((i, j));
                }
            }
        }
    }
    edges
}

/// Writes to the front of `kept` the positions k where `dots[k] + residual * residuals[k] >= cutoff`,
/// and returns that part. Tested 16 at a time, so that the common case (no candidate in the chunk) is
/// a vectorised pass; inside a chunk with a candidate every position is written and the count
/// advanced by the test, without a branch.
fn screen_pass<'a>(
    dots: &[f32],
    residuals: &[f32],
    residual: f32,
    cutoff: f32,
    kept: &'a mut [u32; COL_BLOCK],
) -> &'a mut [u32] {
    const CHUNK: usize = 16;
    let passes = |p: f32, q: f32| p + residual * q >= cutoff;
    let mut count = 0;
    for (c, (d, r)) in dots.chunks(CHUNK).zip(residuals.chunks(CHUNK)).enumerate() {
        let any = d
            .iter()
            .zip(r)
            .fold(false, |any, (&p, &q)| any | passes(p, q));
        if any {
            for (k, (&p, &q)) in d.iter().zip(r).enumerate() {
                kept[count] = (c * CHUNK + k) as u32;
                count += usize::from(passes(p, q));
            }
        }
    }
    &mut kept[..count]
}

/// Cluster labels of the rows of an `(n, d)` embedding matrix: rows i and j are joined when their
/// cosine similarity (computed in f32 from the L2-normalised rows) >= `threshold`; a zero row is similar
/// to nothing. Exact all-pairs, O(n² m) with m = 32–64 for most pairs (see `Screen`); meant for up to a
/// few 10k rows. Rounding makes the similarity of two identical rows 1 ± 1e-6, so use a threshold a
/// little below 1 to join exact duplicates. Errors: non-finite values, `threshold` outside [-1, 1].
pub fn cluster_embeddings(embeddings: Matrix<'_, f32>, threshold: f64) -> KernelResult<Vec<i64>> {
    let threshold = check_similarity_threshold(threshold, "threshold")?;
    check_rows(embeddings.rows, "embeddings")?;
    check_finite(embeddings.values, "embeddings")?;
    let unit = UnitRows::new(&embeddings);
    let screen = Screen::new(&unit, threshold);
    Ok(connect_similar(&unit, &screen, threshold))
}

/// Labels of the components of the pairs of `unit` rows that are similar at `threshold`.
fn connect_similar(unit: &UnitRows, screen: &Screen, threshold: f32) -> Vec<i64> {
    let forests = par_map(&row_blocks(unit.rows(), ROW_BLOCK), |rows| {
        block_edges(unit, screen, threshold, rows.clone())
    });
    let mut sets = UnionFind::new(unit.rows());
    for (i, j) in forests.into_iter().flatten() {
        sets.union(i, j);
    }
    sets.labels()
}

/// The validated knobs of [`minhash_signatures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinHashParams {
    num_perm: usize,
    shingle: usize,
    seed: u64,
}

impl MinHashParams {
    /// Checks `1 <= num_perm <=` [`MAX_PERMUTATIONS`] and `shingle >= 1`; any seed is valid (its 64-bit
    /// two's complement is used).
    pub fn new(num_perm: i64, shingle: i64, seed: i64) -> KernelResult<Self> {
        let num_perm = usize::try_from(num_perm)
            .ok()
            .filter(|p| (1..=MAX_PERMUTATIONS).contains(p))
            .ok_or_else(|| {
                KernelError::Value(format!(
                    "num_perm must be in [1, {MAX_PERMUTATIONS}], got {num_perm}"
                ))
            })?;
        let shingle = usize::try_from(shingle)
            .ok()
            .filter(|&s| s >= 1)
            .ok_or_else(|| KernelError::Value(format!("shingle must be >= 1, got {shingle}")))?;
        Ok(Self {
            num_perm,
            shingle,
            seed: seed as u64,
        })
    }

    /// Signature length.
    pub fn num_perm(&self) -> usize {
        self.num_perm
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mix.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `y mod (2^61 - 1)` for `y < 2^122 + 2^61`.
fn mod_mersenne61(y: u128) -> u64 {
    let p = u128::from(MERSENNE_61);
    let y = (y & p) + (y >> 61);
    let y = ((y & p) + (y >> 61)) as u64;
    if y >= MERSENNE_61 {
        y - MERSENNE_61
    } else {
        y
    }
}

/// The (a_j, b_j) of each permutation (see the module doc).
fn permutations(params: &MinHashParams) -> Vec<(u64, u64)> {
    let mut state = params.seed;
    let mut next = move || {
        state = state.wrapping_add(SPLITMIX_GAMMA);
        mix64(state)
    };
    (0..params.num_perm)
        .map(|_| {
            let a = 1 + next() % (MERSENNE_61 - 1);
            let b = next() % MERSENNE_61;
            (a, b)
        })
        .collect()
}

/// The lowercased words of `text` (see the module doc).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The seeded hash of one shingle (see the module doc).
fn shingle_hash(words: &[String], seed: u64) -> u64 {
    let fnv = |h: u64, byte: u8| (h ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    let mut h = FNV_OFFSET ^ mix64(seed);
    for (k, word) in words.iter().enumerate() {
        if k > 0 {
            h = fnv(h, WORD_SEPARATOR);
        }
        h = word.bytes().fold(h, fnv);
    }
    mix64(h)
}

/// Writes the signature of `text` into `out` (one slot per permutation).
fn signature(text: &str, params: &MinHashParams, perms: &[(u64, u64)], out: &mut [u64]) {
    out.fill(EMPTY);
    let words = words(text);
    let width = params.shingle.min(words.len()).max(1);
    for shingle in words.windows(width) {
        let x = u128::from(shingle_hash(shingle, params.seed) % MERSENNE_61);
        for (slot, &(a, b)) in out.iter_mut().zip(perms) {
            let value = mod_mersenne61(u128::from(a) * x + u128::from(b));
            *slot = (*slot).min(value);
        }
    }
}

/// MinHash signatures of `texts`, row-major `(texts.len(), params.num_perm())` (see the module doc).
pub fn minhash_signatures<S: AsRef<str>>(texts: &[S], params: &MinHashParams) -> Vec<u64> {
    let perms = permutations(params);
    let mut out = vec![EMPTY; texts.len() * params.num_perm];
    for (text, row) in texts.iter().zip(out.chunks_exact_mut(params.num_perm)) {
        signature(text.as_ref(), params, &perms, row);
    }
    out
}

/// Fraction of positions where `a` and `b` hold the same value other than [`EMPTY`].
fn signature_similarity(a: &[u64], b: &[u64]) -> f32 {
    let equal = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x == y && **x != EMPTY)
        .count();
    equal as f32 / a.len() as f32
}

/// The MinHash similarity (see the module doc) of each `(a, b)` row pair of `pairs`, an `(q, 2)` matrix
/// of row indices of `signatures`. Errors: `pairs` without exactly 2 columns, `signatures` without
/// columns, an index outside [0, m).
pub fn minhash_similarity(
    signatures: Matrix<'_, u64>,
    pairs: Matrix<'_, i64>,
) -> KernelResult<Vec<f32>> {
    if pairs.cols != 2 {
        return Err(KernelError::Shape(format!(
            "pairs must have shape (q, 2), got ({}, {})",
            pairs.rows, pairs.cols
        )));
    }
    check_signatures(&signatures, None)?;
    let m = signatures.rows;
    let index = |pos: usize| {
        let value = pairs.values[pos];
        usize::try_from(value)
            .ok()
            .filter(|&i| i < m)
            .ok_or_else(|| {
                KernelError::Value(format!(
                    "pairs[{}, {}] = {value} is not a row index of signatures in [0, {m})",
                    pos / 2,
                    pos % 2
                ))
            })
    };
    (0..pairs.rows)
        .map(|q| {
            let (a, b) = (index(2 * q)?, index(2 * q + 1)?);
            Ok(signature_similarity(signatures.row(a), signatures.row(b)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of floats in [-1, 1) (SplitMix64).
    fn noise(seed: u64, count: usize) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_add(SPLITMIX_GAMMA);
                (mix64(state) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Connected components by depth-first search from each row in order: labels[i] = the smallest
    /// index reachable from i.
    fn brute_components(n: usize, joined: impl Fn(usize, usize) -> bool) -> Vec<i64> {
        let adjacent: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..n).filter(|&j| j != i && joined(i, j)).collect())
            .collect();
        let mut labels = vec![-1i64; n];
        for start in 0..n {
            let mut stack = vec![start];
            while let Some(i) = stack.pop() {
                if labels[i] == -1 {
                    labels[i] = start as i64;
                    stack.extend(&adjacent[i]);
                }
            }
        }
        labels
    }

    #[test]
    fn union_find_labels_are_smallest_members() {
        let mut sets = UnionFind::new(6);
        sets.union(5, 3);
        sets.union(3, 4);
        sets.union(2, 1);
        assert!(!sets.union(4, 5));
        assert_eq!(sets.labels(), vec![0, 1, 1, 3, 3, 3]);
    }

    #[test]
    fn knn_joins_by_similarity_and_ignores_padding_and_self() {
        let neighbors = [1, -1, 0, 2, 3, 1, 3, 2];
        let sims = [0.9, f32::NAN, 0.9, 0.5, 0.5, 0.5, 1.0, 0.1];
        let labels = cluster_knn(
            Matrix::new(&neighbors, 4, 2),
            Matrix::new(&sims, 4, 2),
            0.8,
            None,
            1.0,
        );
        assert_eq!(labels, Ok(vec![0, 0, 2, 3]));
    }

    #[test]
    fn knn_joins_by_signature_agreement() {
        let neighbors = [1, 0, 0];
        let sims = [0.1, 0.1, 0.1];
        let sigs = [7, 8, 7, 9, EMPTY, EMPTY];
        let cluster = |min_jaccard| {
            cluster_knn(
                Matrix::new(&neighbors, 3, 1),
                Matrix::new(&sims, 3, 1),
                0.5,
                Some(Matrix::new(&sigs, 3, 2)),
                min_jaccard,
            )
        };
        assert_eq!(cluster(0.5), Ok(vec![0, 0, 2]));
        assert_eq!(cluster(1.0), Ok(vec![0, 1, 2]));
        assert_eq!(cluster(0.0), Ok(vec![0, 0, 0]));
    }

    #[test]
    fn knn_rejects_bad_input() {
        let knn = |neighbors: &[i64], k: usize, threshold: f64, min_jaccard: f64| {
            let sims = vec![0.5f32; neighbors.len()];
            let n = neighbors.len().checked_div(k).unwrap_or(2);
            cluster_knn(
                Matrix::new(neighbors, n, k),
                Matrix::new(&sims, n, k),
                threshold,
                None,
                min_jaccard,
            )
            .unwrap_err()
            .to_string()
        };
        assert!(knn(&[], 0, 0.5, 1.0).contains("k >= 1"));
        assert!(knn(&[1, 2], 1, 0.5, 1.0).contains("neighbors[1, 0] = 2"));
        assert!(knn(&[1, -2], 1, 0.5, 1.0).contains("neighbors[1, 0] = -2"));
        assert!(knn(&[1, 0], 1, 1.5, 1.0).contains("threshold"));
        assert!(knn(&[1, 0], 1, f64::NAN, 1.0).contains("threshold"));
        assert!(knn(&[1, 0], 1, 0.5, -0.1).contains("min_jaccard"));
        let sims = [0.5, f32::INFINITY];
        let err = cluster_knn(
            Matrix::new(&[1, 0], 2, 1),
            Matrix::new(&sims, 2, 1),
            0.5,
            None,
            1.0,
        );
        assert!(err.unwrap_err().to_string().contains("similarities[1, 0]"));
        let sigs = [1u64, 2];
        let err = cluster_knn(
            Matrix::new(&[1, 0], 2, 1),
            Matrix::new(&[0.5, 0.5], 2, 1),
            0.5,
            Some(Matrix::new(&sigs, 1, 2)),
            1.0,
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("signatures must have one row per row"));
    }

    fn embeddings_brute(x: &[f32], n: usize, d: usize, threshold: f32) -> Vec<i64> {
        let unit = UnitRows::new(&Matrix::new(x, n, d));
        brute_components(n, |i, j| unit.similar(i, j, threshold))
    }

    #[test]
    fn embeddings_match_brute_force_on_small_inputs() {
        let (n, d) = (40, 5);
        let mut x = noise(1, n * d);
        x.copy_within(0..d, 3 * d); // a duplicate row
        x[7 * d..8 * d].fill(0.0); // a zero row
        for threshold in [-1.0, -0.2, 0.3, 0.8, 0.999] {
            let labels = cluster_embeddings(Matrix::new(&x, n, d), threshold).unwrap();
            assert_eq!(
                labels,
                embeddings_brute(&x, n, d, threshold as f32),
                "threshold {threshold}"
            );
            assert_eq!(labels[7], 7);
        }
    }

    /// Rows in groups around shared centres in a space of decaying variance, like sentence embeddings.
    fn clustered_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
        let centres = noise(seed, n / 4 * d);
        let jitter = noise(seed + 1, n * d);
        (0..n * d)
            .map(|pos| {
                let (i, k) = (pos / d, pos % d);
                let scale = 1.0 / (1.0 + k as f32).sqrt();
                (centres[(i / 4) * d + k] + 0.15 * jitter[pos]) * scale + 0.03
            })
            .collect()
    }

    #[test]
    fn low_rank_screen_bounds_every_pair_and_keeps_labels_exact() {
        let (n, d) = (300, 96);
        let x = clustered_rows(n, d, 7);
        let unit = UnitRows::new(&Matrix::new(&x, n, d));
        let basis = top_subspace(&unit.values, 48).expect("orthonormal basis");
        let screen = Screen::low_rank(&unit, &basis, 16);
        let coarse = screen.proj.slice(s![.., ..16]).to_owned();
        for i in 0..n {
            for j in 0..n {
                let coarse_dot = coarse.row(i).dot(&coarse.row(j));
                let coarse_bound =
                    coarse_dot + screen.coarse_residual[i] * screen.coarse_residual[j];
                let fine_bound = screen.fine_bound(i, j, coarse_dot);
                let similarity = unit.similarity(i, j);
                assert!(coarse_bound + SCREEN_SLACK >= similarity, "pair ({i}, {j})");
                assert!(fine_bound + SCREEN_SLACK >= similarity, "pair ({i}, {j})");
                assert!(fine_bound <= coarse_bound + SCREEN_SLACK, "pair ({i}, {j})");
            }
        }
        for threshold in [0.6, 0.9, 0.97] {
            let labels = connect_similar(&unit, &screen, threshold);
            assert_eq!(
                labels,
                embeddings_brute(&x, n, d, threshold),
                "threshold {threshold}"
            );
        }
    }

    #[test]
    fn low_rank_screen_is_chosen_for_embedding_like_rows() {
        let (n, d) = (SCREEN_MIN_ROWS, 384);
        let unit = UnitRows::new(&Matrix::new(&clustered_rows(n, d, 3), n, d));
        let screen = Screen::new(&unit, 0.9);
        assert!(COARSE_RANKS.contains(&screen.coarse));
        assert_eq!(screen.proj.ncols(), FINE_RANK);
        assert_eq!(Screen::new(&unit, -1.0).coarse, d);
        // The narrowest rows that may get a low-rank screen, whose fine rank is the first coarse one.
        let width = 2 * COARSE_RANKS[0];
        let narrow = UnitRows::new(&Matrix::new(&clustered_rows(n, width, 5), n, width));
        let screen = Screen::new(&narrow, 0.9);
        assert!(screen.coarse <= screen.proj.ncols());
    }

    #[test]
    fn subspace_of_rank_deficient_rows_is_orthonormal() {
        let rows =
            Array2::from_shape_fn((50, 70), |(i, k)| if k < 3 { (i + k) as f32 } else { 0.0 });
        let basis = top_subspace(&rows, COARSE_RANKS[0]).expect("orthonormal basis");
        assert_eq!(basis.dim(), (70, COARSE_RANKS[0]));
    }

    #[test]
    fn cholesky_factor_and_triangular_solve() {
        let a = ndarray::arr2(&[[4.0, 2.0, 0.4], [2.0, 5.0, 1.0], [0.4, 1.0, 3.0]]);
        let factor = cholesky(&a).expect("positive definite");
        assert!((factor.dot(&factor.t()) - &a)
            .iter()
            .all(|v| v.abs() < 1e-12));
        let mut z = factor.clone();
        solve_lower(&factor, &mut z);
        let identity = z - Array2::<f64>::eye(3);
        assert!(identity.iter().all(|v| v.abs() < 1e-12));
        assert!(cholesky(&ndarray::arr2(&[[1.0, 2.0], [2.0, 1.0]])).is_none());
    }

    #[test]
    fn embeddings_reject_bad_input() {
        let x = [1.0, f32::NAN];
        let err = cluster_embeddings(Matrix::new(&x, 1, 2), 0.5).unwrap_err();
        assert!(err.to_string().contains("embeddings must be finite"));
        let err = cluster_embeddings(Matrix::new(&[1.0], 1, 1), 2.0).unwrap_err();
        assert!(err.to_string().contains("threshold"));
        assert_eq!(cluster_embeddings(Matrix::new(&[], 0, 3), 0.5), Ok(vec![]));
    }

    #[test]
    fn mersenne_reduction_matches_remainder() {
        let p = u128::from(MERSENNE_61);
        for (a, x) in [
            (1, 0),
            (MERSENNE_61 - 1, MERSENNE_61 - 1),
            (12345, 1 << 60),
            (3, 7),
        ] {
            let y = u128::from(a) * u128::from(x) + (p - 1);
            assert_eq!(u128::from(mod_mersenne61(y)), y % p);
        }
    }

    #[test]
    fn words_are_lowercased_alphanumeric_runs() {
        assert_eq!(
            words("Hello, WORLD! it's 2024-05"),
            ["hello", "world", "it", "s", "2024", "05"]
        );
        assert_eq!(words("ΣΟΦΟΣ café"), ["σοφος", "café"]);
        assert!(words(" ... ").is_empty());
    }

    #[test]
    fn signatures_are_stable() {
        let params = MinHashParams::new(4, 2, 7).unwrap();
        let sigs = minhash_signatures(&["The quick brown fox", "", "fox"], &params);
        // Pinned values: signatures may be stored, so they must never change.
        assert_eq!(
            sigs[..4],
            [
                868_815_746_303_703_566,
                1_379_343_897_481_358_427,
                1_266_007_877_832_340_807,
                1_364_108_000_259_182_004
            ]
        );
        assert_eq!(sigs[4..8], [EMPTY; 4]);
        assert!(sigs[8..].iter().all(|&v| v < MERSENNE_61));
    }

    #[test]
    fn longer_signatures_extend_shorter_ones() {
        let short = minhash_signatures(&["a b c d"], &MinHashParams::new(8, 3, 1).unwrap());
        let long = minhash_signatures(&["a b c d"], &MinHashParams::new(16, 3, 1).unwrap());
        assert_eq!(short[..], long[..8]);
    }

    #[test]
    fn similarity_estimates_jaccard() {
        let params = MinHashParams::new(256, 1, 0).unwrap();
        // Shingle sets {0..60} and {20..80}: Jaccard 40 / 80 = 0.5.
        let text = |r: Range<u32>| r.map(|w| format!("w{w}")).collect::<Vec<_>>().join(" ");
        let sigs = minhash_signatures(&[text(0..60), text(20..80), String::new()], &params);
        let pairs = [0, 1, 0, 0, 2, 2];
        let sim =
            minhash_similarity(Matrix::new(&sigs, 3, 256), Matrix::new(&pairs, 3, 2)).unwrap();
        assert!((sim[0] - 0.5).abs() < 0.1, "{}", sim[0]);
        assert_eq!(sim[1..], [1.0, 0.0]);
    }

    #[test]
    fn minhash_rejects_bad_input() {
        assert!(MinHashParams::new(0, 3, 0)
            .unwrap_err()
            .to_string()
            .contains("num_perm"));
        assert!(MinHashParams::new(64, 0, 0)
            .unwrap_err()
            .to_string()
            .contains("shingle"));
        let sigs = [1u64, 2];
        let err = minhash_similarity(Matrix::new(&sigs, 2, 1), Matrix::new(&[0, 2], 1, 2));
        assert!(err.unwrap_err().to_string().contains("pairs[0, 1] = 2"));
        let err = minhash_similarity(Matrix::new(&sigs, 2, 1), Matrix::new(&[0, 1, 1], 1, 3));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("pairs must have shape (q, 2)"));
    }
}
