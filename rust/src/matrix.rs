//! Rows of the kernels' matrices. Every kernel takes its matrices as `ndarray::ArrayView2`, in any
//! memory layout, and reads them through `as_standard_layout` (borrowed when the view is already
//! row-major, else copied once), so that a row is a slice: the hot loops then run over slices, which on
//! the 100k x 16 kNN graph of bench_dedup.py took half the time of iterating `ArrayView1` rows in step.

use ndarray::{ArrayBase, Data, Ix2};

/// Why a matrix in standard layout is one slice.
pub(crate) const ROW_MAJOR: &str = "a matrix in standard layout is one row-major slice";

/// Row `i` of a matrix in standard layout, as a slice.
pub(crate) fn row<S: Data>(matrix: &ArrayBase<S, Ix2>, i: usize) -> &[S::Elem] {
    let width = matrix.ncols();
    &matrix.as_slice().expect(ROW_MAJOR)[i * width..(i + 1) * width]
}
