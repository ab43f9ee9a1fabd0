//! The tokens SQLite FTS5's `porter unicode61` tokenizer makes of a text (the `units_text` table of the
//! SQLite store), so that the keyword index of `keyword_index` ranks as FTS5 did.
//!
//! unicode61: a token is a run of token characters (ASCII letters and digits; beyond ASCII, every code
//! point but SQLite's separators, unassigned ones included), with the diacritics SQLite drops inside a
//! token dropped, each character folded as SQLite folds it (lower case, diacritics removed from letters
//! with one: `remove_diacritics=1`). SQLite's tables are in `fts5_unicode`, generated from SQLite itself,
//! so tokens are exact for every code point (for the SQLite version it was read from: 3.40.1). porter: a
//! token of 3 to 64 bytes is stemmed by Porter's (1980) algorithm as FTS5 implements it (its quirks
//! included: a `y` after the first letter is a vowel for `*v*`, bytes other than ASCII letters are
//! consonants, the rules of a step are tried longest suffix first and the first that ends the word
//! decides).

use crate::fts5_unicode::{DROPPED, FOLDS, SEPARATORS};

/// Tokens longer than this many bytes are not stemmed (FTS5's `FTS5_PORTER_MAX_TOKEN`).
const PORTER_MAX_TOKEN: usize = 64;

/// The FTS5 `porter unicode61` tokens of `text`, in order (as bytes: stemming may cut a multi-byte
/// character, as FTS5's does).
pub fn tokens(text: &str) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for_each_token(text, |token| found.push(token.to_vec()));
    found
}

/// Calls `emit` with each token of `text` (see `tokens`), reusing one buffer.
pub fn for_each_token(text: &str, mut emit: impl FnMut(&[u8])) {
    let mut token: Vec<u8> = Vec::with_capacity(32);
    let mut in_token = false;
    for ch in text.chars() {
        if is_combining_diacritic(ch) {
            // inside a token, dropped (folded to nothing); else a separator
            if !in_token {
                continue;
            }
        } else if is_token_char(ch) {
            push_folded(&mut token, ch);
            in_token = true;
        } else if in_token {
            stem(&mut token);
            emit(&token);
            token.clear();
            in_token = false;
        }
    }
    if in_token {
        stem(&mut token);
        emit(&token);
    }
}

fn is_token_char(ch: char) -> bool {
    if ch.is_ascii() {
        ch.is_ascii_alphanumeric()
    } else {
        !in_ranges(ch as u32, SEPARATORS)
    }
}

fn is_combining_diacritic(ch: char) -> bool {
    !ch.is_ascii() && in_ranges(ch as u32, DROPPED)
}

/// Whether `code` is in one of `ranges` (sorted, inclusive, disjoint).
fn in_ranges(code: u32, ranges: &[(u32, u32)]) -> bool {
    let after = ranges.partition_point(|&(first, _)| first <= code);
    after > 0 && code <= ranges[after - 1].1
}

/// Appends `ch` folded as SQLite folds it.
fn push_folded(token: &mut Vec<u8>, ch: char) {
    if ch.is_ascii() {
        token.push(ch.to_ascii_lowercase() as u8);
        return;
    }
    let folded = match FOLDS.binary_search_by_key(&(ch as u32), |&(code, _)| code) {
        Ok(i) => char::from_u32(FOLDS[i].1).unwrap_or(ch),
        Err(_) => ch,
    };
    let mut buffer = [0u8; 4];
    token.extend_from_slice(folded.encode_utf8(&mut buffer).as_bytes());
}

// --- Porter stemmer ---------------------------------------------------------------------------------

fn is_vowel(byte: u8, y_is_vowel: bool) -> bool {
    matches!(byte, b'a' | b'e' | b'i' | b'o' | b'u') || (y_is_vowel && byte == b'y')
}

/// The end (exclusive) of the first vowel-consonant pair of `stem` (a `y` is a vowel after a
/// consonant; `after_consonant`: whether the byte before `stem` was one), or 0 if there is none.
fn vowel_consonant_end(stem: &[u8], after_consonant: bool) -> usize {
    let mut consonant = after_consonant;
    let mut i = 0;
    while i < stem.len() {
        consonant = !is_vowel(stem[i], consonant);
        if !consonant {
            break;
        }
        i += 1;
    }
    i += 1;
    while i < stem.len() {
        consonant = !is_vowel(stem[i], consonant);
        if consonant {
            return i + 1;
        }
        i += 1;
    }
    0
}

/// The measure of `stem` (its count of vowel-consonant sequences), counted up to 2.
fn measure(stem: &[u8]) -> u8 {
    let first = vowel_consonant_end(stem, false);
    if first == 0 {
        0
    } else if vowel_consonant_end(&stem[first..], true) == 0 {
        1
    } else {
        2
    }
}

/// Porter's `*o`: `stem` ends consonant-vowel-consonant, the last not `w`, `x` or `y`.
fn ends_cvc(stem: &[u8]) -> bool {
    match stem.last() {
        None | Some(b'w' | b'x' | b'y') => false,
        Some(_) => {
            let mut pattern = 0u32;
            let mut consonant = false;
            for &byte in stem {
                consonant = !is_vowel(byte, consonant);
                pattern = (pattern << 1) | u32::from(consonant);
            }
            pattern & 0b111 == 0b101
        }
    }
}

/// Porter's `*v*` as FTS5 tests it: a vowel in `stem`, `y` counting as one after the first byte.
fn has_vowel(stem: &[u8]) -> bool {
    stem.iter()
        .enumerate()
        .any(|(i, &byte)| is_vowel(byte, i > 0))
}

/// A condition of a rule on the stem left when the suffix is removed.
#[derive(Clone, Copy)]
enum Condition {
    MeasureAbove0,
    MeasureAbove1,
    MeasureAbove1EndingSOrT,
}

impl Condition {
    fn holds(self, stem: &[u8]) -> bool {
        match self {
            Condition::MeasureAbove0 => measure(stem) > 0,
            Condition::MeasureAbove1 => measure(stem) > 1,
            Condition::MeasureAbove1EndingSOrT => {
                matches!(stem.last(), Some(b's' | b't')) && measure(stem) > 1
            }
        }
    }
}

use Condition::{MeasureAbove0 as M0, MeasureAbove1 as M1, MeasureAbove1EndingSOrT as M1ST};

/// (suffix, replacement, condition): rules of one step, tried in order; the first whose suffix ends
/// the word (with at least one byte before it) decides, whether its condition holds or not.
type Rules = &'static [(&'static [u8], &'static [u8], Condition)];

const STEP2: Rules = &[
    (b"ational", b"ate", M0),
    (b"tional", b"tion", M0),
    (b"enci", b"ence", M0),
    (b"anci", b"ance", M0),
    (b"izer", b"ize", M0),
    (b"logi", b"log", M0),
    (b"bli", b"ble", M0),
    (b"alli", b"al", M0),
    (b"entli", b"ent", M0),
    (b"eli", b"e", M0),
    (b"ousli", b"ous", M0),
    (b"ization", b"ize", M0),
    (b"ation", b"ate", M0),
    (b"ator", b"ate", M0),
    (b"alism", b"al", M0),
    (b"iveness", b"ive", M0),
    (b"fulness", b"ful", M0),
    (b"ousness", b"ous", M0),
    (b"aliti", b"al", M0),
    (b"iviti", b"ive", M0),
    (b"biliti", b"ble", M0),
];

const STEP3: Rules = &[
    (b"ical", b"ic", M0),
    (b"ness", b"", M0),
    (b"icate", b"ic", M0),
    (b"iciti", b"ic", M0),
    (b"ful", b"", M0),
    (b"ative", b"", M0),
    (b"alize", b"al", M0),
];

const STEP4: Rules = &[
    (b"al", b"", M1),
    (b"ance", b"", M1),
    (b"ence", b"", M1),
    (b"er", b"", M1),
    (b"ic", b"", M1),
    (b"able", b"", M1),
    (b"ible", b"", M1),
    (b"ant", b"", M1),
    (b"ement", b"", M1),
    (b"ment", b"", M1),
    (b"ent", b"", M1),
    (b"ion", b"", M1ST),
    (b"ou", b"", M1),
    (b"ism", b"", M1),
    (b"ate", b"", M1),
    (b"iti", b"", M1),
    (b"ous", b"", M1),
    (b"ive", b"", M1),
    (b"ize", b"", M1),
];

/// Applies the first rule of `rules` whose suffix ends `word` (a rule whose suffix is the tail of
/// another's comes after it in `rules`, as in FTS5); whether it applied.
fn apply_rules(word: &mut Vec<u8>, rules: Rules) -> bool {
    let n = word.len();
    if n < 2 {
        return false;
    }
    let (second_last, last) = (word[n - 2], word[n - 1]);
    for &(suffix, replacement, condition) in rules {
        let s = suffix.len();
        // the last two bytes first: most rules are ruled out by them
        if suffix[s - 1] == last && suffix[s - 2] == second_last && n > s && word.ends_with(suffix)
        {
            let stem = n - suffix.len();
            if condition.holds(&word[..stem]) {
                word.truncate(stem);
                word.extend_from_slice(replacement);
                return true;
            }
            return false;
        }
    }
    false
}

fn step1a(word: &mut Vec<u8>) {
    let n = word.len();
    if word[n - 1] != b's' {
        return;
    }
    if word[n - 2] == b'e' {
        let sses = n > 4 && word[n - 4] == b's' && word[n - 3] == b's';
        let ies = n > 3 && word[n - 3] == b'i';
        word.truncate(if sses || ies { n - 2 } else { n - 1 });
    } else if word[n - 2] != b's' {
        word.truncate(n - 1);
    }
}

/// Step 1b: `eed` -> `ee` (m > 0), or `ed` / `ing` removed after a vowel, then tidied.
fn step1b(word: &mut Vec<u8>) {
    let n = word.len();
    let removed = if n > 3 && word.ends_with(b"eed") {
        if measure(&word[..n - 3]) > 0 {
            word.truncate(n - 1);
        }
        false
    } else if n > 2 && word.ends_with(b"ed") && has_vowel(&word[..n - 2]) {
        word.truncate(n - 2);
        true
    } else if n > 3 && word.ends_with(b"ing") && has_vowel(&word[..n - 3]) {
        word.truncate(n - 3);
        true
    } else {
        false
    };
    if !removed {
        return;
    }
    let n = word.len();
    if n > 2 && (word.ends_with(b"at") || word.ends_with(b"bl") || word.ends_with(b"iz")) {
        word.push(b'e');
        return;
    }
    let last = word[n - 1];
    if !is_vowel(last, false)
        && !matches!(last, b'l' | b's' | b'z')
        && n >= 2
        && last == word[n - 2]
    {
        word.truncate(n - 1);
    } else if measure(word) == 1 && ends_cvc(word) {
        word.push(b'e');
    }
}

/// Stems `word` (lower-case bytes) in place as FTS5's porter tokenizer does.
pub fn stem(word: &mut Vec<u8>) {
    if word.len() < 3 || word.len() > PORTER_MAX_TOKEN {
        return;
    }
    step1a(word);
    step1b(word);
    let n = word.len();
    if word[n - 1] == b'y' && has_vowel(&word[..n - 1]) {
        word[n - 1] = b'i';
    }
    apply_rules(word, STEP2);
    apply_rules(word, STEP3);
    apply_rules(word, STEP4);
    let n = word.len();
    if word[n - 1] == b'e' {
        let stem = &word[..n - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            word.truncate(n - 1);
        }
    }
    let n = word.len();
    if n > 1 && word[n - 1] == b'l' && word[n - 2] == b'l' && measure(&word[..n - 1]) > 1 {
        word.truncate(n - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stemmed(word: &str) -> String {
        let mut bytes = word.as_bytes().to_vec();
        stem(&mut bytes);
        String::from_utf8(bytes).unwrap()
    }

    fn words(text: &str) -> Vec<String> {
        tokens(text)
            .into_iter()
            .map(|t| String::from_utf8(t).unwrap())
            .collect()
    }

    #[test]
    fn stems_the_classic_examples() {
        for (word, expected) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("sing", "sing"),
            ("conflated", "conflat"),
            ("troubled", "troubl"),
            ("sized", "size"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("triplicate", "triplic"),
            ("hopefulness", "hope"),
            ("revival", "reviv"),
            ("adoption", "adopt"),
            ("controll", "control"),
            ("generalizations", "gener"),
            ("running", "run"),
            ("archaeology", "archaeolog"),
        ] {
            assert_eq!(stemmed(word), expected, "{word}");
        }
    }

    #[test]
    fn short_and_long_tokens_are_not_stemmed() {
        assert_eq!(stemmed("is"), "is");
        let long = "running".repeat(10);
        assert_eq!(stemmed(&long), long);
    }

    #[test]
    fn splits_folds_and_drops_diacritics() {
        assert_eq!(
            words("Hello, WORLD's café_au-lait 3.5"),
            ["hello", "world", "s", "cafe", "au", "lait", "3", "5"]
        );
        assert_eq!(
            words("e\u{301}t\u{301}e \u{301}abc µ İ"),
            ["et", "abc", "μ", "i"]
        );
        assert!(words("  ,;\"'*^ ").is_empty());
    }

    #[test]
    fn stemming_may_cut_a_multibyte_character_as_fts5_does() {
        // U+2082 is E2 82 82: its last two bytes are a "double consonant" after "ing" goes
        assert_eq!(tokens("a\u{2082}ing"), [b"a\xe2\x82".to_vec()]);
    }
}
