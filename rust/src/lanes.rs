//! Reductions over f32 rows in f64, spread over lanes so that they vectorise.

/// Squared L2 norm of `row` in f64 (eight lanes).
#[inline(always)]
pub(crate) fn squared_norm(row: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(v) * f64::from(v);
        }
    }
    lanes.iter().sum::<f64>() + tail
}
