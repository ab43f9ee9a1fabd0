"""Typed stub of the Rust extension `lightmem._core`: pure kernels over numpy arrays.

Array arguments must be numpy arrays of exactly the dtype shown (no implicit conversion); any
contiguity is accepted (non-C-contiguous arrays are copied). Every invalid input raises
`KernelInputError`, a `ValueError` whose message names the argument.
"""

from typing import Final, Optional, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

__all__ = [
    "FILLER_WORDS",
    "FLAG_DATE",
    "FLAG_ENTITY",
    "FLAG_FILLER",
    "FLAG_FORCE_KEEP",
    "FLAG_NUMBER",
    "FLAG_STOPWORD",
    "MINHASH_EMPTY",
    "KernelInputError",
    "KeywordIndex",
    "PruneRules",
    "__version__",
    "cluster_knn",
    "fts5_tokens",
    "minhash_signatures",
    "minhash_similarity",
    "prune_tokens",
    "score_tokens",
    "topic_boundaries",
]

__version__: str

class KernelInputError(ValueError):
    """Invalid input to a lightmem kernel."""

# --- token pruning (rust/src/prune.rs) -----------------------------------------------------------

FLAG_FORCE_KEEP: Final[int]
"""Flag bit 1: keep the token whatever its score (pass it to `prune_tokens` as `force_keep`)."""
FLAG_ENTITY: Final[int]
"""Flag bit 2: a capitalised name (score boost)."""
FLAG_NUMBER: Final[int]
"""Flag bit 4: a number (score boost)."""
FLAG_DATE: Final[int]
"""Flag bit 8: a date or time expression (score boost)."""
FLAG_FILLER: Final[int]
"""Flag bit 16: a filler word such as um, like, yeah (score penalty)."""
FLAG_STOPWORD: Final[int]
"""Flag bit 32: a stopword (score penalty)."""

def score_tokens(
    token_ids: npt.NDArray[np.uint32],
    offsets: npt.NDArray[np.int64],
    background_logprob: npt.NDArray[np.float32],
    running_counts: npt.NDArray[np.float32],
    flags: npt.NDArray[np.uint8],
) -> npt.NDArray[np.float32]:
    """Information content of each token of a ragged batch of turns (higher = keep).

    Turn t holds tokens offsets[t]:offsets[t+1] (offsets[0] == 0, non-decreasing, offsets[-1] == n).
    score = -background_logprob[id] - 0.5 * log1p(running_counts[id]) + 3 per ENTITY/NUMBER/DATE flag
    - 6 if FILLER - 3 if STOPWORD - 2 if the id already occurred in the same turn. Ids >= V are unknown
    words, scored as the rarest word of the table with count 0.
    """

def prune_tokens(
    scores: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    ratio: float,
    force_keep: npt.NDArray[np.bool_],
    *,
    min_words: int = 1,
    bridges: Optional[npt.NDArray[np.bool_]] = None,
) -> npt.NDArray[np.bool_]:
    """Keep mask over words: per turn, every forced word and ceil(ratio * u) of its u other words, the
    highest-scoring ones (ties to the earlier), raised so that the turn keeps at least min_words words
    in all (at least one; a turn of at most min_words words is kept whole). ratio in (0, 1].

    A "turn" is whatever offsets delimit (sensory memory passes sentences). Then a word left out
    between two kept words of its turn is kept if its `bridges` entry is true.
    """

# --- pruning rules (rust/src/prune_rules.rs) -----------------------------------------------------

FILLER_WORDS: Final[str]
"""The interjections and discourse markers of the rules, separated by spaces."""

@final
class PruneRules:
    """The pruner's rules (documented in `lightmem.prune_rules`) over a claim-word list (the format of
    `data/claim_words.txt`) and a set of stopword keys."""

    def __new__(cls, claim_words: str, stopwords: list[str]) -> Self: ...
    def plan(
        self, texts: list[str]
    ) -> tuple[
        list[str],
        npt.NDArray[np.int64],
        npt.NDArray[np.uint32],
        list[str],
        npt.NDArray[np.uint8],
        npt.NDArray[np.bool_],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
    ]:
        """The rules applied to each turn (split on whitespace as `str.split` does): (words,
        word_offsets int64[m+1], ranked uint32[k] (indexes into words, fillers left out), keys of the
        ranked words, their flags uint8[k], their bridges bool[k], sentence offsets over the ranked
        words, turn offsets int64[m+1] over the ranked words)."""

# --- topic segmentation (rust/src/segment.rs) ----------------------------------------------------

def topic_boundaries(
    embeddings: npt.NDArray[np.float32],
    time_gaps: Optional[npt.NDArray[np.float32]] = None,
    *,
    window: int = 2,
    threshold: float = 0.5,
    min_len: int = 2,
    max_len: int = 16,
    max_gap: float = ...,
) -> npt.NDArray[np.int64]:
    """Sorted segment start positions 0 < i < n of n turn embeddings, shape (n, d).

    TextTiling-style: gap score = mean cosine similarity between the `window` turns before and after a
    gap; a local minimum is a boundary when its depth exceeds mean + threshold * std of the depths; a
    time gap (n - 1 pauses, >= 0, any unit) above max_gap (default inf) always is. Segments keep at
    least min_len turns (forced time cuts aside) and are split at their weakest gap above max_len.
    """

# --- near-duplicate clustering (rust/src/cluster.rs, rust/src/minhash.rs) ------------------------------
# Clusters are connected components, labelled by their smallest row index (a singleton: its own).

MINHASH_EMPTY: Final[int]
"""Signature value (2**64 - 1) at every position of a text with no words; similar to nothing."""

def cluster_knn(
    neighbors: npt.NDArray[np.int64],
    similarities: npt.NDArray[np.float32],
    threshold: float,
    signatures: Optional[npt.NDArray[np.uint64]] = None,
    min_jaccard: float = 1.0,
) -> npt.NDArray[np.int64]:
    """Cluster labels (int64[n]) of a kNN graph: row i lists k >= 1 neighbour rows (-1 = none; its
    similarity is ignored) and their cosine similarities, both shape (n, k).

    Edge (i, j) joins when its similarity >= threshold (in [-1, 1]) or, with signatures (uint64[n, p],
    from `minhash_signatures`), when `minhash_similarity` of rows i and j >= min_jaccard (in [0, 1]);
    comparisons in float32, self-edges ignored. Union-find, O(n * k).
    """

def minhash_signatures(
    texts: list[str], num_perm: int = 64, shingle: int = 3, seed: int = 0
) -> npt.NDArray[np.uint64]:
    """MinHash signatures (uint64[len(texts), num_perm]) of word shingles, stable across processes and
    platforms (they may be stored); num_perm in [1, 4096], shingle >= 1, any 64-bit seed.

    Words are maximal runs of Unicode alphanumeric characters, lowercased; shingles are runs of
    `shingle` words (a shorter text: one shingle of all its words); a text with no words gets
    MINHASH_EMPTY everywhere. The first q columns do not depend on num_perm >= q.
    """

def minhash_similarity(
    signatures: npt.NDArray[np.uint64], pairs: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """For each row (a, b) of pairs (int64[q, 2]), the fraction of positions where signatures rows a
    and b hold the same value other than MINHASH_EMPTY: an estimate of the Jaccard similarity of their
    shingle sets (float32[q]).
    """

# --- keyword index (rust/src/fts_tokens.rs, rust/src/keyword_index.rs) ------------------------------

def fts5_tokens(text: str) -> list[str]:
    """The tokens SQLite FTS5's `porter unicode61` tokenizer makes of `text`, in order: runs of letters
    and digits, lower-cased, diacritics removed from Latin letters, Porter-stemmed (3 to 64 bytes).
    Exact on ASCII and Latin letters; beyond, Rust's Unicode tables stand in for SQLite's. A token that
    stemming cut inside a character shows U+FFFD there."""

@final
class KeywordIndex:
    """An in-memory inverted index of units (rowid, text, scope ids) ranking by FTS5's BM25 (k1 1.2,
    b 0.75, FTS5's idf; a unit's length counts its text's tokens and 3 for the scope column), so that
    it ranks as the store's FTS5 table did. Thread-safe (searches run together, changes alone)."""

    def __init__(self) -> None: ...
    def apply(
        self, changes: list[tuple[int, Optional[str], Optional[str], Optional[str], Optional[str]]]
    ) -> None:
        """Apply `changes` in order: each (rowid, text, user_id, agent_id, run_id) adds or replaces
        the unit `rowid`, or removes it when `text` is None."""
    def matches(self, keywords: list[str]) -> Optional[list[int]]:
        """For each keyword, the units holding its one token (0 for a keyword of no token); None when
        a keyword is several tokens (an FTS5 phrase, which the index cannot match)."""
    def search(
        self,
        keywords: list[str],
        user_id: Optional[str],
        agent_id: Optional[str],
        run_id: Optional[str],
        min_score: float,
        limit: Optional[int] = None,
        extra_texts: list[str] = ...,
    ) -> list[tuple[int, float]]:
        """The units of the scope (a None id matches any value) holding any of `keywords` (each one
        token, else `KernelInputError`) with a BM25 score of at least `min_score`, as (rowid, score),
        best first (ties: lower rowid first), at most `limit` (None: all). A unit's score sums its
        keywords' in their order, as FTS5 sums its phrases. `extra_texts` (default none) count in the
        statistics as units beside the index's (as in `score_texts`), but are not searched."""
    def score_texts(self, keywords: list[str], texts: list[str]) -> list[Optional[float]]:
        """The BM25 score of each of `texts` (None for a text holding none of `keywords`, each one
        token, else `KernelInputError`) as if the texts were units of the index beside its own (they
        count in the unit count, the average length and each keyword's units), summed over
        `keywords` in their order."""
    def __len__(self) -> int:
        """Units held."""
    @property
    def nbytes(self) -> int:
        """Bytes held, approximately."""
