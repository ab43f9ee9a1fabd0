"""Row-level edits of the PostgreSQL store inside the caller's transaction: units, their history, the
message ids each scope was given, the counters, and consolidation's checked changes. Rows are locked
(FOR UPDATE) before they are checked, so that every check holds until the transaction commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from lightmem.limits import quoted
from lightmem.store.changes import Change
from lightmem.store.codec import merged_metadata
from lightmem.store.postgres.connection import Connection
from lightmem.store.postgres.sql import (
    ITEM_COLUMNS,
    VectorParam,
    exact_scope_where,
    jsonb_text,
    scope_key,
    scope_where,
)
from lightmem.store.rows import changes_nothing, check_versions, to_item
from lightmem.text_keys import text_hash
from lightmem.types import MemoryItem, Scope


def items_by_ids(conn: Connection, ids: Sequence[str]) -> list[MemoryItem]:
    """The items of existing units, in the order of `ids`."""
    rows = conn.execute(f"SELECT {ITEM_COLUMNS} FROM lightmem_units WHERE id = ANY(%s)", [list(ids)])
    by_id = {row[1]: row for row in rows}
    return [to_item(by_id[i]) for i in ids]


def live_row(conn: Connection, memory_id: str, scope: Optional[Scope]) -> tuple[int, str, dict[str, Any]]:
    """(rowid, text, metadata) of a live unit, locked until the transaction ends; KeyError if absent,
    deleted or outside `scope`."""
    where, params = ("TRUE", []) if scope is None else scope_where(scope)
    row = conn.execute(
        f"SELECT rowid, text, metadata FROM lightmem_units WHERE id = %s AND NOT deleted AND {where} "
        "FOR UPDATE",
        [memory_id, *params],
    ).fetchone()
    if row is None:
        raise KeyError(f"no live memory unit {quoted(memory_id)}" + ("" if scope is None else f" in {scope}"))
    rowid, text, metadata = row
    return int(rowid), str(text), dict(metadata)


def update_row(
    conn: Connection,
    memory_id: str,
    scope: Optional[Scope],
    text: Optional[str],
    vector: Optional[VectorParam],
    reason: Optional[str],
    event: str,
    source: Optional[Sequence[str]] = None,
    metadata: Optional[Mapping[str, Any]] = None,
) -> MemoryItem:
    """`rows.update_row` for PostgreSQL (`vector`: pgvector text of the new text's vector)."""
    rowid, old_text, old_metadata = live_row(conn, memory_id, scope)
    merged = None if metadata is None else merged_metadata(old_metadata, metadata)
    if changes_nothing(old_text, text, old_metadata, merged, source):
        return items_by_ids(conn, [memory_id])[0]
    new_source = None if source is None else jsonb_text(list(source), "source")
    new_metadata = None if merged is None else jsonb_text(merged, "metadata")
    if text is None:
        conn.execute(
            "UPDATE lightmem_units SET source = COALESCE(%s::jsonb, source), "
            "metadata = COALESCE(%s::jsonb, metadata), version = version + 1, updated_at = now() "
            "WHERE rowid = %s",
            [new_source, new_metadata, rowid],
        )
    else:
        conn.execute(
            "UPDATE lightmem_units SET text = %s, hash = %s, vector = %s::vector, "
            "source = COALESCE(%s::jsonb, source), metadata = COALESCE(%s::jsonb, metadata), "
            "version = version + 1, updated_at = now(), consolidated = false WHERE rowid = %s",
            [text, text_hash(text), vector, new_source, new_metadata, rowid],
        )
    record(conn, memory_id, event, old_text, old_text if text is None else text, reason)
    return items_by_ids(conn, [memory_id])[0]


def delete_row(conn: Connection, memory_id: str, scope: Optional[Scope], reason: Optional[str]) -> None:
    """Tombstone a live unit (its text stays for history) and record it; KeyError if absent."""
    rowid, old_text, _ = live_row(conn, memory_id, scope)
    conn.execute("UPDATE lightmem_units SET deleted = true, updated_at = now() WHERE rowid = %s", [rowid])
    record(conn, memory_id, "DELETE", old_text, None, reason)


def record(
    conn: Connection,
    memory_id: str,
    event: str,
    old_text: Optional[str],
    new_text: Optional[str],
    reason: Optional[str],
) -> None:
    """One history row."""
    conn.execute(
        "INSERT INTO lightmem_history (memory_id, event, old_text, new_text, reason, created_at) "
        "VALUES (%s, %s, %s, %s, %s, now())",
        [memory_id, event, old_text, new_text, reason],
    )


def check_changes(conn: Connection, changes: Sequence[Change], scope: Optional[Scope]) -> None:
    """`rows.check_changes`, the units locked first (in id order: no deadlock between two passes), so
    that no other writer changes a version between this check and the commit."""
    ids = sorted({c.memory_id for c in changes})
    where, params = ("TRUE", []) if scope is None else exact_scope_where(scope)
    rows = conn.execute(
        f"SELECT id, version FROM lightmem_units WHERE id = ANY(%s) AND NOT deleted AND {where} "
        "ORDER BY id FOR UPDATE",
        [ids, *params],
    ).fetchall()
    check_versions({str(memory_id): int(version) for memory_id, version in rows}, changes, scope)


def apply_change(conn: Connection, change: Change, vector: Optional[VectorParam]) -> None:
    """Apply one consolidation `Change` (`vector`: pgvector text of its validated vector, for updates)."""
    if change.kind == "update":
        update_row(
            conn, change.memory_id, None, change.text, vector, change.reason, change.event, change.source
        )
    elif change.kind == "delete":
        delete_row(conn, change.memory_id, None, change.reason)
    else:
        rowid, _, _ = live_row(conn, change.memory_id, None)
        conn.execute("UPDATE lightmem_units SET consolidated = true WHERE rowid = %s", [rowid])


def delete_pending(conn: Connection, scope: Scope, pending_ids: Sequence[int]) -> None:
    """Delete pending rows of the exact `scope`; KeyError if any of them is gone (a concurrent delete
    waits for this one's row locks, then finds the rows gone)."""
    if not pending_ids:
        return
    where, params = exact_scope_where(scope)
    cursor = conn.execute(
        f"DELETE FROM lightmem_pending WHERE rowid = ANY(%s) AND {where}", [list(pending_ids), *params]
    )
    if cursor.rowcount != len(pending_ids):
        raise KeyError(
            f"{len(pending_ids) - cursor.rowcount} of the pending rows {list(pending_ids)} of {scope} are "
            "gone (extracted by another process?); nothing was stored"
        )


def record_message(conn: Connection, scope: Scope, message_id: str, digest: bytes) -> bool:
    """`rows.record_message` for PostgreSQL: False for a retry of the same message, ValueError naming
    the id if it came before with another message; concurrent writers of one id take turns on its key."""
    key = [*scope_key(scope), message_id]
    inserted = conn.execute(
        "INSERT INTO lightmem_message_ids VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        [*key, digest],
    ).rowcount
    if inserted:
        return True
    row = conn.execute(
        "SELECT digest FROM lightmem_message_ids "
        "WHERE user_id = %s AND agent_id = %s AND run_id = %s AND message_id = %s",
        key,
    ).fetchone()
    if row is None or bytes(row[0]) != digest:
        raise ValueError(
            f"message id {quoted(message_id)} was added to {scope} before with another message: a "
            "retried add must send the same message (and metadata), a new message needs a new id"
        )
    return False


def add_counts(conn: Connection, scope: Scope, counts: Mapping[str, int]) -> None:
    """Add `counts` (checked by `rows.check_counts`) to the counters of the exact `scope` (names in
    order, so that two transactions never wait on each other's counters)."""
    rows = [(*scope_key(scope), name, counts[name]) for name in sorted(counts) if counts[name]]
    if rows:
        conn.cursor().executemany(
            "INSERT INTO lightmem_counters VALUES (%s, %s, %s, %s, %s) ON CONFLICT "
            "(user_id, agent_id, run_id, name) "
            "DO UPDATE SET value = lightmem_counters.value + excluded.value",
            rows,
        )
