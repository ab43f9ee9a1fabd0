"""Hybrid retrieval, the search policy of a `Memory`: the semantic (vector) and keyword (BM25) rankings
of the units and the buffered messages of a scope fused into one order, each hit scored by its
similarity to the query (`Retriever`, `hybrid_search`), and the keywords of a query (`keywords`)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional, Protocol

import numpy as np

from lightmem.embedding import Embedder, embed_distinct
from lightmem.limits import MAX_RESULTS
from lightmem.sensory import uncommon_words
from lightmem.store import PENDING_ID_PREFIX, SearchFilters, SearchStore, ShortTermStore
from lightmem.types import MemoryItem, Scope

logger = logging.getLogger("lightmem")

RRF_K = 60
"""The rank offset of reciprocal-rank fusion (the usual constant: the first hits of a list count a
little more than the next ones, not overwhelmingly more)."""
FUSION_DEPTH = 2
"""A hybrid search fuses the best `FUSION_DEPTH * limit` hits of each ranking (deeper lists let units
that are mediocre in both outrank the best of either)."""
MIN_KEYWORD_SCORE = 1.0
"""Keyword hits scoring less (BM25) match only words common in the store, such as a speaker's name that
begins half the memories: fusing them would rank them by chance."""
MAX_KEYWORDS = 32
"""A keyword search looks for at most this many words of the query."""


def keywords(text: str) -> list[str]:
    """The words of `text` worth a keyword search: lowercased, without the commonest words of everyday
    English (`sensory.KEYWORD_LOG10_FREQ`) or repeats, at most `MAX_KEYWORDS`."""
    return uncommon_words(text)[:MAX_KEYWORDS]


def fuse_rankings(
    rankings: Sequence[Sequence[MemoryItem]], weights: Sequence[float], limit: int
) -> list[MemoryItem]:
    """Reciprocal-rank fusion: an item scores the sum over the rankings it is in of weight / (RRF_K +
    rank), rank counted from 0. The best `limit` items, their `score` set to that sum; ties keep the
    order of first appearance (the first ranking's first)."""
    if len(rankings) != len(weights):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[str, float] = {}
    items: dict[str, MemoryItem] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking):
            scores[item.id] = scores.get(item.id, 0.0) + weight / (RRF_K + rank)
            items.setdefault(item.id, item)
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:limit]
    return [replace(items[memory_id], score=scores[memory_id]) for memory_id in best]


class SearchedStore(SearchStore, ShortTermStore, Protocol):
    """What a hybrid search reads: the units and the short-term buffer."""


class Retriever:
    """The searches of a `Memory`: queries embedded by `embedder`, hits from `store` by `hybrid_search`
    with the keyword ranking weighted `keyword_weight` (0: by meaning only)."""

    def __init__(
        self, store: SearchedStore, embedder: Embedder, keyword_weight: float, location: str
    ) -> None:
        """`location`: where the store is, named in the warning given when keyword search is asked for
        but the store cannot do it."""
        if keyword_weight > 0.0 and not store.has_keyword_index:
            logger.warning(
                "keyword search is off: this Python's SQLite lacks FTS5; %s is searched by meaning only",
                location,
            )
        self._store = store
        self._embedder = embedder
        self._keyword_weight = keyword_weight

    def search(
        self,
        query: str,
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        threshold: Optional[float] = None,
    ) -> list[MemoryItem]:
        """`hybrid_search` for `query` (checked by the caller), buffered messages under their public ids."""
        vector = embed_distinct(self._embedder, [query])[0]
        hits = hybrid_search(
            self._store, query, vector, scope, limit, filters, self._keyword_weight, threshold
        )
        return [replace(hit, id=public_pending_id(hit)) if hit.pending else hit for hit in hits]


def public_pending_id(item: MemoryItem) -> str:
    """The id a buffered message is shown under: `pending:` and a digest of its exact scope and message
    id, stable across searches and flushes of other messages. (The store's `pending:<row>` ids count
    every scope's messages: a caller confined to its own scope could read how many others add.)"""
    key = json.dumps([*item.scope_key, *item.source], ensure_ascii=False)
    return PENDING_ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def hybrid_search(
    store: SearchedStore,
    query: str,
    vector: np.ndarray,
    scope: Scope,
    limit: int,
    filters: Optional[SearchFilters],
    keyword_weight: float,
    threshold: Optional[float] = None,
) -> list[MemoryItem]:
    """The `limit` units and buffered messages of `scope` passing `filters` that best match `query`
    (embedded as `vector`).

    Buffered messages (not yet extracted: items marked `pending`) take part in both rankings beside the
    units, by the same cosine and the same BM25. Order: by meaning alone when `keyword_weight` is 0, else
    the best `FUSION_DEPTH * limit` hits by meaning and by keywords fused by reciprocal rank (the keyword
    ranking weighted `keyword_weight`). Score: the cosine similarity of the query to the hit's search
    key, clipped to [0, 1] (a hit found by its keywords alone gets its own, from its stored vector), so
    scores are comparable across queries; with fusion they need not decrease down the list. Hits scoring
    below `threshold` are skipped, the next ones in fused order taking their places.
    """
    fused_search = keyword_weight != 0.0
    depth = min(FUSION_DEPTH * limit, MAX_RESULTS) if fused_search else limit
    words = keywords(query)
    # The buffer is read before the units: a flush committing in between can then show a message both
    # pending and as a unit (the pending copy is dropped), never as neither.
    pending = store.pending_search(vector, scope, depth, filters)
    pending_by_keywords = (
        store.pending_keyword_search(words, scope, depth, filters, MIN_KEYWORD_SCORE) if fused_search else []
    )
    by_meaning = _by_score(store.search(vector, scope, depth, filters), pending)[:depth]
    cosines = {item.id: item.score or 0.0 for item in by_meaning}
    if not fused_search:
        return _above(_unflushed(by_meaning), cosines, threshold)[:limit]
    units_by_keywords = store.keyword_search(words, scope, depth, filters, min_score=MIN_KEYWORD_SCORE)
    by_keywords = _by_score(units_by_keywords, pending_by_keywords)[:depth]
    candidates = limit if threshold is None else 2 * depth  # every candidate may be needed
    fused = _unflushed(fuse_rankings([by_meaning, by_keywords], [1.0, keyword_weight], 2 * depth))
    # only the candidates' cosines are read (the vectors of units found by keywords alone)
    shown = fused[:candidates]
    cosines.update(store.similarities(vector, [item.id for item in shown if item.id not in cosines]))
    return _above(shown, cosines, threshold)[:limit]


def _by_score(*rankings: Sequence[MemoryItem]) -> list[MemoryItem]:
    """The items of rankings scored on one scale, best first (ties: the earlier ranking's first)."""
    return sorted((item for ranking in rankings for item in ranking), key=lambda i: -(i.score or 0.0))


def _unflushed(ranked: Sequence[MemoryItem]) -> list[MemoryItem]:
    """`ranked` without the pending messages that a unit of their own exact scope among them already
    cites (a flush that committed while the search read; message ids are unique per scope only)."""
    extracted = {(item.scope_key, source) for item in ranked if not item.pending for source in item.source}
    return [
        item
        for item in ranked
        if not (item.pending and all((item.scope_key, source) in extracted for source in item.source))
    ]


def _above(
    ranked: Sequence[MemoryItem], cosines: dict[str, float], threshold: Optional[float]
) -> list[MemoryItem]:
    """`ranked` scored by their cosine in [0, 1], without those below `threshold` (or since deleted)."""
    scored = (
        replace(item, score=min(1.0, max(0.0, cosines[item.id]))) for item in ranked if item.id in cosines
    )
    return [item for item in scored if threshold is None or (item.score or 0.0) >= threshold]
