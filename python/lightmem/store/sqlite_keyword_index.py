"""`IndexedKeywords`: the keyword index of the units (`lightmem._core.KeywordIndex`: postings in memory,
FTS5's tokens and BM25), built from the database in a background thread when a store is first searched by
keywords (until then FTS5 answers, with the same ranking), then kept in step with every writer, in any
process, through the change sequence that keeps the vector index in step (see `IndexedVectors.sync`). A
cache, never the truth: the database holds every text; nothing is saved, so there is nothing to recover
after a crash (the next process builds it again)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import Optional

from lightmem._core import KeywordIndex
from lightmem.store.errors import StoreError
from lightmem.store.sqlite_db import Database, unit_changes

logger = logging.getLogger("lightmem")


class IndexedKeywords:
    """The keyword index of the live units of `db`. Thread-safe: syncs are serialised here, searches of
    the index run together (its own lock)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._index: Optional[KeywordIndex] = None
        """The index, once built."""
        self._seq = -1
        """The last change applied to the index."""
        self._builder: Optional[threading.Thread] = None
        self._closing = threading.Event()

    def synced(self, conn: sqlite3.Connection) -> Optional[KeywordIndex]:
        """The index holding at least every change `conn` sees; None while it is being built (the first
        call starts the build: at 100k units it takes a second or two, which a search should not wait
        for). Another thread's search may have applied later changes: their units are then in the index
        but not in `conn`'s state, so the caller reads the hits' rows through `conn`."""
        with self._lock:
            if self._index is None:
                self._start_build()
                return None
            self._seq = _apply_changes(conn, self._index, self._seq, self._closing)
            return self._index

    def matching(
        self, conn: sqlite3.Connection, words: Sequence[str]
    ) -> Optional[tuple[KeywordIndex, list[int]]]:
        """The index synced to `conn` (see `synced`) and, for each of `words`, the units holding it, when
        the index can answer a search of `words`; None when FTS5 must: the index is still being built, or
        a word is several tokens (a phrase, for which the index holds no positions)."""
        index = self.synced(conn)
        matches = None if index is None else index.matches(list(words))
        return None if index is None or matches is None else (index, matches)

    def wait_built(self, timeout: Optional[float] = None) -> bool:
        """Start the build if needed and wait for it (at most `timeout` seconds); whether it is built."""
        with self._lock:
            if self._index is not None:
                return True
            self._start_build()
            builder = self._builder
        assert builder is not None
        builder.join(timeout)
        return self._index is not None

    def close(self) -> None:
        """Stop a build under way (between two batches of the feed) and wait for it."""
        self._closing.set()
        builder = self._builder
        if builder is not None and builder is not threading.current_thread():
            builder.join()

    @property
    def nbytes(self) -> int:
        """Bytes the index holds (0 before it is built)."""
        with self._lock:
            return 0 if self._index is None else self._index.nbytes

    def _start_build(self) -> None:
        """Start the build thread unless one runs (called with the lock held)."""
        if (self._builder is None or not self._builder.is_alive()) and not self._closing.is_set():
            self._builder = threading.Thread(target=self._build, name="lightmem-keyword-index", daemon=True)
            self._builder.start()

    def _build(self) -> None:
        """Read every live unit into a new index, then publish it; a failure (the store closed, the file
        unreadable) leaves FTS5 answering, and the next search tries again."""
        index = KeywordIndex()
        try:
            with self._db.snapshot() as conn:
                seq = _apply_changes(conn, index, -1, self._closing)
        except (StoreError, sqlite3.Error) as exc:
            if not self._closing.is_set():
                logger.warning("the keyword index could not be built (FTS5 answers meanwhile): %s", exc)
            return
        if self._closing.is_set():
            return
        with self._lock:
            self._index, self._seq = index, seq


def _apply_changes(
    conn: sqlite3.Connection, index: KeywordIndex, since: int, closing: threading.Event
) -> int:
    """Apply to `index` every change of the units after `since` that `conn` sees; the last one applied
    (`since` if none; a build stops between two batches of the feed when `closing` is set)."""
    for batch in unit_changes(conn, since, "text"):
        if closing.is_set():
            break
        index.apply([(rowid, text, *scope) for rowid, _, text, *scope in batch])
        since = batch[-1][1]
    return since
