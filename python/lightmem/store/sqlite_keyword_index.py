"""`IndexedKeywords`: the keyword index of the units (`lightmem._core.KeywordIndex`: postings in memory,
FTS5's tokens and BM25), built from the database on the first keyword search of a store and kept in step
with every writer, in any process, through the change sequence that keeps the vector index in step (see
`IndexedVectors.sync`). A cache, never the truth: the database holds every text; nothing is saved, so
there is nothing to recover after a crash (the next process builds it again)."""

from __future__ import annotations

import sqlite3
import threading
from typing import Optional

from lightmem._core import KeywordIndex
from lightmem.store.sqlite_db import Database

_FEED_BATCH = 10_000
"""Rows of the change feed applied to the index at a time."""


class IndexedKeywords:
    """The keyword index of the live units of `db`. Thread-safe: syncs are serialised here, searches of
    the index run together (its own lock)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._index: Optional[KeywordIndex] = None
        self._seq = -1
        """The last change applied to the index."""

    def synced(self, conn: sqlite3.Connection) -> KeywordIndex:
        """The index holding at least every change `conn` sees (built on the first call: every live
        unit read). Another thread's search may have applied later changes: their units are then in
        the index but not in `conn`'s state, so the caller reads the hits' rows through `conn`."""
        with self._lock:
            if self._index is None:
                self._index = KeywordIndex()
            cursor = conn.execute(
                "SELECT rowid, CASE WHEN deleted = 0 THEN text END, user_id, agent_id, run_id, seq "
                "FROM units WHERE seq > ? ORDER BY seq",
                (self._seq,),
            )
            for batch in iter(lambda: cursor.fetchmany(_FEED_BATCH), []):
                self._index.apply([row[:5] for row in batch])
                self._seq = batch[-1][5]
            return self._index

    @property
    def nbytes(self) -> int:
        """Bytes the index holds (0 before the first search)."""
        with self._lock:
            return 0 if self._index is None else self._index.nbytes
