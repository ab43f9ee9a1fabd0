//! An in-memory inverted index of texts for top-k keyword retrieval with FTS5's BM25, so that it ranks
//! as the SQLite store's FTS5 table did (tokens of `fts_tokens`).
//!
//! Each document is a rowid with its text and scope (user, agent, run ids, each optional); postings map
//! a term to (document, term frequency). A search takes keywords each of one token (a "phrase" of
//! FTS5's query), scores every posting of their terms with BM25 as FTS5's `bm25()` with weights (1, 0)
//! computes it (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), 1e-6 when not positive; the
//! length of a document counts its scope column's 3 tokens, as FTS5's does), and returns the documents
//! of the scope scoring at least a bound, best first (ties: lower rowid first).
//!
//! A removed document leaves its postings behind, skipped by searches, until they are more than half
//! of all postings: then the postings are rewritten without them (amortised O(1) per posting).

use std::collections::HashMap;

use crate::error::{KernelError, KernelResult};
use crate::fts_tokens::for_each_token;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Tokens of the `scope` column of the FTS5 table beside each text ("u<hex>", "a<hex>", "r<hex>"),
/// which FTS5 counts in a row's length.
const SCOPE_TOKENS: u64 = 3;
/// Postings of removed documents tolerated before a compaction, whatever their share.
const MIN_DEAD_POSTINGS: usize = 4096;
/// Bytes counted per hash map entry besides its key and value (control bytes, spare capacity).
const MAP_ENTRY_OVERHEAD: usize = 16;

/// A document's scope ids: user, agent, run (None: NULL).
pub type ScopeIds<'a> = [Option<&'a str>; 3];

#[derive(Clone, Copy)]
struct Posting {
    slot: u32,
    frequency: u32,
}

struct Document {
    rowid: i64,
    /// Tokens of the text plus the scope's.
    length: u64,
    /// Interned scope ids (0: NULL).
    scope: [u32; 3],
    /// Its distinct terms.
    terms: Box<[u32]>,
}

/// See the module documentation.
#[derive(Default)]
pub struct KeywordIndex {
    term_ids: HashMap<Box<[u8]>, u32>,
    postings: Vec<Vec<Posting>>,
    /// Live documents holding each term.
    documents_with: Vec<u32>,
    /// By slot; None once removed.
    documents: Vec<Option<Document>>,
    slots: HashMap<i64, u32>,
    /// Interned scope ids, from 1.
    scope_ids: HashMap<Box<str>, u32>,
    total_length: u64,
    all_postings: usize,
    dead_postings: usize,
}

impl KeywordIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Live documents.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds the document `rowid`, replacing the one of that rowid if any.
    pub fn put(&mut self, rowid: i64, text: &str, scope: ScopeIds) -> KernelResult<()> {
        self.remove(rowid);
        let slot = u32::try_from(self.documents.len())
            .map_err(|_| KernelError::Value("the keyword index holds 2^32 documents".into()))?;
        let mut terms: Vec<u32> = Vec::new();
        for_each_token(text, |token| terms.push(self.term_id(token)));
        let length = SCOPE_TOKENS + terms.len() as u64;
        terms.sort_unstable();
        let mut order: Vec<u32> = Vec::new();
        for run in terms.chunk_by(|a, b| a == b) {
            let term = run[0];
            self.postings[term as usize].push(Posting {
                slot,
                frequency: run.len() as u32,
            });
            self.documents_with[term as usize] += 1;
            order.push(term);
        }
        self.all_postings += order.len();
        let scope = scope.map(|id| id.map_or(0, |id| self.intern(id)));
        self.documents.push(Some(Document {
            rowid,
            length,
            scope,
            terms: order.into_boxed_slice(),
        }));
        self.slots.insert(rowid, slot);
        self.total_length += length;
        Ok(())
    }

    /// Removes the document `rowid` if there is one.
    pub fn remove(&mut self, rowid: i64) {
        let Some(slot) = self.slots.remove(&rowid) else {
            return;
        };
        let Some(document) = self.documents[slot as usize].take() else {
            return;
        };
        for &term in document.terms.iter() {
            self.documents_with[term as usize] -= 1;
        }
        self.total_length -= document.length;
        self.dead_postings += document.terms.len();
        if self.dead_postings > MIN_DEAD_POSTINGS && 2 * self.dead_postings > self.all_postings {
            self.compact();
        }
    }

    /// The live documents holding the single token of `keyword` (0 for a keyword of no token), or
    /// None when `keyword` is several tokens (an FTS5 phrase, which this index cannot match).
    pub fn matches(&self, keyword: &str) -> Option<u32> {
        match single_token(keyword) {
            Token::None => Some(0),
            Token::One(token) => Some(
                self.term_ids
                    .get(token.as_slice())
                    .map_or(0, |&term| self.documents_with[term as usize]),
            ),
            Token::Several => None,
        }
    }

    /// The documents of `scope` (a None id matches any value, a given one only that value) holding
    /// any of `keywords` (each one token: `matches` is not None) with a BM25 score of at least
    /// `min_score`, as (rowid, score), best first (ties: lower rowid first), at most `limit` of them.
    /// The scores sum the keywords' in their order (as FTS5 sums its phrases); `extra_texts` count
    /// in the statistics as documents beside the index's (see `score_texts`), but are not searched.
    pub fn search(
        &self,
        keywords: &[&str],
        scope: ScopeIds,
        min_score: f64,
        limit: Option<usize>,
        extra_texts: &[&str],
    ) -> KernelResult<Vec<(i64, f64)>> {
        let mut wanted = [0u32; 3];
        for (want, id) in wanted.iter_mut().zip(scope) {
            if let Some(id) = id {
                match self.scope_ids.get(id) {
                    Some(&interned) => *want = interned,
                    None => return Ok(Vec::new()), // no document has that id
                }
            }
        }
        let terms = keyword_tokens(keywords)?;
        let statistics = self.statistics(&terms, extra_texts);
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for (k, term) in terms.iter().enumerate() {
            let Some(&term) = self.term_ids.get(term.as_slice()) else {
                continue;
            };
            let idf = statistics.idf(k);
            for posting in &self.postings[term as usize] {
                let Some(document) = &self.documents[posting.slot as usize] else {
                    continue;
                };
                if !in_scope(&document.scope, &wanted) {
                    continue;
                }
                let score = bm25(
                    idf,
                    f64::from(posting.frequency),
                    document.length as f64,
                    statistics.average_length,
                );
                *scores.entry(posting.slot).or_insert(0.0) += score;
            }
        }
        let mut ranked: Vec<(i64, f64)> = scores
            .into_iter()
            .filter(|&(_, score)| score >= min_score)
            .filter_map(|(slot, score)| {
                self.documents[slot as usize]
                    .as_ref()
                    .map(|d| (d.rowid, score))
            })
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(limit) = limit {
            ranked.truncate(limit);
        }
        Ok(ranked)
    }

    /// The BM25 score of each of `texts` (None for a text holding none of `keywords`, each one token)
    /// as if the texts were documents of the index beside its own (they count in the document count,
    /// the average length and each keyword's documents), summed over `keywords` in their order. Texts
    /// of no scope (the caller chose them).
    pub fn score_texts(&self, keywords: &[&str], texts: &[&str]) -> KernelResult<Vec<Option<f64>>> {
        let terms = keyword_tokens(keywords)?;
        let statistics = self.statistics(&terms, texts);
        let mut scores: Vec<Option<f64>> = vec![None; texts.len()];
        for k in 0..terms.len() {
            let idf = statistics.idf(k);
            for (i, score) in scores.iter_mut().enumerate() {
                let frequency = statistics.extra_frequencies[i * terms.len() + k];
                if frequency == 0 {
                    continue;
                }
                let length = statistics.extra_lengths[i] as f64;
                let term = bm25(idf, f64::from(frequency), length, statistics.average_length);
                *score = Some(score.unwrap_or(0.0) + term);
            }
        }
        Ok(scores)
    }

    /// The statistics of BM25 for `terms` over the index's documents and `extra_texts`.
    fn statistics(&self, terms: &[Vec<u8>], extra_texts: &[&str]) -> Statistics {
        let mut extra_lengths = Vec::with_capacity(extra_texts.len());
        let mut extra_frequencies = vec![0u32; extra_texts.len() * terms.len()];
        for (i, text) in extra_texts.iter().enumerate() {
            let mut length = SCOPE_TOKENS;
            for_each_token(text, |token| {
                length += 1;
                for (k, term) in terms.iter().enumerate() {
                    if term.as_slice() == token {
                        extra_frequencies[i * terms.len() + k] += 1;
                    }
                }
            });
            extra_lengths.push(length);
        }
        let documents = (self.len() + extra_texts.len()) as f64;
        let total_length = self.total_length + extra_lengths.iter().sum::<u64>();
        let holding = terms
            .iter()
            .enumerate()
            .map(|(k, term)| {
                let in_index = self
                    .term_ids
                    .get(term.as_slice())
                    .map_or(0, |&t| self.documents_with[t as usize]);
                let in_extra = (0..extra_texts.len())
                    .filter(|i| extra_frequencies[i * terms.len() + k] > 0)
                    .count();
                f64::from(in_index) + in_extra as f64
            })
            .collect();
        Statistics {
            documents,
            average_length: total_length as f64 / documents,
            holding,
            extra_lengths,
            extra_frequencies,
        }
    }

    /// Bytes held (postings, documents, terms and maps), approximately.
    pub fn nbytes(&self) -> usize {
        use std::mem::size_of;
        let postings: usize = self
            .postings
            .iter()
            .map(|p| p.capacity() * size_of::<Posting>() + size_of::<Vec<Posting>>())
            .sum();
        let documents: usize = self
            .documents
            .iter()
            .map(|d| size_of::<Option<Document>>() + d.as_ref().map_or(0, |d| 4 * d.terms.len()))
            .sum();
        let terms: usize = self
            .term_ids
            .keys()
            .map(|k| k.len() + size_of::<(Box<[u8]>, u32)>() + MAP_ENTRY_OVERHEAD)
            .sum();
        let scopes: usize = self
            .scope_ids
            .keys()
            .map(|k| k.len() + size_of::<(Box<str>, u32)>() + MAP_ENTRY_OVERHEAD)
            .sum();
        let slots = self.slots.capacity() * (size_of::<(i64, u32)>() + MAP_ENTRY_OVERHEAD);
        postings + documents + terms + scopes + slots + 4 * self.documents_with.capacity()
    }

    fn term_id(&mut self, token: &[u8]) -> u32 {
        if let Some(&term) = self.term_ids.get(token) {
            return term;
        }
        let term = self.postings.len() as u32;
        self.term_ids.insert(token.into(), term);
        self.postings.push(Vec::new());
        self.documents_with.push(0);
        term
    }

    fn intern(&mut self, id: &str) -> u32 {
        let next = self.scope_ids.len() as u32 + 1;
        *self.scope_ids.entry(id.into()).or_insert(next)
    }

    /// Rewrites the postings without those of removed documents, and forgets the terms no live
    /// document holds (slots and term ids are renumbered).
    fn compact(&mut self) {
        let mut new_slot = vec![u32::MAX; self.documents.len()];
        let mut documents = Vec::with_capacity(self.slots.len());
        for (old, document) in self.documents.drain(..).enumerate() {
            if let Some(document) = document {
                new_slot[old] = documents.len() as u32;
                documents.push(Some(document));
            }
        }
        let mut new_term = vec![u32::MAX; self.postings.len()];
        let mut postings = Vec::new();
        let mut documents_with = Vec::new();
        for (old, list) in self.postings.drain(..).enumerate() {
            let kept: Vec<Posting> = list
                .into_iter()
                .filter(|p| new_slot[p.slot as usize] != u32::MAX)
                .map(|p| Posting {
                    slot: new_slot[p.slot as usize],
                    frequency: p.frequency,
                })
                .collect();
            if !kept.is_empty() {
                new_term[old] = postings.len() as u32;
                documents_with.push(self.documents_with[old]);
                postings.push(kept);
            }
        }
        self.term_ids.retain(|_, term| {
            *term = new_term[*term as usize];
            *term != u32::MAX
        });
        for document in documents.iter_mut().flatten() {
            for term in document.terms.iter_mut() {
                *term = new_term[*term as usize];
            }
        }
        for slot in self.slots.values_mut() {
            *slot = new_slot[*slot as usize];
        }
        self.documents = documents;
        self.postings = postings;
        self.documents_with = documents_with;
        self.all_postings -= self.dead_postings;
        self.dead_postings = 0;
    }
}

/// BM25's statistics for some terms: FTS5's N, average row length and documents holding each term.
struct Statistics {
    documents: f64,
    average_length: f64,
    holding: Vec<f64>,
    /// Length of each extra text, and the frequency of each term in it (texts x terms).
    extra_lengths: Vec<u64>,
    extra_frequencies: Vec<u32>,
}

impl Statistics {
    /// FTS5's idf of the `k`-th term (1e-6 when not positive).
    fn idf(&self, k: usize) -> f64 {
        let holding = self.holding[k];
        let idf = ((self.documents - holding + 0.5) / (holding + 0.5)).ln();
        if idf <= 0.0 {
            1e-6
        } else {
            idf
        }
    }
}

/// The one token of each keyword (keywords of no token left out); an error for a keyword of several.
fn keyword_tokens(keywords: &[&str]) -> KernelResult<Vec<Vec<u8>>> {
    let mut terms = Vec::with_capacity(keywords.len());
    for keyword in keywords {
        match single_token(keyword) {
            Token::None => {}
            Token::One(token) => terms.push(token),
            Token::Several => {
                return Err(KernelError::Value(format!(
                    "keyword {keyword:?} is several tokens: search it with FTS5"
                )))
            }
        }
    }
    Ok(terms)
}

/// One keyword's BM25 term as FTS5 computes it (same operations in the same order).
fn bm25(idf: f64, frequency: f64, length: f64, average_length: f64) -> f64 {
    idf * ((frequency * (K1 + 1.0)) / (frequency + K1 * (1.0 - B + B * length / average_length)))
}

enum Token {
    None,
    One(Vec<u8>),
    Several,
}

fn single_token(keyword: &str) -> Token {
    let mut first: Option<Vec<u8>> = None;
    let mut several = false;
    for_each_token(keyword, |token| {
        if first.is_none() {
            first = Some(token.to_vec());
        } else {
            several = true;
        }
    });
    match (first, several) {
        (_, true) => Token::Several,
        (Some(token), false) => Token::One(token),
        (None, false) => Token::None,
    }
}

/// Whether a document of scope `ids` is in the scope `wanted` (0: any value).
fn in_scope(ids: &[u32; 3], wanted: &[u32; 3]) -> bool {
    ids.iter()
        .zip(wanted)
        .all(|(&id, &want)| want == 0 || id == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: ScopeIds = [Some("alice"), None, None];
    const BOB: ScopeIds = [Some("bob"), None, None];

    fn rowids(hits: &[(i64, f64)]) -> Vec<i64> {
        hits.iter().map(|h| h.0).collect()
    }

    #[test]
    fn ranks_by_bm25_within_the_scope() {
        let mut index = KeywordIndex::new();
        index.put(1, "the cat sat on the mat", ALICE).unwrap();
        index.put(2, "cats and more cats", ALICE).unwrap();
        index.put(3, "a cat of bob", BOB).unwrap();
        index.put(4, "nothing here", ALICE).unwrap();
        let hits = index.search(&["cat"], ALICE, 0.0, None, &[]).unwrap();
        assert_eq!(rowids(&hits), [2, 1]);
        assert!(hits[0].1 > hits[1].1);
        assert_eq!(index.matches("cats"), Some(3));
        assert_eq!(index.matches("a-b"), None);
        assert_eq!(index.matches("!!"), Some(0));
        assert!(index
            .search(&["cat"], [Some("carol"), None, None], 0.0, None, &[])
            .unwrap()
            .is_empty());
        assert!(index.search(&["a b"], ALICE, 0.0, None, &[]).is_err());
    }

    #[test]
    fn idf_matches_fts5_formula() {
        let mut index = KeywordIndex::new();
        index.put(1, "rare word", ALICE).unwrap();
        index.put(2, "other", ALICE).unwrap();
        index.put(3, "more", ALICE).unwrap();
        let hits = index.search(&["rare"], ALICE, 0.0, None, &[]).unwrap();
        let (n, holding, frequency, length) = (3.0f64, 1.0f64, 1.0f64, 5.0f64);
        let average = (5.0 + 4.0 + 4.0) / 3.0;
        let idf = ((n - holding + 0.5) / (holding + 0.5)).ln();
        let expected =
            idf * ((frequency * (K1 + 1.0)) / (frequency + K1 * (1.0 - B + B * length / average)));
        assert_eq!(hits, [(1, expected)]);
        // a word in half the documents or more: idf 1e-6
        index.put(4, "other", BOB).unwrap();
        let hits = index
            .search(&["other"], [None, None, None], 0.0, None, &[])
            .unwrap();
        assert_eq!(rowids(&hits), [2, 4]);
        assert!(hits.iter().all(|&(_, score)| score > 0.0 && score < 1e-5));
    }

    #[test]
    fn replace_remove_and_compaction_keep_the_index_right() {
        let mut index = KeywordIndex::new();
        for rowid in 0..3000 {
            index
                .put(rowid, &format!("common w{rowid} x{}", rowid % 7), ALICE)
                .unwrap();
        }
        for rowid in 0..2900 {
            index.remove(rowid);
        }
        index.put(2950, "replaced text", ALICE).unwrap();
        assert_eq!(index.len(), 100);
        assert_eq!(index.matches("common"), Some(99));
        assert_eq!(index.matches("w5"), Some(0));
        assert_eq!(index.matches("replaced"), Some(1));
        let hits = index.search(&["x3"], ALICE, 0.0, None, &[]).unwrap();
        let expected: Vec<i64> = (2900..3000).filter(|r| r % 7 == 3 && *r != 2950).collect();
        assert_eq!(rowids(&hits), expected);
        assert!(index.dead_postings < MIN_DEAD_POSTINGS);
    }

    #[test]
    fn texts_score_as_documents_of_the_index() {
        let mut index = KeywordIndex::new();
        index.put(1, "tea with milk", ALICE).unwrap();
        index.put(2, "coffee", ALICE).unwrap();
        let scores = index
            .score_texts(&["tea"], &["green tea", "nothing"])
            .unwrap();
        let mut with_texts = KeywordIndex::new();
        with_texts.put(1, "tea with milk", ALICE).unwrap();
        with_texts.put(2, "coffee", ALICE).unwrap();
        with_texts.put(3, "green tea", BOB).unwrap();
        with_texts.put(4, "nothing", BOB).unwrap();
        let expected = with_texts.search(&["tea"], BOB, 0.0, None, &[]).unwrap();
        assert_eq!(scores, [Some(expected[0].1), None]);
        assert!(index.score_texts(&["a-b"], &["a b"]).is_err());
        // the same statistics for a search with the texts as extra documents
        let hits = index
            .search(&["tea"], ALICE, 0.0, None, &["green tea", "nothing"])
            .unwrap();
        let expected = with_texts.search(&["tea"], ALICE, 0.0, None, &[]).unwrap();
        assert_eq!(hits, expected);
    }

    #[test]
    fn limit_and_min_score_apply() {
        let mut index = KeywordIndex::new();
        for rowid in 0..10 {
            index.put(rowid, "same text", ALICE).unwrap();
        }
        index.put(10, "other", ALICE).unwrap();
        let hits = index.search(&["same"], ALICE, 0.0, Some(3), &[]).unwrap();
        assert_eq!(rowids(&hits), [0, 1, 2]);
        assert!(index
            .search(&["same"], ALICE, 1e9, None, &[])
            .unwrap()
            .is_empty());
    }
}
