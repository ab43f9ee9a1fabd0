"""`KeywordPart` of `SQLiteStore`: keyword search over the units, ranked by FTS5's BM25 with FTS5's
English stemming: through the in-memory keyword index (`IndexedKeywords`), or through the FTS5 table
`units_text` (kept by triggers, see `schema`) for keywords of several tokens, which FTS5 matches as
phrases; the contract is `SearchStore.keyword_search` (lightmem.store.protocol)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Optional

from lightmem.store import buffer_search, keyword_budget
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import (
    ITEM_COLUMNS,
    check_search,
    rows_by_rowid,
    rows_needed,
    take,
    to_item,
    where_sql,
)
from lightmem.store.sqlite_db import Database
from lightmem.store.sqlite_keyword_index import IndexedKeywords
from lightmem.types import MemoryItem, Scope

SCOPE_PROBE = 4
"""A keyword search through FTS5 without filters first reads the store's best `SCOPE_PROBE * limit` hits
(see `_best_in_scope`)."""
_MORE_HITS = 4
"""When fewer than `limit` of the index's best hits are found in the database (units deleted since the
index's sync, or outside the filters' time bounds), this many times more are asked for."""


class KeywordPart:
    """Keyword search of the units (`keyword_match` builds the FTS5 queries, of the buffered messages
    too)."""

    _db: Database
    _has_keyword_index: bool
    _keywords: IndexedKeywords

    @property
    def has_keyword_index(self) -> bool:
        """Whether `keyword_search` can find anything: False when this Python's SQLite lacks FTS5."""
        return self._has_keyword_index

    def keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """See `SearchStore.keyword_search`; the relevance is FTS5's BM25 (a word in more than half of
        the store's units adds almost nothing) over the rarest words within
        `keyword_budget.POSTINGS_BUDGET` (matches counted in the whole store). Hits are the index's
        best, then their rows read in one read transaction (hits deleted since are skipped)."""
        check_search(scope, limit, filters)
        if keyword_match(keywords, scope, self._has_keyword_index) is None:
            return []
        words = keyword_terms(keywords)
        with self._db.snapshot() as conn:
            found = self._keywords.matching(conn, words)
            if found is None:
                return _fts5_search(conn, words, scope, limit, filters, min_score)
            index, matches = found
            chosen = keyword_budget.rarest_within(dict(zip(words, matches)), keyword_budget.POSTINGS_BUDGET)
            if not chosen:
                return []
            where, params = where_sql(scope, filters)
            wanted = rows_needed(filters, limit)
            # the scope's buffered messages count in BM25's statistics, as they did in FTS5's table
            # (there every scope's did), so that the units and the buffer share one scale
            buffered = [line for _, line in buffer_search.lines(conn, scope)]
            while True:
                hits = index.search(
                    chosen, scope.user_id, scope.agent_id, scope.run_id, min_score, wanted, buffered
                )
                rows = rows_by_rowid(conn, [rowid for rowid, _ in hits], where, params)
                ranked = take(((rows[r], score) for r, score in hits if r in rows), filters, limit)
                if len(ranked) == limit or wanted is None or len(hits) < wanted:
                    return [to_item(row, score) for row, score in ranked]
                wanted *= _MORE_HITS


def _fts5_search(
    conn: sqlite3.Connection,
    words: Sequence[str],
    scope: Scope,
    limit: int,
    filters: Optional[SearchFilters],
    min_score: float,
) -> list[MemoryItem]:
    """`KeywordPart.keyword_search` through FTS5 (the relevance is the same BM25): the rarest of `words`
    within the budget (matches counted in FTS5), scored by FTS5 over the store's best hits without
    filters (`_best_in_scope`), else over the scope's."""
    words = _within_budget(conn, words, keyword_budget.POSTINGS_BUDGET)
    if not words:
        return []
    where, params = where_sql(scope, filters)
    if filters is None:
        # The store's best hits first, without the scope terms in the MATCH (BM25 would read every
        # posting of the scope's token, which every unit of a big scope has): exact when enough of
        # them are in the scope or there are no more, else the scope's own search below.
        ranked = _best_in_scope(conn, _text_terms(words), min_score, where, params, limit)
        if ranked is not None:
            return [to_item(row, score) for row, score in ranked]
    match = keyword_match(words, scope, True)
    needed = rows_needed(filters, limit)
    # Without filters every hit of the MATCH (its scope terms) is a live unit of the scope, so only
    # the best `limit` hits are looked up in `units` (one page read each, the costly part).
    best = limit if filters is None else -1
    sql = (
        f"SELECT {ITEM_COLUMNS}, hits.score FROM (SELECT rowid AS hit, -bm25(units_text, 1.0, 0.0) "
        "AS score FROM units_text WHERE units_text MATCH ? AND rowid > 0 ORDER BY score DESC LIMIT ?) "
        f"AS hits CROSS JOIN units ON units.rowid = hits.hit WHERE hits.score >= ? AND {where} "
        "ORDER BY hits.score DESC LIMIT ?"
    )
    rows = conn.execute(sql, [match, best, min_score, *params, -1 if needed is None else needed]).fetchall()
    return [to_item(row, score) for row, score in take(((r, r[-1]) for r in rows), filters, limit)]


def _best_in_scope(
    conn: sqlite3.Connection, match: str, min_score: float, where: str, params: list[Any], limit: int
) -> Optional[list[tuple[Sequence[Any], float]]]:
    """The best `limit` (row, score) of the units satisfying `where` among the store's best
    `SCOPE_PROBE * limit` hits of `match`; None when fewer are in it and the store has more hits."""
    probe = SCOPE_PROBE * limit
    hits = conn.execute(
        "SELECT rowid, -bm25(units_text, 1.0, 0.0) AS score FROM units_text "
        "WHERE units_text MATCH ? AND rowid > 0 ORDER BY score DESC LIMIT ?",
        [match, probe],
    ).fetchall()
    rows = rows_by_rowid(conn, [rowid for rowid, score in hits if score >= min_score], where, params)
    ranked = [(rows[rowid], score) for rowid, score in hits if rowid in rows]
    if len(ranked) < limit and len(hits) == probe and hits[-1][1] >= min_score:
        return None
    return ranked[:limit]


def _within_budget(conn: sqlite3.Connection, keywords: Sequence[str], budget: int) -> list[str]:
    """The rarest of `keywords` (quoted FTS5 terms, as `keyword_match` makes them) whose matches in
    `units_text` add up to at most `budget`; words no unit holds are left out. Each word's matches are
    counted up to `budget` + 1 only, so the count costs a fraction of scoring them."""
    count = "SELECT count(*) FROM (SELECT 1 FROM units_text WHERE units_text MATCH ? AND rowid > 0 LIMIT ?)"
    matches: dict[str, int] = {}
    for word in keyword_terms(keywords):
        matches[word] = conn.execute(count, [_text_terms([word]), budget + 1]).fetchone()[0]
    return keyword_budget.rarest_within(matches, budget)


def keyword_match(keywords: Sequence[str], scope: Scope, has_keyword_index: bool) -> Optional[str]:
    """The FTS5 query for any of `keywords` within `scope` (of the units, or of the buffered messages);
    None when there is nothing to search (no keywords, or no keyword index). Each keyword is one quoted
    term: FTS5 syntax inside it is taken literally."""
    if isinstance(keywords, str) or not all(isinstance(k, str) for k in keywords):
        raise ValueError("keywords must be a sequence of strings")
    terms = keyword_terms(keywords)
    if not terms or not has_keyword_index:
        return None
    return " AND ".join([*_scope_tokens(scope), _text_terms(terms)])


def keyword_terms(keywords: Sequence[str]) -> list[str]:
    """The distinct `keywords`, stripped, without blank ones, in order: the terms searched."""
    return list(dict.fromkeys(k.strip() for k in keywords if k.strip()))


def _text_terms(terms: Sequence[str]) -> str:
    """The FTS5 condition: any of `terms` (each one quoted term) in the `text` column."""
    words = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    return f"text : ({words})"


def _scope_tokens(scope: Scope) -> list[str]:
    """The FTS5 conditions on the `scope` column of `units_text` for the ids `scope` gives (see
    `schema._INDEX_UNITS`: hex as SQLite's hex() writes it, of the UTF-8 text)."""
    ids = (("u", scope.user_id), ("a", scope.agent_id), ("r", scope.run_id))
    return [f'scope : "{kind}{value.encode("utf-8").hex()}"' for kind, value in ids if value is not None]
