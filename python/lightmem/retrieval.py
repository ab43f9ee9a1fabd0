"""Hybrid retrieval: the semantic (vector) and keyword (BM25) rankings of a search fused into one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from lightmem.types import MemoryItem

RRF_K = 60
"""The rank offset of reciprocal-rank fusion (the usual constant: the first hits of a list count a
little more than the next ones, not overwhelmingly more)."""


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
