"""`ScopeVectors`: the decoded vectors of recently searched small scopes, kept in memory so that an exact
search of a small scope does not read every vector of it from SQLite each time (a part of
`IndexedVectors`, which feeds it the same change feed as the vector index: it sees every writer's
changes when the index does). Bounded in bytes; the least recently used scopes are dropped first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from lightmem.types import Scope

ENTRY_OVERHEAD = 512
"""Bytes counted for a cached scope besides its arrays (so that many tiny scopes stay bounded too)."""

ScopeIds = tuple[Optional[str], Optional[str], Optional[str]]
"""(user_id, agent_id, run_id) of a unit."""
ScopeKey = tuple[Optional[str], Optional[str], Optional[str], bool]
"""A scope's ids and `exact`: False, a None id matches any value (`rows.scope_sql`); True, only NULL
(`rows.exact_scope_sql`)."""


def scope_key(scope: Scope, exact: bool) -> ScopeKey:
    """The cache key of the units `where_sql(scope, None, exact=exact)` selects."""
    return (scope.user_id, scope.agent_id, scope.run_id, exact)


def in_scope(ids: ScopeIds, key: ScopeKey) -> bool:
    """Whether a unit with scope `ids` is one of the units of `key` (live or not aside)."""
    *wanted, exact = key
    return all(w == i if w is not None or exact else True for w, i in zip(wanted, ids))


@dataclass(frozen=True)
class ScopeMatrix:
    """The live units of one scope: their rowids (ascending) and float32 vectors, row for row. Never
    changed in place (a change makes a new one), so a search may use one without a lock."""

    rowids: np.ndarray
    vectors: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes counted against the cache's bound."""
        return int(self.rowids.nbytes + self.vectors.nbytes) + ENTRY_OVERHEAD


def scope_matrix(rowids: np.ndarray, vectors: np.ndarray) -> ScopeMatrix:
    """A `ScopeMatrix` of rows in any order."""
    order = np.argsort(rowids, kind="stable")
    return ScopeMatrix(rowids[order], np.ascontiguousarray(vectors[order]))


class ScopeVectors:
    """`ScopeMatrix` by `ScopeKey`, at most `max_bytes` in all (a scope bigger than that is not kept).

    Not thread-safe: `IndexedVectors` serialises access to it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[ScopeKey, ScopeMatrix] = OrderedDict()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held now (at most `max_bytes`)."""
        return self._bytes

    def get(self, key: ScopeKey) -> Optional[ScopeMatrix]:
        """The cached units of `key` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: ScopeKey, entry: ScopeMatrix) -> None:
        """Keep `entry` as the units of `key`, dropping the least recently used past `max_bytes`."""
        self.discard(key)
        if entry.nbytes > self.max_bytes:
            return
        self._entries[key] = entry
        self._bytes += entry.nbytes
        self._shrink()

    def discard(self, key: ScopeKey) -> None:
        """Forget the units of `key`, if kept."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.nbytes

    def clear(self) -> None:
        """Forget every scope."""
        self._entries.clear()
        self._bytes = 0

    def apply(
        self,
        rowids: np.ndarray,
        scopes: Sequence[ScopeIds],
        live: np.ndarray,
        live_vectors: np.ndarray,
    ) -> None:
        """Apply changed units to the cached scopes: units `rowids` (with their `scopes`) changed; those
        where `live` is True are live with the rows of `live_vectors` (in order), the others deleted.
        Idempotent: a change applied twice leaves the same scopes."""
        if not self._entries or not len(rowids):
            return
        live_rowids = rowids[live]
        live_scopes = [ids for ids, alive in zip(scopes, live.tolist()) if alive]
        for key, entry in list(self._entries.items()):
            stale = np.isin(entry.rowids, rowids)
            joining = [i for i, ids in enumerate(live_scopes) if in_scope(ids, key)]
            if not joining and not stale.any():
                continue
            kept = ~stale
            updated = scope_matrix(
                np.concatenate([entry.rowids[kept], live_rowids[joining]]),
                np.concatenate([entry.vectors[kept], live_vectors[joining]]),
            )
            self._bytes += updated.nbytes - entry.nbytes
            self._entries[key] = updated
        self._shrink()

    def _shrink(self) -> None:
        """Drop the least recently used scopes until at most `max_bytes` are held."""
        while self._bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.nbytes
