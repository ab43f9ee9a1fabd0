"""`PendingPart` of `SQLiteStore`: the short-term buffer (the `pending` table), messages of each exact
scope waiting to be extracted and searchable meanwhile (ranked by `buffer_search`); the contract is
`ShortTermStore` (lightmem.store.protocol)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from lightmem.store import buffer_search
from lightmem.store.codec import (
    check_vector,
    decode_vectors,
    encode_time,
    encode_vector,
)
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import (
    add_counts,
    check_pending_add,
    check_scope,
    check_search,
    exact_scope_sql,
    first_time,
    log_skipped,
    scope_sql,
    select_in,
)
from lightmem.store.sqlite_db import Database
from lightmem.store.sqlite_keyword_index import IndexedKeywords
from lightmem.store.sqlite_keywords import keyword_match, keyword_terms
from lightmem.times import now_utc
from lightmem.types import MemoryItem, Scope


class PendingPart:
    """The rows of the `pending` table: a message (JSON), its word count and its turn's embedding."""

    dim: int
    _db: Database
    _has_keyword_index: bool
    _keywords: IndexedKeywords

    def pending_add(
        self,
        scope: Scope,
        messages: Sequence[dict[str, Any]],
        words: Sequence[int],
        vectors: Optional[np.ndarray] = None,
        counts: Optional[Mapping[str, int]] = None,
    ) -> list[int]:
        """See `ShortTermStore.pending_add`; one row per message, its turn's embedding what
        `pending_search` ranks and a flush reuses."""
        rows, counted = check_pending_add(scope, messages, words, vectors, self.dim, counts)

        def body(conn: sqlite3.Connection, _seq: int) -> list[int]:
            now = encode_time(now_utc())
            sql = "INSERT INTO pending (user_id, agent_id, run_id, message, words, created_at, vector) "
            sql += " VALUES (?,?,?,?,?,?,?)"
            stored = []
            for row in rows:
                if first_time(conn, scope, row.key):
                    blob = None if row.vector is None else encode_vector(row.vector)
                    ids = (scope.user_id, scope.agent_id, scope.run_id)
                    values = (*ids, row.message_json, row.words, now, blob)
                    stored.append(int(conn.execute(sql, values).lastrowid or 0))
            add_counts(conn, scope, counted)
            return stored

        stored = self._db.write(body, units_change=False)
        log_skipped(len(stored), len(rows), scope)
        return stored

    def pending_list(self, scope: Scope) -> list[tuple[int, dict[str, Any]]]:
        """See `ShortTermStore.pending_list`."""
        where, params = exact_scope_sql(check_scope(scope))
        rows = self._db.conn().execute(
            f"SELECT rowid, message FROM pending WHERE {where} ORDER BY rowid", params
        )
        return [(rowid, json.loads(message)) for rowid, message in rows]

    def pending_vectors(self, pending_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """See `ShortTermStore.pending_vectors`."""
        select = "SELECT rowid, vector FROM pending"
        rows = list(select_in(self._db.conn(), select, "rowid", list(pending_ids), "vector IS NOT NULL"))
        matrix = decode_vectors([blob for _, blob in rows], self.dim)
        return {rowid: vector for (rowid, _), vector in zip(rows, matrix)}

    def pending_search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """See `ShortTermStore.pending_search`."""
        check_search(scope, limit, filters)
        query = check_vector(vector, self.dim)
        return buffer_search.by_meaning(self._db.conn(), query, scope, limit, filters, self.dim)

    def pending_keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """See `ShortTermStore.pending_keyword_search` (the BM25 of the units' keyword index, see
        `buffer_search.by_keywords`; FTS5's for keywords of several tokens)."""
        check_search(scope, limit, filters)
        match = keyword_match(keywords, scope, self._has_keyword_index)
        if match is None:
            return []
        words = keyword_terms(keywords)
        with self._db.snapshot() as conn:
            found = self._keywords.matching(conn, words)
            if found is None:
                return buffer_search.by_fts5_keywords(conn, match, scope, limit, filters, min_score)
            return buffer_search.by_keywords(conn, found[0], words, scope, limit, filters, min_score)

    def pending_words(self, scope: Scope) -> int:
        """See `ShortTermStore.pending_words`."""
        where, params = exact_scope_sql(check_scope(scope))
        row = self._db.conn().execute(f"SELECT COALESCE(SUM(words), 0) FROM pending WHERE {where}", params)
        return int(row.fetchone()[0])

    def pending_count(self, scope: Optional[Scope] = None) -> int:
        """See `ShortTermStore.pending_count`."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        sql = f"SELECT COUNT(*) FROM pending WHERE {where}"
        return int(self._db.conn().execute(sql, params).fetchone()[0])

    def pending_scopes(self) -> list[Scope]:
        """See `ShortTermStore.pending_scopes`."""
        rows = self._db.conn().execute(
            "SELECT DISTINCT user_id, agent_id, run_id FROM pending ORDER BY 1, 2, 3"
        )
        return [Scope(*row) for row in rows]
