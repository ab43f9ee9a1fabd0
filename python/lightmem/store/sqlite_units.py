"""`UnitsPart` of `SQLiteStore`: the memory units of every scope (add, read, edit, delete), their history
and the scopes' lifetime counters; `UnitStore` (lightmem.store.protocol) is the contract."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np

from lightmem.store.codec import (
    decode_time,
    encode_json,
    encode_time,
    encode_vector,
)
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import (
    ITEM_COLUMNS,
    add_counts,
    check_add,
    check_counts,
    check_filters,
    check_scope,
    check_update,
    delete_pending,
    delete_row,
    first_time,
    items_by_ids,
    live_where,
    scope_sql,
    sql_limit,
    to_item,
    update_row,
    where_sql,
)
from lightmem.store.sqlite_db import Database
from lightmem.text_keys import text_hash
from lightmem.times import now_utc
from lightmem.types import ExtractedUnit, HistoryEntry, MemoryItem, Scope


class UnitsPart:
    """The `units`, `history` and `counters` tables."""

    dim: int
    _db: Database

    def add(
        self,
        scope: Scope,
        units: Sequence[ExtractedUnit],
        vectors: np.ndarray,
        metadata: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None] = None,
        pending_ids: Sequence[int] = (),
        messages: Sequence[Mapping[str, Any]] = (),
        counts: Optional[Mapping[str, int]] = None,
    ) -> list[MemoryItem]:
        """See `UnitStore.add`."""
        checked = check_add(scope, units, vectors, self.dim, metadata, pending_ids, messages, counts)
        if checked.empty:
            return []
        ids = [uuid.uuid4().hex for _ in checked.units]

        def body(conn: sqlite3.Connection, seq: int) -> list[MemoryItem]:
            delete_pending(conn, scope, checked.pending_ids)
            add_counts(conn, scope, checked.counts)
            kept = (
                [i for i, key in enumerate(checked.message_keys) if first_time(conn, scope, key)]
                if checked.message_keys
                else range(len(ids))
            )
            rows = [(ids[i], checked.units[i], checked.vectors[i], checked.metadata_json[i]) for i in kept]
            now = encode_time(now_utc())
            conn.executemany(
                "INSERT INTO units (id, user_id, agent_id, run_id, text, topic, created_at, updated_at, "
                "event_time, source, metadata, hash, seq, vector) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (memory_id, scope.user_id, scope.agent_id, scope.run_id, u.text, u.topic, now, now,
                     None if u.event_time is None else encode_time(u.event_time),
                     encode_json(list(u.source), "source"), unit_metadata, text_hash(u.text), seq,
                     encode_vector(vector))
                    for memory_id, u, vector, unit_metadata in rows
                ],
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO history (memory_id, event, new_text, created_at) VALUES (?, 'ADD', ?, ?)",
                [(memory_id, u.text, now) for memory_id, u, _, _ in rows],
            )
            return items_by_ids(conn, [memory_id for memory_id, _, _, _ in rows])

        return self._db.write(body)

    def get(self, memory_id: str, scope: Optional[Scope] = None) -> Optional[MemoryItem]:
        """See `UnitStore.get`."""
        where, params = live_where(memory_id, scope)
        row = self._db.conn().execute(f"SELECT {ITEM_COLUMNS} FROM units WHERE {where}", params).fetchone()
        return None if row is None else to_item(row)

    def get_all(
        self, scope: Scope, limit: Optional[int] = None, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """See `UnitStore.get_all`."""
        check_scope(scope)
        check_filters(filters)
        most = sql_limit(limit)
        where, params = where_sql(scope, filters)
        checked = filters is not None and bool(filters.metadata)  # then every row of the scope is read
        rows = self._db.conn().execute(
            f"SELECT {ITEM_COLUMNS} FROM units WHERE {where} ORDER BY rowid LIMIT ?",
            [*params, -1 if checked else most],
        )
        items = (to_item(row) for row in rows)
        if filters is not None and checked:
            items = (item for item in items if filters.matches_metadata(item.metadata))
        return list(itertools.islice(items, limit))

    def update(
        self,
        memory_id: str,
        text: Optional[str],
        vector: Optional[np.ndarray],
        scope: Optional[Scope] = None,
        reason: Optional[str] = None,
        event: str = "UPDATE",
        metadata: Optional[Mapping[str, Any]] = None,
        counts: Optional[Mapping[str, int]] = None,
    ) -> MemoryItem:
        """See `UnitStore.update`."""
        checked = check_update(text, vector, self.dim, scope, event, metadata, counts)
        blob = None if checked.vector is None else encode_vector(checked.vector)

        def body(conn: sqlite3.Connection, seq: int) -> MemoryItem:
            merged = checked.metadata
            item = update_row(conn, seq, memory_id, scope, text, blob, reason, event, metadata=merged)
            add_counts(conn, Scope(item.user_id, item.agent_id, item.run_id), checked.counts)
            return item

        return self._db.write(body)

    def delete(self, memory_id: str, scope: Optional[Scope] = None, reason: Optional[str] = None) -> None:
        """See `UnitStore.delete`."""
        self._db.write(lambda conn, seq: delete_row(conn, seq, memory_id, scope, reason))

    def delete_all(self, scope: Scope) -> int:
        """See `UnitStore.delete_all`."""
        check_scope(scope)
        where, params = scope_sql(scope)

        def body(conn: sqlite3.Connection, seq: int) -> int:
            now = encode_time(now_utc())
            conn.execute(
                "INSERT INTO history (memory_id, event, old_text, reason, created_at) "
                f"SELECT id, 'DELETE', text, 'delete_all', ? FROM units WHERE deleted = 0 AND {where}",
                [now, *params],
            )
            conn.execute(f"DELETE FROM pending WHERE {where}", params)
            conn.execute(f"DELETE FROM message_ids WHERE {where}", params)  # '' (None) equals no id
            cursor = conn.execute(
                f"UPDATE units SET deleted = 1, updated_at = ?, seq = ? WHERE deleted = 0 AND {where}",
                [now, seq, *params],
            )
            return cursor.rowcount

        return self._db.write(body)

    def reset(self) -> None:
        """See `UnitStore.reset`. Units become tombstones without content (id and times only), so that
        every process sharing the store drops them from its vector index at its next sync."""

        def body(conn: sqlite3.Connection, seq: int) -> None:
            conn.execute(
                "UPDATE units SET deleted = 1, seq = ?, text = '', hash = '', topic = NULL, source = '[]', "
                "metadata = '{}', event_time = NULL, vector = x'', user_id = NULL, agent_id = NULL, "
                "run_id = NULL WHERE deleted = 0 OR text != ''",
                (seq,),
            )
            conn.execute("DELETE FROM history")
            conn.execute("DELETE FROM pending")
            conn.execute("DELETE FROM message_ids")
            conn.execute("DELETE FROM counters")

        self._db.write(body)

    def history(self, memory_id: str, scope: Optional[Scope] = None) -> list[HistoryEntry]:
        """See `UnitStore.history`."""
        sql = (
            "SELECT memory_id, event, old_text, new_text, reason, created_at FROM history WHERE memory_id = ?"
        )
        params: list[Any] = [memory_id]
        if scope is not None:
            check_scope(scope)
            where, scope_params = scope_sql(scope)
            sql += f" AND memory_id IN (SELECT id FROM units WHERE id = ? AND {where})"
            params += [memory_id, *scope_params]
        rows = self._db.conn().execute(sql + " ORDER BY id", params)
        return [HistoryEntry(m, e, old, new, r, decode_time(t)) for m, e, old, new, r, t in rows]

    def count(self, scope: Optional[Scope] = None) -> int:
        """See `UnitStore.count`."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        sql = f"SELECT COUNT(*) FROM units WHERE deleted = 0 AND {where}"
        return int(self._db.conn().execute(sql, params).fetchone()[0])

    def scopes(self) -> list[Scope]:
        """See `UnitStore.scopes`."""
        rows = self._db.conn().execute(
            "SELECT DISTINCT user_id, agent_id, run_id FROM units WHERE deleted = 0 ORDER BY 1, 2, 3"
        )
        return [Scope(*row) for row in rows]

    def add_counts(self, scope: Scope, counts: Mapping[str, int]) -> None:
        """See `UnitStore.add_counts`."""
        check_scope(scope)
        counted = check_counts(counts)
        if counted:
            self._db.write(lambda conn, _seq: add_counts(conn, scope, counted), units_change=False)

    def counters(self, scope: Optional[Scope] = None) -> dict[str, int]:
        """See `UnitStore.counters`."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        sql = f"SELECT name, SUM(value) FROM counters WHERE {where} GROUP BY name"
        rows = self._db.conn().execute(sql, params)
        return {name: int(total) for name, total in rows}
