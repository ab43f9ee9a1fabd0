//! Python bindings of the lightmem kernels (`lightmem._core`): argument conversion, validation,
//! GIL release and error mapping only. The kernels themselves live in `prune`, `prune_rules`,
//! `segment`, `cluster`, `minhash`, `fts_tokens` and `keyword_index`; 2-D arguments reach them as
//! `ndarray::ArrayView2`, in any memory layout.

pub mod cluster;
pub mod error;
mod fts5_unicode;
pub mod fts_tokens;
pub mod keyword_index;
mod lanes;
mod matrix;
pub mod minhash;
pub mod prune;
pub mod prune_rules;
pub mod segment;
mod union_find;

use std::borrow::Cow;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::ndarray::{Dimension, Ix1, Ix2};
use numpy::{
    Element, IntoPyArray, PyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::error::KernelError;

create_exception!(
    _core,
    KernelInputError,
    PyValueError,
    "Invalid input to a lightmem kernel."
);

impl From<KernelError> for PyErr {
    fn from(err: KernelError) -> PyErr {
        KernelInputError::new_err(err.to_string())
    }
}

/// Borrows `obj` as a read-only numpy array of element type `T` and dimensionality `D`, or fails with
/// a `KernelInputError` naming the argument, what was expected and what was given.
fn array_arg<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    if let Ok(array) = obj.cast::<PyArray<T, D>>() {
        return array
            .try_readonly()
            .map_err(|err| KernelError::Value(format!("{name}: {err}")).into());
    }
    let expected = match D::NDIM {
        Some(ndim) => format!(
            "a {ndim}-D numpy array of dtype {}",
            numpy::dtype::<T>(obj.py())
        ),
        None => format!("a numpy array of dtype {}", numpy::dtype::<T>(obj.py())),
    };
    let got = match obj.cast::<PyUntypedArray>() {
        Ok(array) => format!("a {}-D array of dtype {}", array.ndim(), array.dtype()),
        Err(_) => format!("an object of type {}", obj.get_type().name()?),
    };
    Err(KernelError::Shape(format!("{name} must be {expected}, got {got}")).into())
}

/// The array's values in row-major order: borrowed when it is C-contiguous, else copied.
fn row_major<'a, T: Element + Copy, D: Dimension>(
    array: &'a PyReadonlyArray<'_, T, D>,
) -> Cow<'a, [T]> {
    let view = array.as_array();
    match view.to_slice() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(view.iter().copied().collect()),
    }
}

/// `score_tokens(token_ids: uint32[n], offsets: int64[m+1], background_logprob: float32[V],
/// running_counts: float32[V], flags: uint8[n]) -> float32[n]`: see `prune::score_tokens`.
#[pyfunction]
fn score_tokens<'py>(
    py: Python<'py>,
    token_ids: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    background_logprob: &Bound<'py, PyAny>,
    running_counts: &Bound<'py, PyAny>,
    flags: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let token_ids = array_arg::<u32, Ix1>(token_ids, "token_ids")?;
    let offsets = array_arg::<i64, Ix1>(offsets, "offsets")?;
    let background_logprob = array_arg::<f32, Ix1>(background_logprob, "background_logprob")?;
    let running_counts = array_arg::<f32, Ix1>(running_counts, "running_counts")?;
    let flags = array_arg::<u8, Ix1>(flags, "flags")?;
    let (ids, offs, table, counts, flags) = (
        row_major(&token_ids),
        row_major(&offsets),
        row_major(&background_logprob),
        row_major(&running_counts),
        row_major(&flags),
    );
    let scores = py.detach(|| prune::score_tokens(&ids, &offs, &table, &counts, &flags))?;
    Ok(scores.into_pyarray(py))
}

/// `prune_tokens(scores: float32[n], offsets: int64[m+1], ratio: float, force_keep: bool[n], *,
/// min_words=1, bridges: bool[n] | None = None) -> bool[n]` (the keep mask): see
/// `prune::prune_tokens`.
#[pyfunction]
#[pyo3(signature = (scores, offsets, ratio, force_keep, *, min_words=1, bridges=None))]
fn prune_tokens<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    ratio: f64,
    force_keep: &Bound<'py, PyAny>,
    min_words: i64,
    bridges: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let min_words = usize::try_from(min_words)
        .map_err(|_| KernelError::Value(format!("min_words must be >= 0, got {min_words}")))?;
    let scores = array_arg::<f32, Ix1>(scores, "scores")?;
    let offsets = array_arg::<i64, Ix1>(offsets, "offsets")?;
    let force_keep = array_arg::<bool, Ix1>(force_keep, "force_keep")?;
    let bridges = bridges
        .map(|b| array_arg::<bool, Ix1>(b, "bridges"))
        .transpose()?;
    let (scores, offs, forced) = (
        row_major(&scores),
        row_major(&offsets),
        row_major(&force_keep),
    );
    let bridges = bridges.as_ref().map(row_major);
    let keep = py.detach(|| {
        prune::prune_tokens(
            &scores,
            &offs,
            ratio,
            &forced,
            bridges.as_deref(),
            min_words,
        )
    })?;
    Ok(keep.into_pyarray(py))
}

/// The pruner's rules (`prune_rules::Rules`): `PruneRules(claim_words: str, stopwords: list[str])`.
#[pyclass(frozen, module = "lightmem._core")]
struct PruneRules {
    rules: prune_rules::Rules,
}

/// `PruneRules.plan(texts)`: the fields of `prune_rules::BatchPlan`, as (words, word_offsets, ranked,
/// keys, flags, bridges, sentence_offsets, turn_offsets).
type PlanTuple<'py> = (
    Bound<'py, PyList>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyList>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
);

#[pymethods]
impl PruneRules {
    #[new]
    fn new(claim_words: &str, stopwords: Vec<String>) -> PyResult<Self> {
        Ok(PruneRules {
            rules: prune_rules::Rules::new(claim_words, &stopwords)?,
        })
    }

    /// The plan of every turn of `texts`: see `prune_rules::Rules::plan`.
    fn plan<'py>(&self, py: Python<'py>, texts: Vec<String>) -> PyResult<PlanTuple<'py>> {
        let plan = py.detach(|| {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let plan = self.rules.plan(&texts);
            // Owned words, so that the plan outlives the borrow of `texts` inside this closure.
            let words: Vec<String> = plan.words.iter().map(|w| (*w).to_owned()).collect();
            (
                words,
                plan.word_offsets,
                plan.ranked,
                plan.keys,
                plan.flags,
                plan.bridges,
                plan.sentence_offsets,
                plan.turn_offsets,
            )
        });
        let (words, word_offsets, ranked, keys, flags, bridges, sentences, turns) = plan;
        Ok((
            PyList::new(py, words)?,
            word_offsets.into_pyarray(py),
            ranked.into_pyarray(py),
            PyList::new(py, keys)?,
            flags.into_pyarray(py),
            bridges.into_pyarray(py),
            sentences.into_pyarray(py),
            turns.into_pyarray(py),
        ))
    }
}

/// `topic_boundaries(embeddings: float32[n, d], time_gaps: float32[n-1] | None = None, *, window=2,
/// threshold=0.5, min_len=2, max_len=16, max_gap=inf) -> int64[b]`: see `segment::topic_boundaries`.
#[pyfunction]
#[pyo3(signature = (
    embeddings, time_gaps=None, *, window=2, threshold=0.5, min_len=2, max_len=16, max_gap=f64::INFINITY
))]
#[allow(clippy::too_many_arguments)]
fn topic_boundaries<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    time_gaps: Option<&Bound<'py, PyAny>>,
    window: i64,
    threshold: f64,
    min_len: i64,
    max_len: i64,
    max_gap: f64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let params = segment::SegmentParams::new(window, threshold, min_len, max_len, max_gap)?;
    let embeddings = array_arg::<f32, Ix2>(embeddings, "embeddings")?;
    let time_gaps = time_gaps
        .map(|gaps| array_arg::<f32, Ix1>(gaps, "time_gaps"))
        .transpose()?;
    let rows = embeddings.as_array();
    let gaps = time_gaps.as_ref().map(row_major);
    let starts = py.detach(|| segment::topic_boundaries(rows, gaps.as_deref(), &params))?;
    // Positions are < n <= isize::MAX, so they fit in i64.
    Ok(starts
        .into_iter()
        .map(|p| p as i64)
        .collect::<Vec<_>>()
        .into_pyarray(py))
}

/// `cluster_knn(neighbors: int64[n, k], similarities: float32[n, k], threshold: float,
/// signatures: uint64[n, p] | None = None, min_jaccard: float = 1.0) -> int64[n]`: see
/// `cluster::cluster_knn`.
#[pyfunction]
#[pyo3(signature = (neighbors, similarities, threshold, signatures=None, min_jaccard=1.0))]
fn cluster_knn<'py>(
    py: Python<'py>,
    neighbors: &Bound<'py, PyAny>,
    similarities: &Bound<'py, PyAny>,
    threshold: f64,
    signatures: Option<&Bound<'py, PyAny>>,
    min_jaccard: f64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let neighbors = array_arg::<i64, Ix2>(neighbors, "neighbors")?;
    let similarities = array_arg::<f32, Ix2>(similarities, "similarities")?;
    let signatures = signatures
        .map(|sig| array_arg::<u64, Ix2>(sig, "signatures"))
        .transpose()?;
    let (ids, sims) = (neighbors.as_array(), similarities.as_array());
    let sigs = signatures.as_ref().map(|sig| sig.as_array());
    let labels = py.detach(|| cluster::cluster_knn(ids, sims, threshold, sigs, min_jaccard))?;
    Ok(labels.into_pyarray(py))
}

/// `minhash_signatures(texts: list[str], num_perm: int = 64, shingle: int = 3, seed: int = 0)
/// -> uint64[m, num_perm]`: see `minhash::minhash_signatures`.
#[pyfunction]
#[pyo3(signature = (texts, num_perm=64, shingle=3, seed=0))]
fn minhash_signatures<'py>(
    py: Python<'py>,
    texts: Vec<String>,
    num_perm: i64,
    shingle: i64,
    seed: i64,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let params = minhash::MinHashParams::new(num_perm, shingle, seed)?;
    let signatures = py.detach(|| minhash::minhash_signatures(&texts, &params));
    Ok(signatures.into_pyarray(py))
}

/// `minhash_similarity(signatures: uint64[m, p], pairs: int64[q, 2]) -> float32[q]`: see
/// `minhash::minhash_similarity`.
#[pyfunction]
fn minhash_similarity<'py>(
    py: Python<'py>,
    signatures: &Bound<'py, PyAny>,
    pairs: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let signatures = array_arg::<u64, Ix2>(signatures, "signatures")?;
    let pairs = array_arg::<i64, Ix2>(pairs, "pairs")?;
    let (sigs, pairs) = (signatures.as_array(), pairs.as_array());
    let similarity = py.detach(|| minhash::minhash_similarity(sigs, pairs))?;
    Ok(similarity.into_pyarray(py))
}

/// `fts5_tokens(text: str) -> list[str]`: the tokens SQLite FTS5's `porter unicode61` tokenizer makes of
/// `text` (see `fts_tokens`; a token cut inside a character by stemming shows U+FFFD there).
#[pyfunction]
fn fts5_tokens(py: Python<'_>, text: &str) -> Vec<String> {
    py.detach(|| {
        fts_tokens::tokens(text)
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect()
    })
}

/// One change of the units for `KeywordIndex.apply`: (rowid, text or None when removed, user_id,
/// agent_id, run_id).
type UnitChange = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The keyword index of a store's units (`keyword_index::KeywordIndex`), shared between threads:
/// searches read it together, changes are applied alone.
#[pyclass(frozen, module = "lightmem._core")]
struct KeywordIndex {
    index: RwLock<keyword_index::KeywordIndex>,
}

impl KeywordIndex {
    fn read(&self) -> RwLockReadGuard<'_, keyword_index::KeywordIndex> {
        // a panic cannot leave the index half-changed in a way a search would misread: recover it
        self.index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, keyword_index::KeywordIndex> {
        self.index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[pymethods]
impl KeywordIndex {
    #[new]
    fn new() -> Self {
        KeywordIndex {
            index: RwLock::new(keyword_index::KeywordIndex::new()),
        }
    }

    /// Applies `changes` in order: each (rowid, text, user_id, agent_id, run_id) adds or replaces
    /// the unit `rowid`, or removes it when `text` is None.
    fn apply(&self, py: Python<'_>, changes: Vec<UnitChange>) -> PyResult<()> {
        py.detach(|| {
            let mut index = self.write();
            for (rowid, text, user, agent, run) in &changes {
                match text {
                    Some(text) => index.put(
                        *rowid,
                        text,
                        [user.as_deref(), agent.as_deref(), run.as_deref()],
                    )?,
                    None => index.remove(*rowid),
                }
            }
            Ok(())
        })
    }

    /// For each keyword, the units holding its one token (0 for none), or None when a keyword is
    /// several tokens (see `keyword_index::KeywordIndex::matches`).
    fn matches(&self, py: Python<'_>, keywords: Vec<String>) -> Option<Vec<u32>> {
        py.detach(|| {
            let index = self.read();
            keywords.iter().map(|k| index.matches(k)).collect()
        })
    }

    /// The units of the scope holding any of `keywords` scoring (BM25) at least `min_score`, as
    /// (rowid, score), best first, at most `limit` (None: all), `extra_texts` counted in the
    /// statistics as units: see
    /// `keyword_index::KeywordIndex::search`.
    #[pyo3(signature = (keywords, user_id, agent_id, run_id, min_score, limit=None, extra_texts=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        keywords: Vec<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        run_id: Option<String>,
        min_score: f64,
        limit: Option<usize>,
        extra_texts: Vec<String>,
    ) -> PyResult<Vec<(i64, f64)>> {
        py.detach(|| {
            let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
            let extra: Vec<&str> = extra_texts.iter().map(String::as_str).collect();
            let scope = [user_id.as_deref(), agent_id.as_deref(), run_id.as_deref()];
            Ok(self
                .read()
                .search(&keywords, scope, min_score, limit, &extra)?)
        })
    }

    /// The BM25 score of each of `texts` (None: it holds no keyword) as if they were units of the
    /// index beside its own: see `keyword_index::KeywordIndex::score_texts`.
    fn score_texts(
        &self,
        py: Python<'_>,
        keywords: Vec<String>,
        texts: Vec<String>,
    ) -> PyResult<Vec<Option<f64>>> {
        py.detach(|| {
            let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(self.read().score_texts(&keywords, &texts)?)
        })
    }

    fn __len__(&self) -> usize {
        self.read().len()
    }

    /// Bytes held, approximately.
    #[getter]
    fn nbytes(&self) -> usize {
        self.read().nbytes()
    }
}

#[pymodule]
mod _core {
    #[pymodule_export]
    use super::KernelInputError;

    #[pymodule_export]
    use super::{prune_tokens, score_tokens, topic_boundaries, PruneRules};

    #[pymodule_export]
    use super::{cluster_knn, minhash_signatures, minhash_similarity};

    #[pymodule_export]
    use super::{fts5_tokens, KeywordIndex};

    #[pymodule_export]
    const MINHASH_EMPTY: u64 = super::minhash::EMPTY;

    #[pymodule_export]
    const FLAG_FORCE_KEEP: u8 = super::prune::FORCE_KEEP;
    #[pymodule_export]
    const FLAG_ENTITY: u8 = super::prune::ENTITY;
    #[pymodule_export]
    const FLAG_NUMBER: u8 = super::prune::NUMBER;
    #[pymodule_export]
    const FLAG_DATE: u8 = super::prune::DATE;
    #[pymodule_export]
    const FLAG_FILLER: u8 = super::prune::FILLER;
    #[pymodule_export]
    const FLAG_STOPWORD: u8 = super::prune::STOPWORD;
    #[pymodule_export]
    const FILLER_WORDS: &str = super::prune_rules::FILLER_WORDS;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
