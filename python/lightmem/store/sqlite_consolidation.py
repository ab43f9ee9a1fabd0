"""`ConsolidationPart` of `SQLiteStore`: what sleep-time consolidation reads (the units it has not looked
at, stored vectors) and its passes of changes applied in one transaction; the contract is
`ConsolidationStore` (lightmem.store.protocol)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Optional

import numpy as np

from lightmem.store.changes import Change
from lightmem.store.codec import decode_vectors, encode_vector
from lightmem.store.rows import (
    ITEM_COLUMNS,
    apply_change,
    check_apply_changes,
    check_changes,
    check_scope,
    live_vectors,
    scope_sql,
    sql_limit,
    to_item,
)
from lightmem.store.sqlite_db import Database
from lightmem.types import MemoryItem, Scope


class ConsolidationPart:
    """The `consolidated` mark of the units, their stored vectors, and `Change`s to them."""

    dim: int
    _db: Database

    def unconsolidated(
        self, scope: Optional[Scope] = None, limit: Optional[int] = None
    ) -> list[tuple[MemoryItem, np.ndarray]]:
        """See `ConsolidationStore.unconsolidated`."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        rows = (
            self._db.conn()
            .execute(
                f"SELECT {ITEM_COLUMNS}, vector FROM units "
                f"WHERE consolidated = 0 AND deleted = 0 AND {where} ORDER BY rowid LIMIT ?",
                [*params, sql_limit(limit)],
            )
            .fetchall()
        )
        matrix = decode_vectors([row[-1] for row in rows], self.dim)
        return [(to_item(row), vector) for row, vector in zip(rows, matrix)]

    def vectors(self, memory_ids: Sequence[str]) -> np.ndarray:
        """See `ConsolidationStore.vectors`."""
        ids = list(memory_ids)
        found = live_vectors(self._db.conn(), ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no live memory units with ids {missing}")
        return decode_vectors([found[i] for i in ids], self.dim)

    def apply_changes(self, changes: Sequence[Change], scope: Optional[Scope] = None) -> None:
        """See `ConsolidationStore.apply_changes`: the versions are checked inside the write transaction,
        which no other writer can interleave with."""
        changes, vectors = check_apply_changes(changes, scope, self.dim)
        blobs = [None if vector is None else encode_vector(vector) for vector in vectors]

        def body(conn: sqlite3.Connection, seq: int) -> None:
            check_changes(conn, changes, scope)
            for change, blob in zip(changes, blobs):
                apply_change(conn, seq, change, blob)

        self._db.write(body)
