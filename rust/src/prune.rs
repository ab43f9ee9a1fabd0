//! Token importance scoring and ratio pruning over a ragged batch of turns.
//!
//! A batch of `m` turns is a flat array of `n` tokens plus `offsets` (`m + 1` entries): turn `t` holds
//! tokens `offsets[t]..offsets[t + 1]`, with `offsets[0] == 0`, non-decreasing, `offsets[m] == n`.
//!
//! [`score_tokens`] is the model-free default scorer (information content of each word);
//! [`prune_tokens`] keeps the forced words and a fixed fraction of the other words of every turn (or
//! sentence), from those scores or from the scores of an external word classifier. Which words are
//! forced, and how turns are cut into words and sentences, is `crate::prune_rules`'.

use std::ops::Range;

use crate::error::{check_finite, KernelError, KernelResult};

/// Flag bit: the token must be kept (a name, a number, a negation, ...). `score_tokens` ignores it;
/// the caller passes it to `prune_tokens` as `force_keep`.
pub const FORCE_KEEP: u8 = 1;
/// Flag bit: a capitalised name.
pub const ENTITY: u8 = 2;
/// Flag bit: a number.
pub const NUMBER: u8 = 4;
/// Flag bit: a date or time expression.
pub const DATE: u8 = 8;
/// Flag bit: a filler word (um, like, yeah, ...).
pub const FILLER: u8 = 16;
/// Flag bit: a stopword (the, of, and, ...).
pub const STOPWORD: u8 = 32;
const KNOWN_FLAGS: u8 = FORCE_KEEP | ENTITY | NUMBER | DATE | FILLER | STOPWORD;

/// Weight of `ln(1 + running count)`: what the memory has seen often is less informative.
pub const FAMILIARITY_WEIGHT: f32 = 0.5;
/// Added for each of the ENTITY, NUMBER and DATE flags.
pub const SALIENT_BOOST: f32 = 3.0;
/// Subtracted for the FILLER flag.
pub const FILLER_PENALTY: f32 = 6.0;
/// Subtracted for the STOPWORD flag.
pub const STOPWORD_PENALTY: f32 = 3.0;
/// Subtracted from the second and later occurrences of the same id within one turn.
pub const REPEAT_PENALTY: f32 = 2.0;

/// Validates `offsets` against `n` tokens and returns the token range of every turn.
pub fn turn_ranges(
    offsets: &[i64],
    n: usize,
) -> KernelResult<impl Iterator<Item = Range<usize>> + '_> {
    let (&first, &last) = match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => {
            return Err(KernelError::Shape(
                "offsets must have m + 1 >= 1 entries (use [0] for an empty batch)".into(),
            ))
        }
    };
    if first != 0 || usize::try_from(last).ok() != Some(n) {
        return Err(KernelError::Value(format!(
            "offsets must start at 0 and end at the number of tokens {n}, got {first} .. {last}"
        )));
    }
    if let Some(t) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(KernelError::Value(format!(
            "offsets must be non-decreasing, got {} then {} at position {t}",
            offsets[t],
            offsets[t + 1]
        )));
    }
    // Every offset is now in 0..=n, so the casts are lossless.
    Ok(offsets.windows(2).map(|w| w[0] as usize..w[1] as usize))
}

fn check_len(what: &str, len: usize, reference: &str, expected: usize) -> KernelResult<()> {
    if len == expected {
        Ok(())
    } else {
        Err(KernelError::Shape(format!(
            "{what} has length {len}, expected len({reference}) = {expected}"
        )))
    }
}

/// The score change from a token's flags (FORCE_KEEP does not change it).
const fn flag_adjustment(flags: u8) -> f32 {
    let salient =
        (flags & ENTITY != 0) as u8 + (flags & NUMBER != 0) as u8 + (flags & DATE != 0) as u8;
    let mut delta = SALIENT_BOOST * salient as f32;
    if flags & FILLER != 0 {
        delta -= FILLER_PENALTY;
    }
    if flags & STOPWORD != 0 {
        delta -= STOPWORD_PENALTY;
    }
    delta
}

/// `flag_adjustment` of every valid flags byte, so that scoring is one table look-up per token.
const ADJUSTMENT: [f32; KNOWN_FLAGS as usize + 1] = {
    let mut table = [0.0; KNOWN_FLAGS as usize + 1];
    let mut flags = 0;
    while flags <= KNOWN_FLAGS {
        table[flags as usize] = flag_adjustment(flags);
        flags += 1;
    }
    table
};

/// The smallest of finite `values` (+inf if empty), in eight lanes so that it vectorises (a single
/// running minimum waits for each comparison in turn).
fn smallest(values: &[f32]) -> f32 {
    let mut lanes = [f32::INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::INFINITY, |m, &v| m.min(v));
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v < *lane { v } else { *lane };
        }
    }
    lanes.iter().fold(tail, |m, &v| m.min(v))
}

/// What `score_tokens` knows of an id: its score before flags and repeats (for a vocabulary id, NaN
/// until the id is first met), and the stamp of the last turn it occurred in (0 = none yet). One
/// record, so that a token costs one random access.
#[derive(Clone, Copy)]
struct IdRecord {
    base: f32,
    turn: u32,
}

/// The stamp of the last turn every id without an `IdRecord` occurred in: open addressing (Fibonacci
/// hashing, linear probing, at most half full) sized for the number of such tokens. Stamps start at 1,
/// so stamp 0 marks an empty slot and any u32 can be a key.
struct UnknownIds {
    slots: Vec<(u32, u32)>,
    shift: u32,
}

impl UnknownIds {
    /// An empty map with room for `len` distinct ids.
    fn new(len: usize) -> Self {
        let size = (2 * len).next_power_of_two().max(8);
        UnknownIds {
            slots: vec![(0, 0); size],
            shift: 64 - size.trailing_zeros(),
        }
    }

    /// Forgets every id.
    fn forget(&mut self) {
        self.slots.fill((0, 0));
    }

    /// Records that `id` occurs in the turn stamped `turn` and tells whether it already did.
    fn occurs(&mut self, id: u32, turn: u32) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = (u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        loop {
            let slot = &mut self.slots[i];
            if slot.1 == 0 {
                *slot = (id, turn);
                return false;
            }
            if slot.0 == id {
                return std::mem::replace(&mut slot.1, turn) == turn;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Scores every token by its information content (higher = more worth keeping).
///
/// For a token with vocabulary id `w` in a turn:
///
/// ```text
/// score = -background_logprob[w]
///         - FAMILIARITY_WEIGHT * ln(1 + running_counts[w])
///         + flag_adjustment(flags)
///         - REPEAT_PENALTY        (if w already occurred earlier in the same turn)
/// flag_adjustment = SALIENT_BOOST * (#of ENTITY, NUMBER, DATE set)
///                   - FILLER_PENALTY * [FILLER] - STOPWORD_PENALTY * [STOPWORD]
/// ```
///
/// computed in f32 in that order (`ln(1 + c)` as `(1 + c).ln()`). An id `>= V` (the table length) is
/// an unknown word: it is treated as the rarest word of the table (log-prob = the table's minimum,
/// running count 0). Repetition is detected by id, so distinct unknown words need distinct ids.
///
/// Errors: lengths disagree, bad offsets, an empty or non-finite table, negative or non-finite
/// running counts, flag bits other than the six defined ones.
pub fn score_tokens(
    token_ids: &[u32],
    offsets: &[i64],
    background_logprob: &[f32],
    running_counts: &[f32],
    flags: &[u8],
) -> KernelResult<Vec<f32>> {
    let n = token_ids.len();
    check_len("flags", flags.len(), "token_ids", n)?;
    let turns = turn_ranges(offsets, n)?;
    if background_logprob.is_empty() {
        return Err(KernelError::Shape(
            "background_logprob must not be empty".into(),
        ));
    }
    // The checks below are folds that vectorise; a search, which stops early and so does not, runs
    // only to name a bad value.
    if !background_logprob
        .iter()
        .fold(true, |ok, &v| ok & v.is_finite())
    {
        check_finite(background_logprob, "background_logprob")?;
    }
    check_len(
        "running_counts",
        running_counts.len(),
        "background_logprob",
        background_logprob.len(),
    )?;
    if !running_counts
        .iter()
        .fold(true, |ok, &c| ok & (0.0..f32::INFINITY).contains(&c))
    {
        check_finite(running_counts, "running_counts")?;
        if let Some(i) = running_counts.iter().position(|&c| c < 0.0) {
            return Err(KernelError::Value(format!(
                "running_counts must be >= 0, found {} at position {i}",
                running_counts[i]
            )));
        }
    }
    if flags.iter().fold(0, |all, &f| all | f) & !KNOWN_FLAGS != 0 {
        if let Some(i) = flags.iter().position(|&f| f & !KNOWN_FLAGS != 0) {
            return Err(KernelError::Value(format!(
                "flags may only use bits 1..32 (value <= {KNOWN_FLAGS}), found {} at position {i}",
                flags[i]
            )));
        }
    }

    let vocabulary = background_logprob.len();
    let unknown_score = -smallest(background_logprob);
    // Records for the vocabulary, then for the unknown ids up to the largest one (at most n of them),
    // so that most batches hash no id; only ids from V + n up go to `UnknownIds`.
    let id_bound = token_ids
        .iter()
        .copied()
        .max()
        .map_or(0, |id| (id as usize).saturating_add(1)); // one past the largest id
    let n_records = vocabulary.max(id_bound.min(vocabulary + n));
    let mut records = vec![
        IdRecord {
            base: f32::NAN,
            turn: 0
        };
        vocabulary
    ];
    records.resize(
        n_records,
        IdRecord {
            base: unknown_score,
            turn: 0,
        },
    );
    // Tokens whose id has no record, counted by vectorised u32 comparisons (n_records < id_bound, so
    // n_records fits in u32).
    let hashed_tokens = if id_bound > n_records {
        let first = n_records as u32;
        token_ids.iter().filter(|&&id| id >= first).count()
    } else {
        0
    };
    let mut unknown = UnknownIds::new(hashed_tokens);
    let mut scores = Vec::with_capacity(n);
    // Turns are stamped 1, 2, ...; after u32::MAX turns, every id forgets its stamp and counting
    // restarts.
    let mut stamp = 0u32;
    for turn in turns {
        if stamp == u32::MAX {
            records.iter_mut().for_each(|record| record.turn = 0);
            unknown.forget();
            stamp = 0;
        }
        stamp += 1;
        let tokens = token_ids[turn.clone()].iter().zip(&flags[turn.clone()]);
        scores.extend(tokens.map(|(&id, &f)| {
            let (base_score, repeated) = match records.get_mut(id as usize) {
                Some(entry) => {
                    if entry.base.is_nan() {
                        let w = id as usize;
                        // ln(1 + c) rather than ln_1p: several times faster, exact enough for c >= 0.
                        entry.base = -background_logprob[w]
                            - FAMILIARITY_WEIGHT * (1.0 + running_counts[w]).ln();
                    }
                    (
                        entry.base,
                        std::mem::replace(&mut entry.turn, stamp) == stamp,
                    )
                }
                None => (unknown_score, unknown.occurs(id, stamp)),
            };
            // Branch-free: flags were validated (the mask only elides the bounds check), and x - 0 = x.
            let adjusted = base_score + ADJUSTMENT[usize::from(f & KNOWN_FLAGS)];
            adjusted - REPEAT_PENALTY * f32::from(u8::from(repeated))
        }));
    }
    Ok(scores)
}

/// How many of a turn's `n_free` unforced words `prune_tokens` keeps beside its `n_forced` forced
/// ones: `ceil(ratio * n_free)`, raised so that the turn keeps at least `min_words` words in all (and at
/// least one), and at most `n_free`. A 1e-9 slack absorbs float noise (0.7 * 10 is 7.000000000000001,
/// not 8 words).
pub fn words_to_keep(ratio: f64, n_free: usize, n_forced: usize, min_words: usize) -> usize {
    let share = (ratio * n_free as f64 - 1e-9).ceil() as usize;
    let floor = min_words.max(1).saturating_sub(n_forced);
    share.max(floor).min(n_free)
}

/// Maps scores to integers ordered the other way round (higher score -> smaller key), so that sorting
/// `(key, position)` pairs ranks words by score, ties going to the earlier word. `+ 0.0` turns -0.0
/// into +0.0, so the two zeros tie.
fn descending_key(score: f32) -> u32 {
    let bits = (score + 0.0).to_bits();
    let ascending = if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    };
    !ascending
}

/// Keeps every forced word of each turn and `words_to_keep(ratio, n_free, n_forced, min_words)` of its
/// other words, and returns the keep mask. A "turn" is whatever `offsets` delimits (a caller may pass
/// sentences). So `ratio` is the share kept of the words that may be pruned; forced words come on top,
/// and a turn of at most `min_words` words is kept whole. The unforced words kept are the
/// highest-scoring ones, ties going to the earlier word.
///
/// Then, if `bridges` is given, a word left out between two kept words of its turn is kept if its
/// `bridges` entry is true (so that kept words read as phrases: "job with them").
///
/// Errors: lengths disagree, bad offsets, non-finite scores, `ratio` outside (0, 1].
pub fn prune_tokens(
    scores: &[f32],
    offsets: &[i64],
    ratio: f64,
    force_keep: &[bool],
    bridges: Option<&[bool]>,
    min_words: usize,
) -> KernelResult<Vec<bool>> {
    let n = scores.len();
    check_len("force_keep", force_keep.len(), "scores", n)?;
    if let Some(bridges) = bridges {
        check_len("bridges", bridges.len(), "scores", n)?;
    }
    let turns = turn_ranges(offsets, n)?;
    check_finite(scores, "scores")?;
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(KernelError::Value(format!(
            "ratio must be in (0, 1], got {ratio}"
        )));
    }

    let mut keep = force_keep.to_vec();
    // The turn's unforced words as (descending score key, position): sorting them ranks by score, ties
    // going to the earlier word.
    let mut others: Vec<(u32, usize)> = Vec::new();
    for turn in turns {
        others.clear();
        others.extend(
            turn.clone()
                .filter(|&i| !force_keep[i])
                .map(|i| (descending_key(scores[i]), i)),
        );
        let n_forced = turn.len() - others.len();
        let wanted = words_to_keep(ratio, others.len(), n_forced, min_words);
        if wanted < others.len() {
            others.select_nth_unstable(wanted);
            others.truncate(wanted);
        }
        for &(_, i) in &others {
            keep[i] = true;
        }
        if let Some(bridges) = bridges {
            // In place, left to right: a word bridged here never makes its right neighbour a bridge,
            // as that neighbour is kept already.
            for i in turn.start + 1..turn.end.saturating_sub(1) {
                keep[i] = keep[i] || (bridges[i] && keep[i - 1] && keep[i + 1]);
            }
        }
    }
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_validated() {
        let ranges = |offsets, n| turn_ranges(offsets, n).map(Iterator::collect::<Vec<_>>);
        assert_eq!(ranges(&[0], 0).unwrap(), vec![]);
        assert_eq!(ranges(&[0, 2, 2, 3], 3).unwrap(), vec![0..2, 2..2, 2..3]);
        assert!(turn_ranges(&[], 0).is_err());
        assert!(turn_ranges(&[1, 3], 3).is_err());
        assert!(turn_ranges(&[0, 2], 3).is_err());
        assert!(turn_ranges(&[0, 4, 3], 3).is_err());
        assert!(turn_ranges(&[0, -1, 3], 3).is_err());
    }

    #[test]
    fn rare_salient_words_outscore_common_fillers() {
        // ids: 0 = "the" (common), 1 = "um" (filler), 2 = "Paris" (rare entity), 3 = unknown.
        let table = [-2.0, -6.0, -12.0];
        let counts = [0.0, 0.0, 0.0];
        let ids = [0, 1, 2, 7];
        let flags = [STOPWORD, FILLER, ENTITY, 0];
        let s = score_tokens(&ids, &[0, 4], &table, &counts, &flags).unwrap();
        assert_eq!(s, vec![2.0 - 3.0, 6.0 - 6.0, 12.0 + 3.0, 12.0]);
    }

    #[test]
    fn familiarity_and_repeats_lower_the_score() {
        let table = [-5.0, -5.0];
        let counts = [0.0, 1000.0];
        let s = score_tokens(&[0, 1, 0, 9, 9], &[0, 5], &table, &counts, &[0; 5]).unwrap();
        assert_eq!(s[0], 5.0);
        assert!((s[1] - (5.0 - 0.5 * 1001f32.ln())).abs() < 1e-5);
        assert_eq!(s[2], 3.0); // repeated id 0
        assert_eq!(s[3], 5.0); // unknown word: rarest of the table
        assert_eq!(s[4], 3.0); // repeated unknown id
    }

    #[test]
    fn repeats_are_per_turn() {
        let s = score_tokens(&[0, 0, 0], &[0, 1, 3], &[-1.0], &[0.0], &[0; 3]).unwrap();
        assert_eq!(s, vec![1.0, 1.0, -1.0]);
        // Unknown ids, including u32::MAX, are told apart and stamped by turn too.
        let ids = [7, u32::MAX, 7, u32::MAX, 7, 8];
        let s = score_tokens(&ids, &[0, 2, 2, 6], &[-1.0], &[0.0], &[0; 6]).unwrap();
        assert_eq!(s, vec![1.0, 1.0, 1.0, 1.0, -1.0, 1.0]);
    }

    #[test]
    fn unknown_ids_score_alike_with_or_without_records() {
        // Ids up to V + n get records; larger ones are hashed. Both give the rarest word's score.
        let with_records = score_tokens(&[1, 2, 1, 5, 5], &[0, 5], &[-1.0], &[0.0], &[0; 5]);
        assert_eq!(with_records.unwrap(), vec![1.0, 1.0, -1.0, 1.0, -1.0]);
        let mixed = score_tokens(&[1, 9, 1, 9, 0], &[0, 3, 5], &[-1.0], &[0.0], &[0; 5]);
        assert_eq!(mixed.unwrap(), vec![1.0, 1.0, -1.0, 1.0, 1.0]);
    }

    #[test]
    fn long_and_short_turns_find_the_same_repeats() {
        // One long turn, then the same ids split into short turns.
        let ids: Vec<u32> = (0..300u32).map(|i| (i * 7919) % 97).collect();
        let flags = vec![0; ids.len()];
        let (table, counts) = (vec![-1.0; 97], vec![0.0; 97]);
        let long = score_tokens(&ids, &[0, 300], &table, &counts, &flags).unwrap();
        let mut seen = std::collections::HashSet::new();
        let expected: Vec<f32> = ids
            .iter()
            .map(|id| if seen.insert(id) { 1.0 } else { -1.0 })
            .collect();
        assert_eq!(long, expected);
        let offsets: Vec<i64> = (0..=10).map(|t| t * 30).collect();
        let short = score_tokens(&ids, &offsets, &table, &counts, &flags).unwrap();
        for turn in offsets.windows(2) {
            let (a, b) = (turn[0] as usize, turn[1] as usize);
            let mut seen = std::collections::HashSet::new();
            for i in a..b {
                assert_eq!(short[i], if seen.insert(ids[i]) { 1.0 } else { -1.0 });
            }
        }
    }

    #[test]
    fn smallest_finds_the_minimum_in_lanes_and_tail() {
        let mut values: Vec<f32> = (0..19).map(|i| i as f32).collect();
        assert_eq!(smallest(&values), 0.0);
        values[5] = -3.0;
        assert_eq!(smallest(&values), -3.0);
        values[17] = -4.0; // in the tail
        assert_eq!(smallest(&values), -4.0);
        assert_eq!(smallest(&[]), f32::INFINITY);
    }

    #[test]
    fn bad_scoring_inputs_are_errors() {
        let ok = |ids: &[u32], tab: &[f32], cnt: &[f32], fl: &[u8]| {
            score_tokens(ids, &[0, ids.len() as i64], tab, cnt, fl)
        };
        assert!(ok(&[0], &[-1.0], &[0.0], &[0]).is_ok());
        assert!(ok(&[0], &[-1.0], &[0.0], &[]).is_err());
        assert!(ok(&[0], &[], &[], &[0]).is_err());
        assert!(ok(&[0], &[f32::NAN], &[0.0], &[0]).is_err());
        assert!(ok(&[0], &[-1.0], &[0.0, 1.0], &[0]).is_err());
        assert!(ok(&[0], &[-1.0], &[-1.0], &[0]).is_err());
        assert!(ok(&[0], &[-1.0], &[f32::INFINITY], &[0]).is_err());
        assert!(ok(&[0], &[-1.0], &[0.0], &[64]).is_err());
    }

    #[test]
    fn descending_keys_reverse_the_score_order() {
        let scores = [f32::MAX, 3.5, 1.0, 0.0, -0.0, -1.0, -3.5, f32::MIN];
        let keys: Vec<u32> = scores.iter().map(|&s| descending_key(s)).collect();
        assert!(keys.windows(2).all(|k| k[0] <= k[1]));
        assert_eq!(descending_key(0.0), descending_key(-0.0));
        assert!(descending_key(1.0) < descending_key(0.0));
    }

    #[test]
    fn budget_is_ceil_of_ratio_without_float_noise() {
        assert_eq!(words_to_keep(0.7, 10, 0, 1), 7);
        assert_eq!(words_to_keep(0.6, 5, 0, 1), 3);
        assert_eq!(words_to_keep(0.01, 5, 0, 1), 1);
        assert_eq!(words_to_keep(0.01, 5, 0, 0), 1);
        assert_eq!(words_to_keep(1e-12, 5, 0, 0), 1);
        assert_eq!(words_to_keep(1.0, 5, 0, 1), 5);
        assert_eq!(words_to_keep(0.5, 0, 0, 1), 0);
        assert_eq!(words_to_keep(0.5, 0, 0, 4), 0);
    }

    #[test]
    fn forced_words_come_on_top_of_the_ratio() {
        assert_eq!(words_to_keep(0.5, 4, 3, 1), 2);
        assert_eq!(words_to_keep(0.01, 4, 3, 1), 1);
        assert_eq!(words_to_keep(0.5, 0, 3, 1), 0);
    }

    #[test]
    fn min_words_raises_the_budget_up_to_the_whole_turn() {
        assert_eq!(words_to_keep(0.2, 10, 0, 4), 4);
        assert_eq!(words_to_keep(0.2, 10, 1, 4), 3);
        assert_eq!(words_to_keep(0.2, 10, 5, 4), 2);
        assert_eq!(words_to_keep(0.6, 10, 0, 4), 6);
        assert_eq!(words_to_keep(0.2, 3, 0, 4), 3);
        assert_eq!(words_to_keep(0.2, 3, 0, usize::MAX), 3);
        let scores = [1.0, 5.0, 3.0, 2.0, 0.0, 4.0];
        let keep = prune_tokens(&scores, &[0, 4, 6], 0.25, &[false; 6], None, 3);
        assert_eq!(keep.unwrap(), vec![false, true, true, true, true, true]);
    }

    #[test]
    fn keeps_top_words_in_order_with_ties_to_the_earlier() {
        let scores = [1.0, 5.0, 3.0, 3.0, 0.0];
        let keep = prune_tokens(&scores, &[0, 5], 0.4, &[false; 5], None, 1).unwrap();
        assert_eq!(keep, vec![false, true, true, false, false]);
        let forced = [false, false, false, false, true];
        let keep = prune_tokens(&scores, &[0, 5], 0.4, &forced, None, 1).unwrap();
        assert_eq!(keep, vec![false, true, true, false, true]);
    }

    #[test]
    fn bridges_are_kept_only_between_two_kept_words_of_their_turn() {
        let scores = [9.0, 0.0, 9.0, 0.0, 0.0, 9.0, 0.0, 9.0];
        let bridges = [true; 8];
        // Turns [0, 3) and [3, 8): position 1 sits between kept 0 and 2; 3 and 4 form a gap of two;
        // 6 sits between kept 5 and 7; nothing bridges across the turn boundary at 3.
        let keep = prune_tokens(&scores, &[0, 3, 8], 0.4, &[false; 8], Some(&bridges), 1).unwrap();
        assert_eq!(keep, vec![true, true, true, false, false, true, true, true]);
        let mut no_bridge = bridges;
        no_bridge[6] = false;
        let keep = prune_tokens(&scores, &[0, 3, 8], 0.4, &[false; 8], Some(&no_bridge), 1);
        assert_eq!(
            keep.unwrap(),
            vec![true, true, true, false, false, true, false, true]
        );
    }

    #[test]
    fn forced_words_do_not_use_up_the_budget() {
        let forced = [true, false, true, false];
        let scores = [0.0, 9.0, 0.0, 8.0];
        let keep = prune_tokens(&scores, &[0, 4], 0.25, &forced, None, 1).unwrap();
        assert_eq!(keep, vec![true, true, true, false]);
        let all = prune_tokens(&scores, &[0, 4], 0.25, &[true; 4], None, 1).unwrap();
        assert_eq!(all, vec![true; 4]);
    }

    #[test]
    fn bad_pruning_inputs_are_errors() {
        assert!(prune_tokens(&[], &[0], 1.0, &[], None, 1)
            .unwrap()
            .is_empty());
        for ratio in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(prune_tokens(&[1.0], &[0, 1], ratio, &[false], None, 1).is_err());
        }
        assert!(prune_tokens(&[f32::NAN], &[0, 1], 0.5, &[false], None, 1).is_err());
        assert!(prune_tokens(&[1.0], &[0, 1], 0.5, &[false], Some(&[]), 1).is_err());
        assert!(prune_tokens(&[1.0], &[0, 1], 0.5, &[], None, 1).is_err());
        assert!(prune_tokens(&[1.0], &[0, 2], 0.5, &[false], None, 1).is_err());
    }
}
