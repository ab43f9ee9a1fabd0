//! Near-duplicate clustering of a kNN graph for sleep-time consolidation ([`cluster_knn`]).
//!
//! A clustering is the set of connected components of the joining edges, found by union-find and
//! labelled deterministically: each row gets the smallest row index of its cluster, so a singleton's
//! label is its own index (see [`crate::union_find`]).

use ndarray::ArrayView2;

use crate::error::{KernelError, KernelResult};
use crate::matrix::{row, ROW_MAJOR};
use crate::minhash::{check_signatures, signature_similarity};
use crate::union_find::{UnionFind, MAX_ROWS};

/// Checks the shapes of the arguments of [`cluster_knn`].
fn check_knn_shapes(
    neighbors: &ArrayView2<'_, i64>,
    similarities: &ArrayView2<'_, f32>,
) -> KernelResult<()> {
    let (n, k) = neighbors.dim();
    if n > MAX_ROWS {
        return Err(KernelError::Shape(format!(
            "neighbors has {n} rows, more than the {MAX_ROWS} supported"
        )));
    }
    if k == 0 {
        return Err(KernelError::Shape(format!(
            "neighbors must have at least one column (k >= 1), got shape ({n}, 0)"
        )));
    }
    if similarities.dim() != (n, k) {
        return Err(KernelError::Shape(format!(
            "similarities must have the shape of neighbors ({n}, {k}), got {:?}",
            similarities.dim()
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
/// (see [`crate::minhash::minhash_similarity`]) >= `min_jaccard`; both comparisons are in f32.
/// Self-edges are ignored. Errors: k = 0, mismatched shapes, an index outside [0, n) other than -1, a
/// non-finite similarity of a real neighbour, `threshold` outside [-1, 1], `min_jaccard` outside [0, 1].
pub fn cluster_knn(
    neighbors: ArrayView2<'_, i64>,
    similarities: ArrayView2<'_, f32>,
    threshold: f64,
    signatures: Option<ArrayView2<'_, u64>>,
    min_jaccard: f64,
) -> KernelResult<Vec<i64>> {
    check_knn_shapes(&neighbors, &similarities)?;
    if !(-1.0..=1.0).contains(&threshold) {
        return Err(KernelError::Value(format!(
            "threshold must be in [-1, 1], got {threshold}"
        )));
    }
    if !(0.0..=1.0).contains(&min_jaccard) {
        return Err(KernelError::Value(format!(
            "min_jaccard must be in [0, 1], got {min_jaccard}"
        )));
    }
    let (threshold, min_jaccard) = (threshold as f32, min_jaccard as f32);
    let (n, k) = neighbors.dim();
    if let Some(sig) = &signatures {
        check_signatures(sig, Some((n, "neighbors")))?;
    }
    let (ids, sims) = (
        neighbors.as_standard_layout(),
        similarities.as_standard_layout(),
    );
    let (ids, sims) = (
        ids.as_slice().expect(ROW_MAJOR),
        sims.as_slice().expect(ROW_MAJOR),
    );
    let signatures = signatures.as_ref().map(|sig| sig.as_standard_layout());
    let signature = |i: usize| signatures.as_ref().map(|sig| row(sig, i));
    let mut sets = UnionFind::new(n);
    for (i, (row, sims)) in ids.chunks_exact(k).zip(sims.chunks_exact(k)).enumerate() {
        for (c, (&j, &sim)) in row.iter().zip(sims).enumerate() {
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
                    || signature(i).zip(signature(j)).is_some_and(|(a, b)| {
                        !sets.same(i, j) && signature_similarity(a, b) >= min_jaccard
                    }));
            if joins {
                sets.union(i, j);
            }
        }
    }
    Ok(sets.labels())
}

#[cfg(test)]
mod tests {
    use ndarray::{aview2, Array2};

    use super::*;
    use crate::minhash::EMPTY;

    #[test]
    fn knn_joins_by_similarity_and_ignores_padding_and_self() {
        let neighbors = [[1, -1], [0, 2], [3, 1], [3, 2]];
        let sims = [[0.9, f32::NAN], [0.9, 0.5], [0.5, 0.5], [1.0, 0.1]];
        let labels = cluster_knn(aview2(&neighbors), aview2(&sims), 0.8, None, 1.0);
        assert_eq!(labels, Ok(vec![0, 0, 2, 3]));
    }

    #[test]
    fn knn_joins_by_signature_agreement() {
        let neighbors = [[1], [0], [0]];
        let sims = [[0.1f32]; 3];
        let sigs = [[7, 8], [7, 9], [EMPTY, EMPTY]];
        let cluster = |min_jaccard| {
            cluster_knn(
                aview2(&neighbors),
                aview2(&sims),
                0.5,
                Some(aview2(&sigs)),
                min_jaccard,
            )
        };
        assert_eq!(cluster(0.5), Ok(vec![0, 0, 2]));
        assert_eq!(cluster(1.0), Ok(vec![0, 1, 2]));
        assert_eq!(cluster(0.0), Ok(vec![0, 0, 0]));
    }

    #[test]
    fn knn_reads_strided_views() {
        // The transpose of a row-major array: columns are the graph's rows.
        let neighbors = Array2::from_shape_vec((2, 3), vec![1, 0, 1, -1, -1, 0]).unwrap();
        let sims = Array2::from_shape_vec((2, 3), vec![0.9f32, 0.9, 0.2, 0.0, 0.0, 0.9]).unwrap();
        let labels = cluster_knn(neighbors.t(), sims.t(), 0.8, None, 1.0);
        assert_eq!(labels, Ok(vec![0, 0, 0]));
    }

    #[test]
    fn knn_rejects_bad_input() {
        let knn = |neighbors: &[i64], k: usize, threshold: f64, min_jaccard: f64| {
            let sims = vec![0.5f32; neighbors.len()];
            let n = neighbors.len().checked_div(k).unwrap_or(2);
            cluster_knn(
                ArrayView2::from_shape((n, k), neighbors).unwrap(),
                ArrayView2::from_shape((n, k), &sims).unwrap(),
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
        let err = cluster_knn(
            aview2(&[[1], [0]]),
            aview2(&[[0.5], [f32::INFINITY]]),
            0.5,
            None,
            1.0,
        );
        assert!(err.unwrap_err().to_string().contains("similarities[1, 0]"));
        let err = cluster_knn(
            aview2(&[[1], [0]]),
            aview2(&[[0.5f32, 0.5]]),
            0.5,
            None,
            1.0,
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("similarities must have the shape of neighbors (2, 1), got (1, 2)"));
        let err = cluster_knn(
            aview2(&[[1], [0]]),
            aview2(&[[0.5], [0.5]]),
            0.5,
            Some(aview2(&[[1u64, 2]])),
            1.0,
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("signatures must have one row per row"));
    }
}
