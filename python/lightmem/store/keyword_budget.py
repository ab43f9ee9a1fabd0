"""The postings budget of keyword search, kept alike by every store: only the query's rarest words are
scored, while their matches fit in `POSTINGS_BUDGET`."""

from __future__ import annotations

from collections.abc import Mapping

POSTINGS_BUDGET = 2000
"""A keyword search scores at most about this many (unit, word) matches: the query's words are taken
rarest first (by the units holding each) while their matches fit in it. BM25 costs a few microseconds
a match in SQLite (tens in PostgreSQL), so a word held by tens of thousands of units would cost more
than the rest of a search; such words weigh little in BM25 anyway (a word in more than half the units
adds almost nothing), and the semantic ranking still finds what they are about."""


def rarest_within(matches: Mapping[str, int], budget: int) -> list[str]:
    """The words of `matches` (word -> its matches, counted up to `budget` + 1 at least), rarest first,
    while their matches add up to at most `budget`; words without a match are left out."""
    chosen: list[str] = []
    total = 0
    for word in sorted(matches, key=matches.__getitem__):
        if matches[word] == 0:
            continue
        if total + matches[word] > budget:
            break
        chosen.append(word)
        total += matches[word]
    return chosen
