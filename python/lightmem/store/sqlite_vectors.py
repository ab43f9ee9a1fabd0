"""`IndexedVectors`: the usearch index beside the SQLite store, kept in step with every writer through the
change sequence (loaded, synced, rebuilt and saved here), and the planning of vector searches over it (a
part of `SQLiteStore`). The database holds every vector; the index is a cache of it."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from lightmem.store.codec import decode_vectors
from lightmem.store.errors import StoreError
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import ITEM_COLUMNS, rows_by_rowid, rows_needed, take, vectors_by_rowid, where_sql
from lightmem.store.scope_vectors import ScopeKey, ScopeMatrix, ScopeVectors, scope_key, scope_matrix
from lightmem.store.sqlite_db import Database, unit_changes
from lightmem.store.vector_index import IndexFileError, VectorIndex
from lightmem.types import Scope

logger = logging.getLogger("lightmem")

_QUERY_CHUNK = 256
"""Queries searched at a time by a batch search (the index lock is released between chunks)."""
_MAX_BIG_SCOPES = 4096
"""Scopes remembered as too big for an exact scan (until the next change of the store)."""

Ranked = list[list[tuple[Sequence[Any], float]]]
"""For each query, its best (row of `ITEM_COLUMNS`, cosine similarity) pairs, best first."""
Candidates = list[list[tuple[int, float]]]
"""For each query, (rowid, cosine similarity) pairs, best first."""


class IndexedVectors:
    """The vectors of the live units of `db`, searchable through the index saved at `path`."""

    def __init__(
        self, db: Database, dim: int, path: Path, oversample: int, exact_scan_max: int, scope_cache_bytes: int
    ) -> None:
        """`oversample`: the index is asked for limit * oversample candidates before scope and filter
        checks. `exact_scan_max`: a scope with at most this many units, few relative to the index, is
        searched exactly over its vectors instead, kept decoded in memory (`ScopeVectors`) for the
        scopes last searched, at most `scope_cache_bytes` in all."""
        self._db = db
        self.dim = dim
        self.path = path
        self._oversample = oversample
        self._exact_scan_max = exact_scan_max
        self._lock = threading.RLock()
        self._index = VectorIndex(dim)
        self._scopes = ScopeVectors(scope_cache_bytes)
        self._big_scopes: set[ScopeKey] = set()
        """Scopes counted bigger than the exact scan's bound since the index reached `_big_scopes_seq`."""
        self._big_scopes_seq = -1
        self._saved_seq: Optional[int] = None
        self._store_id = ""

    # --- the index and its file ---------------------------------------------------------------------

    def open(self, store_id: str) -> None:
        """Load the saved index if it agrees with the store `store_id`, else rebuild it (with a warning
        saying why)."""
        self._store_id = store_id
        reason = self._load()
        if reason is None:
            return
        if self.path.exists() or _live_count(self._db.conn()) > 0:
            logger.warning("rebuilding the vector index %s from the store: %s", self.path, reason)
        self.rebuild()

    def sync(self) -> None:
        """Apply to the index and the cached scopes the store changes they have not seen yet (by any
        writer, in any process)."""
        with self._lock:
            last_seq = self._index.seq
            for batch in unit_changes(self._db.conn(), last_seq, "vector"):
                rowids = np.array([row[0] for row in batch], dtype=np.int64)
                live = np.array([row[2] is not None for row in batch], dtype=bool)
                vectors = decode_vectors([row[2] for row in batch if row[2] is not None], self.dim)
                self._index.apply(rowids[live], vectors, rowids[~live])
                self._scopes.apply(rowids, [row[3:] for row in batch], live, vectors)
                last_seq = batch[-1][1]
            self._index.seq = last_seq

    def check(self) -> bool:
        """Whether the index holds exactly the live units (count and keys)."""
        with self._lock, self._db.snapshot() as conn:
            self.sync()
            live = np.fromiter(
                (r for (r,) in conn.execute("SELECT rowid FROM units WHERE deleted = 0")), np.int64
            )
            keys = self._index.keys()
        return len(keys) == len(live) and bool(np.array_equal(np.sort(keys), np.sort(live)))

    def rebuild(self) -> None:
        """Rebuild the index from the stored vectors (no re-embedding)."""
        with self._lock:
            self._index = VectorIndex(self.dim)
            self._forget_scopes()
            self._saved_seq = None
            self.sync()

    def _forget_scopes(self) -> None:
        """Forget what is known of scopes (a new index)."""
        self._scopes.clear()
        self._big_scopes.clear()

    def save(self) -> None:
        """Bring the index up to date and save it atomically (with its record); StoreError if it cannot
        be written (a full disk), which leaves every stored unit as it was."""
        with self._lock:
            self.sync()
            self._save()

    def save_if_changed(self) -> None:
        """Save the index as it is if it changed since it was loaded or saved (see `save`)."""
        with self._lock:
            if self._index.seq != self._saved_seq:
                self._save()

    def _save(self) -> None:
        try:
            self._index.save(self.path, self._store_id)
        except OSError as exc:
            raise StoreError(
                f"cannot save the vector index {self.path} ({exc}): the memories are safe in "
                f"{self._db.path}, and the next open brings the index up to date from it; free disk space"
            ) from exc
        self._saved_seq = self._index.seq

    def _load(self) -> Optional[str]:
        """Load the saved index and bring it up to date; why it cannot be used, or None."""
        try:
            index = VectorIndex.load(self.path, self.dim, self._store_id)
        except IndexFileError as exc:
            return str(exc)
        with self._lock, self._db.snapshot() as conn:
            db_seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            if index.seq > db_seq:
                return f"it holds change {index.seq} but the database only reaches change {db_seq}"
            saved_seq = index.seq
            self._index = index
            self._forget_scopes()
            self.sync()
            live = _live_count(conn)
        if len(index) != live:
            return f"it holds {len(index)} vectors but the store has {live} live units"
        self._saved_seq = saved_seq
        return None

    # --- search -------------------------------------------------------------------------------------

    def ranked(
        self,
        queries: np.ndarray,
        scope: Scope,
        exact_scope: bool,
        filters: Optional[SearchFilters],
        limit: int,
    ) -> Ranked:
        """For each query, the `limit` best (row, cosine) of the live units of `scope` (`exact_scope`: as
        `rows.where_sql`) passing `filters`: one index sync, then one exact scan of a small scope (over its
        cached vectors), or the index searched for many queries at once. One read transaction: the rows
        returned are those whose vectors were scored (another writer's update landing mid-search gave
        its new text with the old vector's score, from the cached scope)."""
        with self._db.snapshot() as conn:
            return self._ranked(conn, queries, scope, exact_scope, filters, limit)

    def _ranked(
        self,
        conn: sqlite3.Connection,
        queries: np.ndarray,
        scope: Scope,
        exact_scope: bool,
        filters: Optional[SearchFilters],
        limit: int,
    ) -> Ranked:
        self.sync()
        where, params = where_sql(scope, filters, exact=exact_scope)
        # exact scan when the scope is small and a small part of the index: then few of the index's
        # limit * oversample nearest candidates would be in scope (counting stops past that size)
        exact_max = min(self._exact_scan_max, (len(self._index) - 1) // self._oversample)
        small = self._small_scope(conn, scope, exact_scope, exact_max) if self._synced_to(conn) else None
        if small is not None:
            return self._scan(conn, queries, small, where, params, filters, limit)
        if filters is not None and filters.sql()[0]:  # the time bounds may leave few units of a big scope
            bounded = f"SELECT COUNT(*) FROM (SELECT 1 FROM units WHERE {where} LIMIT ?)"
            if conn.execute(bounded, [*params, exact_max + 1]).fetchone()[0] <= exact_max:
                return self._exact_search(conn, queries, where, params, filters, limit)
        return [
            hits
            for start in range(0, len(queries), _QUERY_CHUNK)
            for hits in self._index_search(
                conn, queries[start : start + _QUERY_CHUNK], where, params, filters, limit
            )
        ]

    def _synced_to(self, conn: sqlite3.Connection) -> bool:
        """Whether the cached scopes hold the state `conn`'s read transaction sees (not a later one,
        synced by a search of another thread: then the index, whose candidates' vectors are read in
        the transaction, is searched instead)."""
        with self._lock:
            (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM units").fetchone()
            return bool(last == self._index.seq)

    def _small_scope(
        self, conn: sqlite3.Connection, scope: Scope, exact_scope: bool, exact_max: int
    ) -> Optional[ScopeMatrix]:
        """The live units of `scope` with their vectors if they are at most `exact_max` (cached, else read
        and cached), or None. Read under the lock, so that no sync runs between the read and the caching:
        every change after the last synced one reaches the cached copy by the next sync (applying a change
        the read already saw again changes nothing). A scope counted bigger is not counted again until
        the store changes (counting 4,097 units took 0.5 ms)."""
        key = scope_key(scope, exact_scope)
        with self._lock:
            small = self._scopes.get(key)
            if small is not None and len(small.rowids) <= exact_max:
                return small
            self._scopes.discard(key)
            if self._big_scopes_seq != self._index.seq or len(self._big_scopes) >= _MAX_BIG_SCOPES:
                self._big_scopes.clear()
                self._big_scopes_seq = self._index.seq
            if key in self._big_scopes:
                return None
            where, params = where_sql(scope, None, exact=exact_scope)
            bounded = f"SELECT COUNT(*) FROM (SELECT 1 FROM units WHERE {where} LIMIT ?)"
            if conn.execute(bounded, [*params, exact_max + 1]).fetchone()[0] > exact_max:
                self._big_scopes.add(key)
                return None
            rows = conn.execute(f"SELECT rowid, vector FROM units WHERE {where}", params).fetchall()
            small = scope_matrix(
                np.array([rowid for rowid, _ in rows], dtype=np.int64),
                decode_vectors([blob for _, blob in rows], self.dim),
            )
            self._scopes.put(key, small)
            return small

    def _scan(
        self,
        conn: sqlite3.Connection,
        queries: np.ndarray,
        small: ScopeMatrix,
        where: str,
        params: list[Any],
        filters: Optional[SearchFilters],
        limit: int,
    ) -> Ranked:
        """Exact search of the units of `small`: every one scored, then the rows of the best read (with
        the `where` of the search: filters, and units deleted since the last sync) until `limit` pass or
        none is left; with filters, limit * oversample at first, then 4 times more each round."""
        count = len(small.rowids)
        if count == 0:
            return [[] for _ in queries]
        results: Ranked = []
        for start in range(0, len(queries), _QUERY_CHUNK):
            scores = _cosines(queries[start : start + _QUERY_CHUNK], small.vectors)
            found: Ranked = [[] for _ in scores]
            todo = list(range(len(scores)))
            wanted = limit if filters is None else limit * self._oversample
            while todo:
                orders = _best_first(scores[todo], min(wanted, count))
                candidates = [
                    [(int(small.rowids[j]), float(scores[i, j])) for j in order.tolist()]
                    for i, order in zip(todo, orders)
                ]
                for i, hits in zip(todo, _rows_of(conn, candidates, where, params, filters, limit)):
                    found[i] = hits
                todo = [] if wanted >= count else [i for i in todo if len(found[i]) < limit]
                wanted *= 4
            results.extend(found)
        return results

    def _exact_search(
        self,
        conn: sqlite3.Connection,
        queries: np.ndarray,
        where: str,
        params: list[Any],
        filters: Optional[SearchFilters],
        limit: int,
    ) -> Ranked:
        """Exact search of the units satisfying `where`, their rows and vectors read from the database."""
        rows = conn.execute(f"SELECT {ITEM_COLUMNS}, vector FROM units WHERE {where}", params).fetchall()
        vectors = decode_vectors([row[-1] for row in rows], self.dim)
        needed = rows_needed(filters, limit)
        results = []
        for start in range(0, len(queries), _QUERY_CHUNK):
            scores = _cosines(queries[start : start + _QUERY_CHUNK], vectors)
            for row_scores, order in zip(
                scores, _best_first(scores, len(rows) if needed is None else needed)
            ):
                results.append(take(((rows[i], float(row_scores[i])) for i in order), filters, limit))
        return results

    def _index_search(
        self,
        conn: sqlite3.Connection,
        queries: np.ndarray,
        where: str,
        params: list[Any],
        filters: Optional[SearchFilters],
        limit: int,
    ) -> Ranked:
        """limit * oversample candidates per query from the index, ranked by their exact similarity (their
        stored vectors fetched in one go), then the rows of the best ones; the queries left with fewer
        than `limit` hits ask again for 4 times more candidates."""
        results: Ranked = [[] for _ in queries]
        todo = list(range(len(queries)))
        wanted = limit * self._oversample
        keep = rows_needed(filters, limit)
        while todo:
            with self._lock:
                keys, _ = self._index.search(queries[todo], wanted)
                exhaustive = wanted >= len(self._index)
            blobs = vectors_by_rowid(conn, np.unique(keys[keys >= 0]).tolist(), where, params)
            rowids = list(blobs)
            position = {rowid: j for j, rowid in enumerate(rowids)}
            vectors = decode_vectors(list(blobs.values()), self.dim)
            candidates: Candidates = []
            for i, row_keys in zip(todo, keys.tolist()):
                found = [position[k] for k in row_keys if k in position]
                similarities = vectors[found] @ queries[i]
                order = np.argsort(-similarities, kind="stable")[:keep]
                candidates.append([(rowids[found[j]], float(similarities[j])) for j in order])
            for i, hits in zip(todo, _rows_of(conn, candidates, where, params, filters, limit)):
                results[i] = hits
            todo = [] if exhaustive else [i for i in todo if len(results[i]) < limit]
            wanted *= 4
        return results


def _rows_of(
    conn: sqlite3.Connection,
    candidates: Candidates,
    where: str,
    params: list[Any],
    filters: Optional[SearchFilters],
    limit: int,
) -> Ranked:
    """For each query's candidates, the first `limit` whose rows satisfy `where` and `filters`, with their
    rows (those of every query read in one go)."""
    rows = rows_by_rowid(conn, sorted({r for hits in candidates for r, _ in hits}), where, params)
    return [take(((rows[r], s) for r, s in hits if r in rows), filters, limit) for hits in candidates]


def _live_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM units WHERE deleted = 0").fetchone()[0])


def _cosines(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """`queries @ vectors.T`; for one query by numpy's own loop, not BLAS: OpenBLAS spreads a product
    of a few thousand vectors over every core, and on a busy machine waiting for its threads took 20 ms
    (p50; 3,000 x 384, load average 8) where one core takes 0.4 ms."""
    if len(queries) == 1:
        one: np.ndarray = np.einsum("qd,nd->qn", queries, vectors)
        return one
    many: np.ndarray = queries @ vectors.T
    return many


def _best_first(scores: np.ndarray, count: int) -> np.ndarray:
    """Column indices of each row's `count` highest scores, best first (ties: lower index first)."""
    if count >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    top = np.sort(np.argpartition(-scores, count - 1, axis=1)[:, :count], axis=1)
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
