"""`KeywordPart` of `SQLiteStore`: keyword search over the units with SQLite FTS5 (BM25, English
stemming; the `units_text` index, kept by triggers, see `schema`); the contract is
`SearchStore.keyword_search` (lightmem.store.protocol)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from lightmem.store.filters import SearchFilters
from lightmem.store.rows import ITEM_COLUMNS, check_search, rows_needed, take, to_item, where_sql
from lightmem.store.sqlite_db import Database
from lightmem.types import MemoryItem, Scope


class KeywordPart:
    """FTS5 search of the units (`keyword_match` builds the queries, of the buffered messages too)."""

    _db: Database
    _has_keyword_index: bool

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
        the store's units adds almost nothing)."""
        check_search(scope, limit, filters)
        match = keyword_match(keywords, scope, self._has_keyword_index)
        if match is None:
            return []
        where, params = where_sql(scope, filters)
        needed = rows_needed(filters, limit)
        sql = (
            f"SELECT {ITEM_COLUMNS}, hits.score FROM (SELECT rowid AS hit, -bm25(units_text, 1.0, 0.0) "
            "AS score FROM units_text WHERE units_text MATCH ? AND rowid > 0) AS hits "
            f"CROSS JOIN units ON units.rowid = hits.hit WHERE hits.score >= ? AND {where} "
            "ORDER BY hits.score DESC LIMIT ?"
        )
        rows = (
            self._db.conn()
            .execute(sql, [match, min_score, *params, -1 if needed is None else needed])
            .fetchall()
        )
        return [to_item(row, score) for row, score in take(((r, r[-1]) for r in rows), filters, limit)]


def keyword_match(keywords: Sequence[str], scope: Scope, has_keyword_index: bool) -> Optional[str]:
    """The FTS5 query for any of `keywords` within `scope` (of the units, or of the buffered messages);
    None when there is nothing to search (no keywords, or no keyword index). Each keyword is one quoted
    term: FTS5 syntax inside it is taken literally."""
    if isinstance(keywords, str) or not all(isinstance(k, str) for k in keywords):
        raise ValueError("keywords must be a sequence of strings")
    terms = list(dict.fromkeys(k.strip() for k in keywords if k.strip()))
    if not terms or not has_keyword_index:
        return None
    words = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    return " AND ".join([*_scope_tokens(scope), f"text : ({words})"])


def _scope_tokens(scope: Scope) -> list[str]:
    """The FTS5 conditions on the `scope` column of `units_text` for the ids `scope` gives (see
    `schema._INDEX_UNITS`: hex as SQLite's hex() writes it, of the UTF-8 text)."""
    ids = (("u", scope.user_id), ("a", scope.agent_id), ("r", scope.run_id))
    return [f'scope : "{kind}{value.encode("utf-8").hex()}"' for kind, value in ids if value is not None]
