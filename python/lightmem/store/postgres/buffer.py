"""The short-term buffer in PostgreSQL: buffering messages (each id once per exact scope), reading them
back, and searching them by meaning and by keywords as `MemoryItem`s marked `pending` (built by
`store.buffer_search`, as the SQLite store's are)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from lightmem.store.buffer_search import PENDING_ID_PREFIX, admitted, pending_item, scored
from lightmem.store.filters import SearchFilters
from lightmem.store.postgres.connection import Connection
from lightmem.store.postgres.search import bm25
from lightmem.store.postgres.sql import iso, scope_where, to_matrix, vector_param
from lightmem.types import MemoryItem, Scope

_PENDING_COLUMNS = f"rowid, user_id, agent_id, run_id, message::text, {iso('created_at')}"
"""The columns `buffer_search._item` reads, in its order."""


def by_meaning(
    conn: Connection, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters]
) -> list[MemoryItem]:
    """`buffer_search.by_meaning` in PostgreSQL: the buffered messages of `scope` ranked by the cosine
    of their turn vectors, read in rank order until `limit` pass `filters`."""
    where, params = scope_where(scope)
    query = vector_param(vector)
    cursor = conn.execute(
        f"SELECT {_PENDING_COLUMNS}, 1 - (vector <=> %s::vector) FROM lightmem_pending "
        f"WHERE vector IS NOT NULL AND {where} ORDER BY vector <=> %s::vector, rowid",
        [query, *params, query],
    )
    found: list[MemoryItem] = []
    for row in cursor:
        item = scored(pending_item(row), float(row[-1]))
        if admitted(item, filters):
            found.append(item)
            if len(found) == limit:
                break
    return found


def by_keywords(
    conn: Connection,
    keywords: Sequence[str],
    scope: Scope,
    limit: int,
    filters: Optional[SearchFilters],
    min_score: float,
) -> list[MemoryItem]:
    """The `limit` buffered messages of `scope` passing `filters` that best match `keywords` (the BM25
    of `search.bm25_sql`, shared with the units), scoring at least `min_score`, best first."""
    scores = bm25(conn, keywords, scope_where(scope), min_score)
    if not scores:
        return []
    rows = conn.execute(
        f"SELECT {_PENDING_COLUMNS} FROM lightmem_pending WHERE rowid = ANY(%s)", [list(scores)]
    )
    items = [scored(pending_item(row), scores[int(row[0])]) for row in rows]
    items.sort(key=lambda item: (-(item.score or 0.0), int(item.id[len(PENDING_ID_PREFIX) :])))
    return [item for item in items if admitted(item, filters)][:limit]


def vectors_by_id(conn: Connection, pending_ids: Sequence[int], dim: int) -> dict[int, np.ndarray]:
    """The turn vectors stored with these pending rows (rows without one left out)."""
    rows = conn.execute(
        "SELECT rowid, vector::real[] FROM lightmem_pending WHERE rowid = ANY(%s) AND vector IS NOT NULL",
        [[int(i) for i in pending_ids]],
    ).fetchall()
    matrix = to_matrix([vector for _, vector in rows], dim)
    return {int(rowid): vector for (rowid, _), vector in zip(rows, matrix)}


def cosines(conn: Connection, vector: np.ndarray, item_ids: Sequence[str]) -> dict[str, float]:
    """`buffer_search.cosines` in PostgreSQL."""
    rowids = {int(i[len(PENDING_ID_PREFIX) :]): i for i in item_ids if i.startswith(PENDING_ID_PREFIX)}
    if not rowids:
        return {}
    rows = conn.execute(
        "SELECT rowid, 1 - (vector <=> %s::vector) FROM lightmem_pending "
        "WHERE rowid = ANY(%s) AND vector IS NOT NULL",
        [vector_param(vector), list(rowids)],
    )
    return {rowids[int(rowid)]: float(score) for rowid, score in rows}


def pending_rows(conn: Connection, where: str, params: list[Any]) -> list[tuple[int, dict[str, Any]]]:
    """(pending id, message) of the rows meeting `where`, in insertion order."""
    rows = conn.execute(f"SELECT rowid, message FROM lightmem_pending WHERE {where} ORDER BY rowid", params)
    return [(int(rowid), dict(message)) for rowid, message in rows]
