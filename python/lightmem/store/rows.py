"""Row-level SQL of the store: scope conditions, row <-> `MemoryItem`, and the edits done inside a write
transaction. Functions here take a connection and hold no state."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from lightmem.limits import MAX_ID_BYTES, check_int, check_limit, quoted
from lightmem.store.changes import Change, check_event, check_text
from lightmem.store.codec import (
    check_metadata,
    check_vector,
    check_vectors,
    decode_optional_time,
    decode_time,
    encode_json,
    encode_time,
    merged_metadata,
    message_digest,
)
from lightmem.store.errors import VersionConflict
from lightmem.store.filters import SearchFilters
from lightmem.text_keys import text_hash
from lightmem.times import now_utc
from lightmem.types import ExtractedUnit, MemoryItem, Scope

logger = logging.getLogger("lightmem")

ITEM_COLUMNS = (
    "rowid, id, text, user_id, agent_id, run_id, created_at, updated_at, event_time, topic, source, "
    "metadata, version"
)
"""The columns `to_item` reads, in its order (rowid first)."""
_METADATA = 11
"""Position of `metadata` in `ITEM_COLUMNS`."""
_SCOPE_COLUMNS = ("user_id", "agent_id", "run_id")
_CHUNK = 500
"""Values bound per `IN (...)` list, well under SQLite's limit on parameters."""


def check_scope(scope: object, message_id: Optional[str] = None) -> Scope:
    """`scope` itself; ValueError unless it is a `Scope` whose ids (with `message_id`) take at most
    `MAX_ID_BYTES` of UTF-8, checked before anything is written."""
    if not isinstance(scope, Scope):
        raise ValueError(f"scope must be a lightmem Scope, got {type(scope).__name__}")
    ids = (scope.user_id, scope.agent_id, scope.run_id, message_id)
    size = sum(len(i.encode("utf-8", "surrogatepass")) for i in ids if i is not None)
    if size > MAX_ID_BYTES:
        raise ValueError(
            f"the ids of {'scope and message' if message_id else 'the scope'} take {size} bytes of UTF-8, "
            f"more than a memory store indexes ({MAX_ID_BYTES}): shorten them"
        )
    return scope


def check_filters(filters: object) -> None:
    """ValueError unless `filters` is `SearchFilters` or None."""
    if filters is not None and not isinstance(filters, SearchFilters):
        raise ValueError(f"filters must be SearchFilters or None, got {type(filters).__name__}")


def check_search(scope: object, limit: object, filters: object) -> None:
    """ValueError naming the argument of a search that is not a scope, a limit or filters."""
    check_scope(scope)
    check_limit(limit)
    check_filters(filters)


def sql_limit(limit: Optional[int]) -> int:
    """`limit` for SQL's LIMIT (-1 = none); ValueError unless None or an integer from 0 to MAX_RESULTS."""
    return -1 if limit is None else check_limit(limit, "limit", low=0)


# --- conditions ---------------------------------------------------------------------------------------


def scope_sql(scope: Scope) -> tuple[str, list[Any]]:
    """Condition matching the units of `scope`: equality on each non-None id (None = any value).

    Never empty: a scope always binds at least one id, so no query can reach another user's rows.
    """
    bound = [(c, getattr(scope, c)) for c in _SCOPE_COLUMNS if getattr(scope, c) is not None]
    if not bound:
        raise ValueError("a scope needs at least one of user_id, agent_id or run_id")
    return " AND ".join(f"{column} = ?" for column, _ in bound), [value for _, value in bound]


def exact_scope_sql(scope: Scope) -> tuple[str, list[Any]]:
    """Condition matching exactly `scope` (None matches only NULL): how the pending buffer is keyed."""
    return " AND ".join(f"{c} IS ?" for c in _SCOPE_COLUMNS), [getattr(scope, c) for c in _SCOPE_COLUMNS]


def where_sql(
    scope: Scope, filters: Optional[SearchFilters], *, exact: bool = False
) -> tuple[str, list[Any]]:
    """Condition for live units of `scope` passing the SQL part (time bounds) of `filters`.

    `exact`: a None id of the scope matches only NULL (as `exact_scope_sql`), not any value.
    """
    where, params = exact_scope_sql(scope) if exact else scope_sql(scope)
    clauses, filter_params = filters.sql() if filters is not None else ([], [])
    return " AND ".join(["deleted = 0", where, *clauses]), [*params, *filter_params]


def live_where(memory_id: str, scope: Optional[Scope]) -> tuple[str, list[Any]]:
    """Condition for the live unit `memory_id`, within `scope` if one is given."""
    if scope is None:
        return "id = ? AND deleted = 0", [memory_id]
    where, params = scope_sql(check_scope(scope))
    return f"id = ? AND deleted = 0 AND {where}", [memory_id, *params]


# --- reads --------------------------------------------------------------------------------------------


def select_in(
    conn: sqlite3.Connection,
    select: str,
    column: str,
    values: Sequence[Any],
    where: str = "1",
    params: Sequence[Any] = (),
) -> Iterator[Any]:
    """Rows of `select WHERE column IN (values) AND where`, in chunks of bound values."""
    for marks, chunk in _in_lists(values):
        sql = f"{select} WHERE {column} IN ({marks}) AND {where}"
        yield from conn.execute(sql, [*chunk, *params]).fetchall()  # one call per chunk, not per row


def to_item(row: Sequence[Any], score: Optional[float] = None) -> MemoryItem:
    """The `MemoryItem` of a row whose first columns are `ITEM_COLUMNS`."""
    _, memory_id, text, user_id, agent_id, run_id, created, updated, event, topic, source, meta, version = (
        row[:13]
    )
    return MemoryItem(
        id=memory_id,
        text=text,
        user_id=user_id,
        agent_id=agent_id,
        run_id=run_id,
        created_at=decode_time(created),
        updated_at=decode_time(updated),
        event_time=decode_optional_time(event),
        topic=topic,
        source=tuple(json.loads(source)),
        metadata=json.loads(meta),
        score=score,
        version=version,
    )


def rows_needed(filters: Optional[SearchFilters], limit: int) -> Optional[int]:
    """How many of the best-ranked rows may be needed for `limit` hits: `limit`, or all of them (None)
    when metadata filters, which are checked on the rows, may reject any."""
    return limit if filters is None or not filters.metadata else None


def take(
    ranked: Iterable[tuple[Sequence[Any], float]], filters: Optional[SearchFilters], limit: int
) -> list[tuple[Sequence[Any], float]]:
    """The first `limit` (row, score) pairs, in ranked order, whose metadata passes `filters`."""
    taken: list[tuple[Sequence[Any], float]] = []
    for row, score in ranked:
        if filters is None or filters.matches_metadata(json.loads(row[_METADATA])):
            taken.append((row, score))
            if len(taken) == limit:
                break
    return taken


def rows_by_rowid(
    conn: sqlite3.Connection, rowids: Sequence[int], where: str, params: Sequence[Any]
) -> dict[int, Sequence[Any]]:
    """The rows (`ITEM_COLUMNS`) among `rowids` that satisfy `where`, keyed by rowid.

    NOT INDEXED makes SQLite look the rowids up instead of scanning the scope's index (which it
    otherwise prefers, at the cost of reading every unit of a large scope).
    """
    select = f"SELECT {ITEM_COLUMNS} FROM units NOT INDEXED"
    return {row[0]: row for row in select_in(conn, select, "rowid", rowids, where, params)}


def vectors_by_rowid(
    conn: sqlite3.Connection, rowids: Sequence[int], where: str, params: Sequence[Any]
) -> dict[int, bytes]:
    """The vector BLOBs of the rows among `rowids` that satisfy `where`, keyed by rowid (looked up as in
    `rows_by_rowid`, and much cheaper per row)."""
    select = "SELECT rowid, vector FROM units NOT INDEXED"
    return dict(select_in(conn, select, "rowid", rowids, where, params))


def items_by_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> list[MemoryItem]:
    """The items of existing units, in the order of `ids`."""
    rows = {row[1]: row for row in select_in(conn, f"SELECT {ITEM_COLUMNS} FROM units", "id", ids)}
    return [to_item(rows[i]) for i in ids]


def live_vectors(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, bytes]:
    """Vector BLOBs of the live units among `ids`, keyed by id (unknown and deleted ids are absent)."""
    return dict(select_in(conn, "SELECT id, vector FROM units", "id", sorted(set(ids)), "deleted = 0"))


def check_changes(conn: sqlite3.Connection, changes: Sequence[Change], scope: Optional[Scope] = None) -> None:
    """KeyError naming the ids of `changes` that are not live units (of exactly `scope`, if given), else
    VersionConflict naming the units whose version is not the one a change expects."""
    ids = sorted({c.memory_id for c in changes})
    where, params = ("deleted = 0", []) if scope is None else where_sql(scope, None, exact=True)
    check_versions(
        dict(select_in(conn, "SELECT id, version FROM units", "id", ids, where, params)), changes, scope
    )


def check_versions(versions: Mapping[str, int], changes: Sequence[Change], scope: Optional[Scope]) -> None:
    """KeyError naming the ids of `changes` missing from `versions` (the live units' versions, of exactly
    `scope` if given), else VersionConflict naming the units whose version is not the one a change
    expects: the verdict of `check_changes` on whichever store read the versions."""
    ids = sorted({c.memory_id for c in changes})
    missing = [i for i in ids if i not in versions]
    if missing:
        within = "" if scope is None else f" in {scope}"
        raise KeyError(f"no live memory units with ids {missing}{within}; no change was applied")
    stale = sorted(
        {
            f"{c.memory_id} (version {versions[c.memory_id]}, expected {c.expected_version})"
            for c in changes
            if c.expected_version is not None and versions[c.memory_id] != c.expected_version
        }
    )
    if stale:
        raise VersionConflict(f"memory units changed meanwhile: {', '.join(stale)}; no change was applied")


# --- writes (inside a write transaction) ---------------------------------------------------------------


def next_seq(conn: sqlite3.Connection) -> int:
    """A new change number (inside the caller's write transaction, so numbers follow commit order)."""
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq'")
    return int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])


def update_row(
    conn: sqlite3.Connection,
    seq: int,
    memory_id: str,
    scope: Optional[Scope],
    text: Optional[str],
    blob: Optional[bytes],
    reason: Optional[str],
    event: str,
    source: Optional[Sequence[str]] = None,
    metadata: Optional[Mapping[str, Any]] = None,
) -> MemoryItem:
    """Replace a live unit's text and vector (`blob`), its `source` if given, and merge `metadata` into
    its metadata if given; `text` None changes only those (the vector and the consolidated mark stay).
    Version + 1, history row; nothing when it `changes_nothing`; KeyError if absent."""
    rowid, old_text = _live_row(conn, memory_id, scope)
    (stored_metadata,) = conn.execute("SELECT metadata FROM units WHERE rowid = ?", (rowid,)).fetchone()
    old_metadata = json.loads(stored_metadata)
    merged = None if metadata is None else merged_metadata(old_metadata, metadata)
    if changes_nothing(old_text, text, old_metadata, merged, source):
        return items_by_ids(conn, [memory_id])[0]
    now = encode_time(now_utc())
    new_source = None if source is None else encode_json(list(source), "source")
    new_metadata = None if merged is None else encode_json(merged, "metadata")
    if text is None:
        conn.execute(
            "UPDATE units SET source = COALESCE(?, source), metadata = COALESCE(?, metadata), "
            "version = version + 1, updated_at = ? WHERE rowid = ?",
            (new_source, new_metadata, now, rowid),
        )
    else:
        conn.execute(
            "UPDATE units SET text = ?, hash = ?, vector = ?, source = COALESCE(?, source), "
            "metadata = COALESCE(?, metadata), version = version + 1, updated_at = ?, consolidated = 0, "
            "seq = ? WHERE rowid = ?",
            (text, text_hash(text), blob, new_source, new_metadata, now, seq, rowid),
        )
    _record(conn, memory_id, event, old_text, old_text if text is None else text, reason, now)
    return items_by_ids(conn, [memory_id])[0]


def changes_nothing(
    old_text: str,
    text: Optional[str],
    old_metadata: Mapping[str, Any],
    merged: Optional[Mapping[str, Any]],
    source: Optional[Sequence[str]],
) -> bool:
    """Whether an update leaves its unit as it was: no new source, the same text (or none) and metadata
    that merge into the same JSON (or none). Such an update is not written: no new version, no history
    row (`update(id, text=<its own text>)` wrote an UPDATE that changed nothing)."""
    same_metadata = merged is None or _json_text(merged) == _json_text(old_metadata)
    return source is None and text in (None, old_text) and same_metadata


def _json_text(value: Mapping[str, Any]) -> str:
    """`value` as JSON with sorted keys, to compare two metadata (`true` and `1` differ, unlike in Python)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def delete_row(
    conn: sqlite3.Connection, seq: int, memory_id: str, scope: Optional[Scope], reason: Optional[str]
) -> None:
    """Tombstone a live unit and record it in history; KeyError if absent."""
    rowid, old_text = _live_row(conn, memory_id, scope)
    now = encode_time(now_utc())
    conn.execute("UPDATE units SET deleted = 1, updated_at = ?, seq = ? WHERE rowid = ?", (now, seq, rowid))
    _record(conn, memory_id, "DELETE", old_text, None, reason, now)


def apply_change(conn: sqlite3.Connection, seq: int, change: Change, blob: Optional[bytes]) -> None:
    """Apply one consolidation `Change` (`blob`: its validated vector, for updates)."""
    if change.kind == "update":
        update_row(
            conn, seq, change.memory_id, None, change.text, blob, change.reason, change.event, change.source
        )
    elif change.kind == "delete":
        delete_row(conn, seq, change.memory_id, None, change.reason)
    else:
        rowid, _ = _live_row(conn, change.memory_id, None)
        conn.execute("UPDATE units SET consolidated = 1 WHERE rowid = ?", (rowid,))


def delete_pending(conn: sqlite3.Connection, scope: Scope, pending_ids: Sequence[int]) -> None:
    """Delete pending rows of the exact `scope`; KeyError if any of them is gone."""
    where, params = exact_scope_sql(scope)
    deleted = 0
    for marks, chunk in _in_lists(pending_ids):
        sql = f"DELETE FROM pending WHERE rowid IN ({marks}) AND {where}"
        deleted += conn.execute(sql, [*chunk, *params]).rowcount
    if deleted != len(pending_ids):
        raise KeyError(
            f"{len(pending_ids) - deleted} of the pending rows {list(pending_ids)} of {scope} are gone "
            "(extracted by another process?); nothing was stored"
        )


MessageKey = tuple[Optional[str], bytes]
"""A message's id (None: it has none) and its `codec.message_digest`."""


def message_key(message: Mapping[str, Any], where: str) -> MessageKey:
    """The id and digest of `message`; ValueError naming `where` if its id is not a string."""
    message_id = message.get("id")
    if message_id is None:
        return None, b""
    if not isinstance(message_id, str):
        raise ValueError(f"{where} id must be a string, got {type(message_id).__name__}")
    return message_id, message_digest(message)


def first_time(conn: sqlite3.Connection, scope: Scope, key: MessageKey) -> bool:
    """Whether `scope` is given the message of `key` for the first time (recorded now; a message
    without an id always is); ValueError if its id came before with another message."""
    message_id, digest = key
    return message_id is None or record_message(conn, scope, message_id, digest)


def record_message(conn: sqlite3.Connection, scope: Scope, message_id: str, digest: bytes) -> bool:
    """Record that the exact `scope` was given the message `message_id` (`digest`: its
    `codec.message_digest`). False if it was given before (a retry, to skip); ValueError naming the id
    if it came before with another message."""
    key = [getattr(scope, c) or "" for c in _SCOPE_COLUMNS] + [message_id]
    sql = "INSERT INTO message_ids VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    if conn.execute(sql, [*key, digest]).rowcount:
        return True
    where = " AND ".join(f"{c} = ?" for c in (*_SCOPE_COLUMNS, "message_id"))
    (known,) = conn.execute(f"SELECT digest FROM message_ids WHERE {where}", key).fetchone()
    if known != digest:
        raise ValueError(
            f"message id {quoted(message_id)} was added to {scope} before with another message: a "
            "retried add must send the same message (and metadata), a new message needs a new id"
        )
    return False


def check_counts(counts: object) -> dict[str, int]:
    """`counts` as a dict; ValueError unless it maps non-empty names to integers >= 0."""
    if not isinstance(counts, Mapping):
        raise ValueError(f"counts must be a mapping of names to integers, got {type(counts).__name__}")
    checked = dict(counts)
    for name, value in checked.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"counter names must be non-empty strings, got {name!r}")
        check_int(value, f"counter {name!r}")
    return checked


def add_counts(conn: sqlite3.Connection, scope: Scope, counts: Mapping[str, int]) -> None:
    """Add `counts` (checked by `check_counts`) to the lifetime counters of the exact `scope`."""
    key = [getattr(scope, c) or "" for c in _SCOPE_COLUMNS]
    conn.executemany(
        "INSERT INTO counters VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id, agent_id, run_id, name) DO UPDATE SET value = value + excluded.value",
        [(*key, name, value) for name, value in counts.items() if value],
    )


def _in_lists(values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
    """(placeholders, values) for `IN (...)` lists of at most _CHUNK values each."""
    for start in range(0, len(values), _CHUNK):
        chunk = list(values[start : start + _CHUNK])
        yield ",".join("?" * len(chunk)), chunk


def _live_row(conn: sqlite3.Connection, memory_id: str, scope: Optional[Scope]) -> tuple[int, str]:
    """(rowid, text) of a live unit; KeyError if absent, deleted or outside `scope`."""
    where, params = live_where(memory_id, scope)
    row = conn.execute(f"SELECT rowid, text FROM units WHERE {where}", params).fetchone()
    if row is None:
        raise KeyError(f"no live memory unit {quoted(memory_id)}" + ("" if scope is None else f" in {scope}"))
    return row[0], row[1]


def _record(
    conn: sqlite3.Connection,
    memory_id: str,
    event: str,
    old_text: Optional[str],
    new_text: Optional[str],
    reason: Optional[str],
    now: str,
) -> None:
    conn.execute(
        "INSERT INTO history (memory_id, event, old_text, new_text, reason, created_at) VALUES (?,?,?,?,?,?)",
        (memory_id, event, old_text, new_text, reason, now),
    )


@dataclass(frozen=True)
class CheckedAdd:
    """The arguments of `UnitStore.add`, checked and encoded, before any write."""

    units: list[ExtractedUnit]
    vectors: np.ndarray
    metadata_json: list[str]
    pending_ids: list[int]
    message_keys: list[MessageKey]
    counts: dict[str, int]

    @property
    def empty(self) -> bool:
        """Nothing to store, drop or count."""
        return not self.units and not self.pending_ids and not self.counts


def check_add(
    scope: Scope,
    units: Sequence[ExtractedUnit],
    vectors: np.ndarray,
    dim: int,
    metadata: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None],
    pending_ids: Sequence[int],
    messages: Sequence[Mapping[str, Any]],
    counts: Optional[Mapping[str, int]],
    encode_metadata: Callable[[Any, str], str] = encode_json,
) -> CheckedAdd:
    """The arguments of `UnitStore.add` checked (ValueError naming the one at fault) and the metadata
    encoded by `encode_metadata`, one JSON text per unit; shared by every store."""
    check_scope(scope)
    given = list(units)
    for i, unit in enumerate(given):
        if not isinstance(unit, ExtractedUnit):
            raise ValueError(f"units[{i}] must be an ExtractedUnit, got {type(unit).__name__}")
        check_text(unit.text, f"units[{i}].text")
    matrix = check_vectors(vectors, dim, len(given), "vectors")
    if metadata is None or isinstance(metadata, Mapping):
        metadata_json = [encode_metadata(check_metadata(metadata), "metadata")] * len(given)
    elif len(metadata) != len(given):
        raise ValueError(f"metadata has {len(metadata)} entries for {len(given)} units")
    else:
        metadata_json = [encode_metadata(check_metadata(m), f"metadata[{i}]") for i, m in enumerate(metadata)]
    pending = sorted({int(i) for i in pending_ids})
    if messages and len(messages) != len(given):
        raise ValueError(f"messages has {len(messages)} entries for {len(given)} units")
    keys = [message_key(message, f"messages[{i}]") for i, message in enumerate(messages)]
    for message_id, _ in keys:
        check_scope(scope, message_id)
    return CheckedAdd(given, matrix, metadata_json, pending, keys, check_counts(counts or {}))


@dataclass(frozen=True)
class CheckedUpdate:
    """The arguments of `UnitStore.update`, checked, before any write."""

    vector: Optional[np.ndarray]
    """The new vector (validated, normalised), or None when only the metadata changes."""
    metadata: Optional[dict[str, Any]]
    counts: dict[str, int]


def check_apply_changes(
    changes: Sequence[Change], scope: Optional[Scope], dim: int
) -> tuple[list[Change], list[Optional[np.ndarray]]]:
    """The arguments of `ConsolidationStore.apply_changes` checked (ValueError naming the one at fault):
    the changes as a list and each one's new vector checked (None: no new vector); shared by every store."""
    if scope is not None:
        check_scope(scope)
    changes = list(changes)
    vectors: list[Optional[np.ndarray]] = []
    for i, change in enumerate(changes):
        if not isinstance(change, Change):
            raise ValueError(f"changes[{i}] must be a Change, got {type(change).__name__}")
        vectors.append(
            None if change.vector is None else check_vector(change.vector, dim, f"changes[{i}].vector")
        )
    return changes, vectors


def check_update(
    text: object,
    vector: object,
    dim: int,
    scope: object,
    event: object,
    metadata: Optional[Mapping[str, Any]],
    counts: Optional[Mapping[str, int]],
) -> CheckedUpdate:
    """The arguments of `UnitStore.update` checked (ValueError naming the one at fault); shared by every
    store. A text or a vector needs the other, and one of them or `metadata` is needed."""
    check_event(event)
    checked_vector = None
    if text is not None or vector is not None or metadata is None:
        check_text(text, "text")
        checked_vector = check_vector(vector, dim)
    merged = None if metadata is None else check_metadata(metadata)
    counted = check_counts(counts or {})
    if scope is not None:
        check_scope(scope)
    return CheckedUpdate(checked_vector, merged, counted)


@dataclass(frozen=True)
class PendingRow:
    """One message of `ShortTermStore.pending_add`, checked."""

    message_json: str
    words: int
    key: MessageKey
    vector: Optional[np.ndarray]
    """The turn's embedding (validated, normalised), or None when none was given."""


def check_pending_add(
    scope: Scope,
    messages: Sequence[dict[str, Any]],
    words: Sequence[int],
    vectors: Optional[np.ndarray],
    dim: int,
    counts: Optional[Mapping[str, int]],
    encode_message: Callable[[Any, str], str] = encode_json,
) -> tuple[list[PendingRow], dict[str, int]]:
    """The arguments of `ShortTermStore.pending_add` checked (ValueError naming the one at fault), each
    message encoded by `encode_message`: its rows and counts; shared by every store."""
    check_scope(scope)
    counted = check_counts(counts or {})
    if len(messages) != len(words):
        raise ValueError(f"messages and words differ in length: {len(messages)} != {len(words)}")
    turn_vectors: Sequence[Optional[np.ndarray]] = [None] * len(messages)
    if vectors is not None:
        turn_vectors = list(check_vectors(vectors, dim, len(messages), "vectors"))
    rows = []
    for i, (message, count) in enumerate(zip(messages, words)):
        if not isinstance(message, dict):
            raise ValueError(f"messages[{i}] must be a dict, got {type(message).__name__}")
        check_int(count, f"words[{i}]")
        key = message_key(message, f"messages[{i}]")
        check_scope(scope, key[0])
        rows.append(PendingRow(encode_message(message, f"messages[{i}]"), count, key, turn_vectors[i]))
    return rows, counted


def log_skipped(added: int, given: int, scope: Scope) -> None:
    """The log line of a `pending_add` that skipped messages added before (a retried add is a no-op)."""
    if added < given:
        logger.info("%d of %d messages of %s were added before: skipped", given - added, given, scope)
