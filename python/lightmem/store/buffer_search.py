"""The short-term buffer as search sees it: the pending messages of a scope as `MemoryItem`s marked
`pending`, ranked by meaning (the turn vectors `add` stored beside them) or by keywords (the keyword
index holds each pending message under the negative of its rowid, beside the units: one BM25 for both).

A flush deletes a message's pending row in the transaction that stores the units citing it, so a message
is found either pending or as units; the caller reads the buffer before the units, so that a flush in
between can only make a message appear twice (which `retrieval` resolves), never vanish.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Optional

import numpy as np

from lightmem.messages import message_from_dict
from lightmem.store.codec import decode_time, decode_vectors
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import scope_sql
from lightmem.text_keys import message_line
from lightmem.types import MemoryItem, Scope

PENDING_ID_PREFIX = "pending:"
"""`MemoryItem.id` of a pending message: this prefix and its buffer row id (not a memory id)."""

_PENDING_COLUMNS = "pending.rowid, user_id, agent_id, run_id, message, created_at"


def by_meaning(
    conn: sqlite3.Connection,
    vector: np.ndarray,
    scope: Scope,
    filters: Optional[SearchFilters],
    dim: int,
) -> list[MemoryItem]:
    """Every pending message of `scope` (None ids match any) passing `filters` and stored with a
    vector, best first, its `score` the cosine similarity of `vector` (unit length) to the turn."""
    where, params = scope_sql(scope)
    rows = conn.execute(
        f"SELECT {_PENDING_COLUMNS}, vector FROM pending WHERE vector IS NOT NULL AND {where}", params
    ).fetchall()
    items = [_item(row) for row in rows]
    kept = [i for i, item in enumerate(items) if _admitted(item, filters)]
    if not kept:
        return []
    scores = decode_vectors([rows[i][-1] for i in kept], dim) @ vector
    order = np.argsort(-scores, kind="stable")
    return [_scored(items[kept[j]], float(scores[j])) for j in order]


def by_keywords(
    conn: sqlite3.Connection,
    match: str,
    scope: Scope,
    limit: int,
    filters: Optional[SearchFilters],
    min_score: float,
) -> list[MemoryItem]:
    """The `limit` pending messages of `scope` passing `filters` that best match the FTS5 query
    `match` (scope tokens included), scoring (BM25) at least `min_score`, best first."""
    where, params = scope_sql(scope)
    rows = conn.execute(
        f"SELECT {_PENDING_COLUMNS}, hits.score FROM (SELECT -rowid AS hit, -bm25(units_text, 1.0, 0.0) "
        "AS score FROM units_text WHERE units_text MATCH ? AND rowid < 0) AS hits "
        f"CROSS JOIN pending ON pending.rowid = hits.hit WHERE hits.score >= ? AND {where} "
        "ORDER BY hits.score DESC",
        [match, min_score, *params],
    ).fetchall()
    found = (_scored(_item(row), float(row[-1])) for row in rows)
    return [item for item in found if _admitted(item, filters)][:limit]


def _item(row: Sequence[Any]) -> MemoryItem:
    rowid, user_id, agent_id, run_id, text, created_at = row[:6]
    record = json.loads(text)
    message = message_from_dict(record)
    created = decode_time(created_at)
    return MemoryItem(
        id=f"{PENDING_ID_PREFIX}{rowid}",
        text=message_line(message),
        user_id=user_id,
        agent_id=agent_id,
        run_id=run_id,
        created_at=created,
        updated_at=created,
        event_time=message.timestamp,
        source=(message.id,),
        metadata=record.get("metadata") or {},
        pending=True,
    )


def _scored(item: MemoryItem, score: float) -> MemoryItem:
    return replace(item, score=score)


def _admitted(item: MemoryItem, filters: Optional[SearchFilters]) -> bool:
    return filters is None or filters.admits(item.event_time, item.created_at, item.metadata)
