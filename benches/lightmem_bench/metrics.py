"""Evidence recall of ranked hits, at k hits or at a reading budget, and its aggregation.

A question's evidence is the set of turn ids that hold its answer. A hit covers the turns in its
`source`. Recall is the fraction of the evidence covered; a question is *fully* covered when all of it is.

Reading budget: an agent reads the hits in rank order, whole, while they fit in B words; the first hit
that would overflow B ends the reading (it is not read, and no shorter hit further down is read in its
place). So the words read never exceed B, and a top hit longer than B alone covers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hit:
    """One retrieved memory: the text an agent reads and the ids of the turns it comes from."""

    text: str
    source: tuple[str, ...]

    @property
    def words(self) -> int:
        """Whitespace-separated words of the text."""
        return len(self.text.split())


def recall(evidence: Iterable[str], hits: Iterable[Hit]) -> float:
    """Fraction of the evidence turn ids covered by the hits' sources."""
    wanted = set(evidence)
    if not wanted:
        raise ValueError("evidence must name at least one turn id")
    covered = {turn for hit in hits for turn in hit.source}
    return len(wanted & covered) / len(wanted)


def within_budget(hits: Iterable[Hit], budget_words: int) -> list[Hit]:
    """The leading hits read whole within `budget_words` words (see the module docstring)."""
    if budget_words < 1:
        raise ValueError(f"budget_words must be >= 1, got {budget_words}")
    read: list[Hit] = []
    used = 0
    for hit in hits:
        used += hit.words
        if used > budget_words:
            break
        read.append(hit)
    return read


def score_question(
    evidence: Sequence[str], ranked: Sequence[Hit], ks: Sequence[int], budgets: Sequence[int]
) -> dict[str, float]:
    """`recall@k`, `full@k` (1.0 when all evidence is covered), `recall@Bw` and `full@Bw` of one question."""
    scores: dict[str, float] = {}
    cutoffs = [(f"@{k}", ranked[:k]) for k in ks] + [(f"@{b}w", within_budget(ranked, b)) for b in budgets]
    for suffix, hits in cutoffs:
        value = recall(evidence, hits)
        scores["recall" + suffix] = value
        scores["full" + suffix] = float(value == 1.0)
    return scores


def mean_scores(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each key over rows that all have the same keys; {} for no rows."""
    if not rows:
        return {}
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def by_category(rows: Sequence[tuple[int, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean scores over all rows (key "all") and per question category (keys "1", "2", ...)."""
    result = {"all": mean_scores([scores for _, scores in rows])}
    for category in sorted({category for category, _ in rows}):
        result[str(category)] = mean_scores([scores for c, scores in rows if c == category])
    return result


def percentiles_ms(seconds: Sequence[float], quantiles: Sequence[float] = (50, 99)) -> dict[str, float]:
    """Latency percentiles in milliseconds, keyed `p50`, `p99`, ...; {} for no samples."""
    if not seconds:
        return {}
    values = np.percentile(np.asarray(seconds) * 1000.0, quantiles)
    return {f"p{q:g}": float(v) for q, v in zip(quantiles, values)}
