//! MinHash of word shingles ([`minhash_signatures`], [`minhash_similarity`]), which finds near-duplicate
//! texts for sleep-time consolidation. The hashing is integer arithmetic on fixed constants, so
//! signatures are the same on every process and platform and may be stored:
//! - words: maximal runs of characters that are Unicode Alphabetic or Numeric (`char::is_alphanumeric`,
//!   which for letters and digits agrees with Python's `str.isalnum`; it also counts combining marks
//!   that are Other_Alphabetic, such as most Indic vowel signs), each lowercased with Unicode full
//!   lowercasing (`str::to_lowercase`, as Python's `str.lower`). Everything else separates words. No
//!   Unicode normalisation is applied: composed and decomposed forms of a word differ.
//! - shingles: every run of `shingle` consecutive words; a text with fewer words has one shingle of
//!   all of them.
//! - shingle hash: 64-bit FNV-1a over the words' UTF-8 bytes joined by byte 0xFF (never in UTF-8),
//!   started from the FNV offset basis XOR `mix64(seed)` and finished by `mix64`, the finaliser of
//!   SplitMix64.
//! - permutation j: `(a_j * (h mod P) + b_j) mod P`, P = 2^61 - 1, with `a_j = 1 + s mod (P - 1)` and
//!   `b_j = s' mod P` for the next two outputs s, s' of a SplitMix64 stream seeded with `seed`. So the
//!   first q positions of a longer signature are those of a shorter one with the same seed.
//! - signature: the minimum of each permutation over the text's shingles; every value is < P. A text
//!   with no words gets [`EMPTY`] (u64::MAX) at every position.
//! - similarity: the fraction of positions at which two signatures hold the same value other than
//!   [`EMPTY`], an estimate of the Jaccard similarity of the two shingle sets. A text with no words is
//!   therefore similar to nothing, itself included.

use ndarray::{Array2, ArrayView2};

use crate::error::{KernelError, KernelResult};
use crate::matrix::row;

/// Signature value of a text with no words. Permutations never produce it (their values are < P).
pub const EMPTY: u64 = u64::MAX;
/// Largest `num_perm` [`MinHashParams`] accepts.
pub const MAX_PERMUTATIONS: usize = 4096;

const MERSENNE_61: u64 = (1 << 61) - 1;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
const WORD_SEPARATOR: u8 = 0xff;

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

/// MinHash signatures of `texts`, shape `(texts.len(), params.num_perm())` (see the module doc).
pub fn minhash_signatures<S: AsRef<str>>(texts: &[S], params: &MinHashParams) -> Array2<u64> {
    let perms = permutations(params);
    let mut out = Array2::from_elem((texts.len(), params.num_perm), EMPTY);
    for (text, mut row) in texts.iter().zip(out.rows_mut()) {
        let row = row
            .as_slice_mut()
            .expect("rows of an owned array are contiguous");
        signature(text.as_ref(), params, &perms, row);
    }
    out
}

/// Fraction of positions where `a` and `b` hold the same value other than [`EMPTY`].
pub(crate) fn signature_similarity(a: &[u64], b: &[u64]) -> f32 {
    let equal = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x == y && **x != EMPTY)
        .count();
    equal as f32 / a.len() as f32
}

/// Fails unless `signatures` has at least one column and, when given, exactly `rows` rows.
pub(crate) fn check_signatures(
    signatures: &ArrayView2<'_, u64>,
    rows: Option<(usize, &str)>,
) -> KernelResult<()> {
    if signatures.ncols() == 0 {
        return Err(KernelError::Shape(
            "signatures must have at least one column (num_perm >= 1), got 0".into(),
        ));
    }
    match rows {
        Some((n, what)) if signatures.nrows() != n => Err(KernelError::Shape(format!(
            "signatures must have one row per row of {what}: got {} rows for {n}",
            signatures.nrows()
        ))),
        _ => Ok(()),
    }
}

/// The MinHash similarity (see the module doc) of each `(a, b)` row pair of `pairs`, an `(q, 2)` matrix
/// of row indices of `signatures`. Errors: `pairs` without exactly 2 columns, `signatures` without
/// columns, an index outside [0, m).
pub fn minhash_similarity(
    signatures: ArrayView2<'_, u64>,
    pairs: ArrayView2<'_, i64>,
) -> KernelResult<Vec<f32>> {
    if pairs.ncols() != 2 {
        return Err(KernelError::Shape(format!(
            "pairs must have shape (q, 2), got ({}, {})",
            pairs.nrows(),
            pairs.ncols()
        )));
    }
    check_signatures(&signatures, None)?;
    let m = signatures.nrows();
    let signatures = signatures.as_standard_layout();
    let index = |q: usize, c: usize| {
        let value = pairs[[q, c]];
        usize::try_from(value)
            .ok()
            .filter(|&i| i < m)
            .ok_or_else(|| {
                KernelError::Value(format!(
                    "pairs[{q}, {c}] = {value} is not a row index of signatures in [0, {m})"
                ))
            })
    };
    (0..pairs.nrows())
        .map(|q| {
            let (a, b) = (index(q, 0)?, index(q, 1)?);
            Ok(signature_similarity(
                row(&signatures, a),
                row(&signatures, b),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ndarray::aview2;
    use std::ops::Range;

    use super::*;

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
            sigs.row(0).to_vec(),
            [
                868_815_746_303_703_566,
                1_379_343_897_481_358_427,
                1_266_007_877_832_340_807,
                1_364_108_000_259_182_004
            ]
        );
        assert_eq!(sigs.row(1).to_vec(), [EMPTY; 4]);
        assert!(sigs.row(2).iter().all(|&v| v < MERSENNE_61));
    }

    #[test]
    fn longer_signatures_extend_shorter_ones() {
        let short = minhash_signatures(&["a b c d"], &MinHashParams::new(8, 3, 1).unwrap());
        let long = minhash_signatures(&["a b c d"], &MinHashParams::new(16, 3, 1).unwrap());
        assert_eq!(short.row(0).to_vec(), long.row(0).to_vec()[..8]);
    }

    #[test]
    fn similarity_estimates_jaccard() {
        let params = MinHashParams::new(256, 1, 0).unwrap();
        // Shingle sets {0..60} and {20..80}: Jaccard 40 / 80 = 0.5.
        let text = |r: Range<u32>| r.map(|w| format!("w{w}")).collect::<Vec<_>>().join(" ");
        let sigs = minhash_signatures(&[text(0..60), text(20..80), String::new()], &params);
        let pairs = [[0, 1], [0, 0], [2, 2]];
        let sim = minhash_similarity(sigs.view(), aview2(&pairs)).unwrap();
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
        let sigs = [[1u64], [2]];
        let err = minhash_similarity(aview2(&sigs), aview2(&[[0, 2]]));
        assert!(err.unwrap_err().to_string().contains("pairs[0, 1] = 2"));
        let err = minhash_similarity(aview2(&sigs), aview2(&[[0, 1, 1]]));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("pairs must have shape (q, 2)"));
    }
}
