"""`SQLiteStore`: the `MemoryStore` of a directory, memory units in SQLite (the source of truth, vectors
included) with a usearch index beside it as a cache, kept in step with every writer through a change
sequence. Composed from parts with one job each:

- `sqlite_db.Database`: connections (one per thread) and write transactions;
- `sqlite_vectors.IndexedVectors`: the vector index (load, sync, save, rebuild) and search planning;
- `sqlite_keyword_index.IndexedKeywords`: the keyword index (in memory, built in the background from
  the first keyword search on, kept in step through the same change sequence);
- `sqlite_units.UnitsPart`: units, history and counters; `sqlite_search.SearchPart`: vector search;
  `sqlite_keywords.KeywordPart`: keyword search; `sqlite_pending.PendingPart`: the short-term
  buffer; `sqlite_consolidation.ConsolidationPart`: consolidation support.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Union

from lightmem.limits import check_int
from lightmem.store import file_claims
from lightmem.store.schema import check_not_lost, open_database
from lightmem.store.sqlite_consolidation import ConsolidationPart
from lightmem.store.sqlite_db import Database, store_directory
from lightmem.store.sqlite_keyword_index import IndexedKeywords
from lightmem.store.sqlite_keywords import KeywordPart
from lightmem.store.sqlite_pending import PendingPart
from lightmem.store.sqlite_search import SearchPart
from lightmem.store.sqlite_units import UnitsPart
from lightmem.store.sqlite_vectors import IndexedVectors
from lightmem.store.vector_index import record_path
from lightmem.types import Scope


class SQLiteStore(UnitsPart, SearchPart, KeywordPart, PendingPart, ConsolidationPart):
    """The memory of one directory: `memory.db` (SQLite, WAL) and `index.usearch`; a `MemoryStore`
    (lightmem.store.protocol: scopes, thread and process safety, transactions)."""

    def __init__(
        self,
        directory: Union[str, os.PathLike[str]],
        dim: int,
        *,
        oversample: int = 4,
        exact_scan_max: int = 4096,
        scope_cache_bytes: int = 64 << 20,
        busy_timeout: float = 30.0,
    ) -> None:
        """Open (creating if needed) the store in `directory` for vectors of dimension `dim`.

        StoreError, touching nothing, if `memory.db` is damaged, not a lightmem database, or missing or
        empty while the index files of an earlier store remain (see `schema.check_not_lost`); a damaged
        or outdated index file is rebuilt from the database instead, with a warning.

        `oversample`: the index is asked for limit * oversample candidates before scope and filter checks.
        `exact_scan_max`: a scope with at most this many units, few relative to the index, is searched
        exactly over its stored vectors instead; the vectors of the scopes last searched so are kept
        decoded in memory, at most `scope_cache_bytes` in all (64 MiB: 14 scopes of 3,000 units of
        384-d vectors, 4.4 MiB each; 0 keeps none). `busy_timeout`: seconds a write waits for another's
        lock.
        """
        check_int(dim, "dim", low=1)
        check_int(oversample, "oversample", low=1)
        check_int(exact_scan_max, "exact_scan_max")
        check_int(scope_cache_bytes, "scope_cache_bytes")
        if not busy_timeout > 0:
            raise ValueError(f"busy_timeout must be > 0 seconds, got {busy_timeout!r}")
        self.directory = store_directory(directory)
        self.dim = dim
        self._db = Database(self.directory, self.directory / "memory.db", busy_timeout)
        index_path = self.directory / "index.usearch"
        self._vectors = IndexedVectors(
            self._db, dim, index_path, oversample, exact_scan_max, scope_cache_bytes
        )
        self._db.after_units_change(self._vectors.sync)
        self._keywords = IndexedKeywords(self._db)
        try:
            check_not_lost(self._db.path, [index_path, record_path(index_path)])
            store_id, self._has_keyword_index = open_database(self._db.conn(), self._db.path, dim)
            self._vectors.open(store_id)
        except BaseException:
            self._db.close()
            raise

    def claim(self, job: str, scope: Scope, *, wait: bool = False) -> AbstractContextManager[bool]:
        """`MemoryStore.claim`: a lock per (job, scope) under the directory (see `file_claims`)."""
        return file_claims.claim(self.directory, job, scope, wait)

    def check_index(self) -> bool:
        """Whether the vector index holds exactly the live units (count and keys)."""
        return self._vectors.check()

    def rebuild_index(self) -> None:
        """Rebuild the vector index from the stored vectors (no re-embedding)."""
        self._vectors.rebuild()

    def save_index(self) -> None:
        """Bring the index up to date and save it atomically to `index.usearch` (with its record);
        StoreError if it cannot be written (a full disk), which leaves every stored unit as it was."""
        self._vectors.save()

    def close(self) -> None:
        """Save the index if it changed and close the database; idempotent.

        The store is closed even when the index cannot be saved (a full disk): StoreError then says so.
        Nothing stored is lost: the database holds every unit, and the next open brings the index up to
        date from it.
        """
        if self._db.closed:
            return
        try:
            self._keywords.close()
            self._vectors.save_if_changed()
        finally:
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
