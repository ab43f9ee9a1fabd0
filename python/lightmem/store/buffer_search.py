"""The short-term buffer as search sees it: the pending messages of a scope as `MemoryItem`s marked
`pending`, ranked by meaning (the turn vectors `add` stored beside them) or by keywords (BM25 with the
statistics of the units' keyword index, the scope's messages counted in as documents: one scale for
both; or, for keywords of several tokens, FTS5's, whose table holds each pending message under the
negative of its rowid beside the units).

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

from lightmem._core import KeywordIndex
from lightmem.messages import message_from_dict
from lightmem.store.codec import decode_time, decode_vectors
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import scope_sql, select_in
from lightmem.store.schema import PENDING_LINE
from lightmem.text_keys import message_line
from lightmem.types import MemoryItem, Scope

PENDING_ID_PREFIX = "pending:"
"""`MemoryItem.id` of a pending message: this prefix and its buffer row id (not a memory id)."""

_PENDING_COLUMNS = "pending.rowid, user_id, agent_id, run_id, message, created_at"
_MIN_BATCH = 32
"""Messages read at a time by `by_meaning` (at least `limit`)."""


def by_meaning(
    conn: sqlite3.Connection,
    vector: np.ndarray,
    scope: Scope,
    limit: int,
    filters: Optional[SearchFilters],
    dim: int,
) -> list[MemoryItem]:
    """The `limit` pending messages of `scope` (None ids match any) passing `filters` and stored with a
    vector, best first, their `score` the cosine similarity of `vector` (unit length) to the turn. Only
    the vectors of the buffer are read whole; messages are read in rank order until `limit` pass."""
    where, params = scope_sql(scope)
    ranked = conn.execute(
        f"SELECT rowid, vector FROM pending WHERE vector IS NOT NULL AND {where}", params
    ).fetchall()
    rowids = [rowid for rowid, _ in ranked]
    scores = decode_vectors([blob for _, blob in ranked], dim) @ vector
    order = [int(j) for j in np.argsort(-scores, kind="stable")]
    found: list[MemoryItem] = []
    batch = max(limit, _MIN_BATCH)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        select = f"SELECT {_PENDING_COLUMNS} FROM pending"
        rows = {row[0]: row for row in select_in(conn, select, "rowid", [rowids[j] for j in chunk])}
        for j in chunk:
            if rowids[j] not in rows:  # flushed since its vector was read: the units will show it
                continue
            item = scored(pending_item(rows[rowids[j]]), float(scores[j]))
            if admitted(item, filters):
                found.append(item)
                if len(found) == limit:
                    return found
    return found


def cosines(
    conn: sqlite3.Connection, vector: np.ndarray, item_ids: Sequence[str], dim: int
) -> dict[str, float]:
    """The cosine similarity of `vector` to each pending message among `item_ids` (ids as `by_meaning`
    gives them; others, and messages stored without a vector, are left out)."""
    rowids = {int(i[len(PENDING_ID_PREFIX) :]): i for i in item_ids if i.startswith(PENDING_ID_PREFIX)}
    rows = list(
        select_in(conn, "SELECT rowid, vector FROM pending", "rowid", list(rowids), "vector IS NOT NULL")
    )
    scores = decode_vectors([blob for _, blob in rows], dim) @ vector
    return {rowids[rowid]: float(score) for (rowid, _), score in zip(rows, scores)}


def by_keywords(
    conn: sqlite3.Connection,
    index: KeywordIndex,
    words: Sequence[str],
    scope: Scope,
    limit: int,
    filters: Optional[SearchFilters],
    min_score: float,
) -> list[MemoryItem]:
    """The `limit` pending messages of `scope` passing `filters` that hold any of `words` (each one
    token: `index.matches` is not None), scoring (BM25, `KeywordIndex.score_texts` over the lines of the
    scope's messages) at least `min_score`, best first (ties: the later message first, as FTS5 ordered
    them). Every line of the scope is read and scored (a buffer holds few); the messages only for the
    hits."""
    found_lines = lines(conn, scope)
    scores = index.score_texts(list(words), [line for _, line in found_lines])
    hits = sorted(
        (
            (score, rowid)
            for (rowid, _), score in zip(found_lines, scores)
            if score is not None and score >= min_score
        ),
        key=lambda hit: (-hit[0], -hit[1]),
    )
    select = f"SELECT {_PENDING_COLUMNS} FROM pending"
    rows = {row[0]: row for row in select_in(conn, select, "rowid", [rowid for _, rowid in hits])}
    found = (scored(pending_item(rows[rowid]), score) for score, rowid in hits if rowid in rows)
    return [item for item in found if admitted(item, filters)][:limit]


def lines(conn: sqlite3.Connection, scope: Scope) -> list[tuple[int, str]]:
    """(rowid, line) of the pending messages of `scope` (None ids match any) with a text: what keyword
    search sees of them, as the FTS5 table holds them."""
    where, params = scope_sql(scope)
    rows = conn.execute(f"SELECT rowid, {PENDING_LINE} FROM pending WHERE {where}", params)
    return [(rowid, line) for rowid, line in rows if line is not None]


def by_fts5_keywords(
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
    found = (scored(pending_item(row), float(row[-1])) for row in rows)
    return [item for item in found if admitted(item, filters)][:limit]


def pending_item(row: Sequence[Any]) -> MemoryItem:
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


def scored(item: MemoryItem, score: float) -> MemoryItem:
    return replace(item, score=score)


def admitted(item: MemoryItem, filters: Optional[SearchFilters]) -> bool:
    return filters is None or filters.admits(item.event_time, item.created_at, item.metadata)
