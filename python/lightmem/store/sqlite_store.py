"""`SQLiteStore`: memory units in SQLite (the source of truth, vectors included) with a usearch index
beside it as a cache, kept in step with every writer through a change sequence."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

import numpy as np

from lightmem.limits import check_limit
from lightmem.store import buffer_search
from lightmem.store.changes import Change, check_event, check_text
from lightmem.store.codec import (
    check_metadata,
    check_vector,
    check_vectors,
    decode_time,
    decode_vectors,
    encode_json,
    encode_time,
    encode_vector,
    message_digest,
)
from lightmem.store.errors import StoreError
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import (
    ITEM_COLUMNS,
    add_counts,
    apply_change,
    check_changes,
    check_counts,
    check_scope,
    delete_pending,
    delete_row,
    exact_scope_sql,
    items_by_ids,
    live_vectors,
    live_where,
    next_seq,
    record_message,
    rows_by_rowid,
    scope_sql,
    select_in,
    sql_limit,
    take,
    to_item,
    update_row,
    vectors_by_rowid,
    where_sql,
)
from lightmem.store.schema import (
    check_not_lost,
    connect,
    open_database,
    with_lock_retries,
    write_transaction,
)
from lightmem.store.vector_index import IndexFileError, VectorIndex, record_path
from lightmem.text_keys import text_hash
from lightmem.times import now_utc
from lightmem.types import ExtractedUnit, HistoryEntry, MemoryItem, Scope

T = TypeVar("T")
logger = logging.getLogger("lightmem")

_FEED_BATCH = 10_000
"""Rows of the change feed applied to the index at a time."""
_QUERY_CHUNK = 256
"""Queries searched at a time by a batch search (the index lock is released between chunks)."""


def _directory(directory: Union[str, os.PathLike[str]]) -> Path:
    """The store's directory, created if needed; ValueError if it is empty or not a directory."""
    if not os.fspath(directory):
        raise ValueError("directory must be a non-empty path")
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"{path} exists and is not a directory: choose another memory directory") from None
    except NotADirectoryError:
        raise ValueError(f"{path} cannot be a directory: one of its parents is a file") from None
    return path


class SQLiteStore:
    """Long-term memory units of one directory: `memory.db` (SQLite, WAL) and `index.usearch`.

    Scopes: a query scope matches units whose ids equal its non-None ids; a None id means any value
    (mem0's filter semantics), and every scope carries at least one id. The short-term buffer
    (`pending_*`) is kept per exact scope instead, None matching only None.

    Thread-safe; several stores, in threads or processes, may open the same directory at once. Vectors
    are stored L2-normalised; scores are cosine similarities.
    """

    def __init__(
        self,
        directory: Union[str, os.PathLike[str]],
        dim: int,
        *,
        oversample: int = 4,
        exact_scan_max: int = 4096,
        busy_timeout: float = 30.0,
    ) -> None:
        """Open (creating if needed) the store in `directory` for vectors of dimension `dim`.

        StoreError, touching nothing, if `memory.db` is damaged, not a lightmem database, or missing or
        empty while the index files of an earlier store remain (see `schema.check_not_lost`); a damaged
        or outdated index file is rebuilt from the database instead, with a warning.

        `oversample`: the index is asked for limit * oversample candidates before scope and filter checks.
        `exact_scan_max`: a scope with at most this many units, few relative to the index, is searched
        exactly over its stored vectors instead. `busy_timeout`: seconds a write waits for another's lock.
        """
        for name, value, low in (
            ("dim", dim, 1),
            ("oversample", oversample, 1),
            ("exact_scan_max", exact_scan_max, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not busy_timeout > 0:
            raise ValueError(f"busy_timeout must be > 0 seconds, got {busy_timeout!r}")
        self.directory = _directory(directory)
        self.dim = dim
        self._oversample = oversample
        self._exact_scan_max = exact_scan_max
        self._busy_timeout = busy_timeout
        self._db_path = self.directory / "memory.db"
        self._index_path = self.directory / "index.usearch"
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._connections_lock = threading.Lock()
        self._index_lock = threading.RLock()
        self._closed = False
        self._index = VectorIndex(dim)
        self._saved_seq: Optional[int] = None
        try:
            check_not_lost(self._db_path, [self._index_path, record_path(self._index_path)])
            self._store_id, self._has_keyword_index = open_database(self._conn(), self._db_path, dim)
            self._open_index()
        except BaseException:
            self._closed = True
            self._close_connections()
            raise

    # --- units ------------------------------------------------------------------------------------

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
        """Store `units` (with their (n, dim) `vectors`) in `scope` and drop the pending rows they came from.

        `metadata` is one mapping for all units or a sequence of one mapping per unit. `messages`: for
        units that store a message as it is (`add(infer=False)`), that message, one per unit, whose id is
        recorded as `pending_add` records it: a unit whose message the scope was given before is skipped
        (a retry), one whose id came with another message is a ValueError and nothing is stored.

        One transaction: the units, their ADD history rows, the removal of `pending_ids` (rows of the
        exact `scope`) and the addition of `counts` to the scope's counters (see `add_counts`) happen
        together or not at all. KeyError if a pending row is gone (another process has extracted it
        already); nothing is stored or counted then.
        """
        check_scope(scope)
        units = list(units)
        for i, unit in enumerate(units):
            if not isinstance(unit, ExtractedUnit):
                raise ValueError(f"units[{i}] must be an ExtractedUnit, got {type(unit).__name__}")
            check_text(unit.text, f"units[{i}].text")
        matrix = check_vectors(vectors, self.dim, len(units), "vectors")
        if metadata is None or isinstance(metadata, Mapping):
            metadata_json = [encode_json(check_metadata(metadata), "metadata")] * len(units)
        elif len(metadata) != len(units):
            raise ValueError(f"metadata has {len(metadata)} entries for {len(units)} units")
        else:
            metadata_json = [encode_json(check_metadata(m), f"metadata[{i}]") for i, m in enumerate(metadata)]
        pending = sorted({int(i) for i in pending_ids})
        if messages and len(messages) != len(units):
            raise ValueError(f"messages has {len(messages)} entries for {len(units)} units")
        keys = [_message_key(message, f"messages[{i}]") for i, message in enumerate(messages)]
        counted = check_counts(counts or {})
        if not units and not pending and not counted:
            return []
        ids = [uuid.uuid4().hex for _ in units]

        def body(conn: sqlite3.Connection, seq: int) -> list[MemoryItem]:
            delete_pending(conn, scope, pending)
            add_counts(conn, scope, counted)
            kept = (
                [i for i, key in enumerate(keys) if _first_time(conn, scope, key)]
                if keys
                else range(len(ids))
            )
            rows = [(ids[i], units[i], matrix[i], metadata_json[i]) for i in kept]
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

        return self._write(body)

    def get(self, memory_id: str, scope: Optional[Scope] = None) -> Optional[MemoryItem]:
        """The live unit `memory_id`, or None (also when it is not in `scope`, if one is given)."""
        where, params = live_where(memory_id, scope)
        row = self._conn().execute(f"SELECT {ITEM_COLUMNS} FROM units WHERE {where}", params).fetchone()
        return None if row is None else to_item(row)

    def get_all(
        self, scope: Scope, limit: Optional[int] = None, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The live units of `scope` that pass `filters`, oldest first, at most `limit` of them."""
        check_scope(scope)
        _check_filters(filters)
        most = sql_limit(limit)
        where, params = where_sql(scope, filters)
        checked = filters is not None and bool(filters.metadata)  # then every row of the scope is read
        rows = self._conn().execute(
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
        """Replace the text and vector of a live unit and/or merge `metadata` into its metadata (the keys
        given replace theirs, the others stay); version + 1, history row `event`: UPDATE or MERGE.

        `text` and `vector` None: the metadata alone changes. KeyError if the unit does not exist, is
        deleted or is not in `scope`. A new text makes the unit unconsolidated again. `counts` are added
        to the counters of the unit's exact scope in the same transaction (see `add_counts`).
        """
        check_event(event)
        blob = None
        if text is not None or vector is not None or metadata is None:
            check_text(text, "text")
            blob = encode_vector(check_vector(vector, self.dim))
        merged = None if metadata is None else check_metadata(metadata)
        counted = check_counts(counts or {})

        def body(conn: sqlite3.Connection, seq: int) -> MemoryItem:
            item = update_row(conn, seq, memory_id, scope, text, blob, reason, event, metadata=merged)
            add_counts(conn, Scope(item.user_id, item.agent_id, item.run_id), counted)
            return item

        return self._write(body)

    def delete(self, memory_id: str, scope: Optional[Scope] = None, reason: Optional[str] = None) -> None:
        """Delete a live unit (tombstone: its text stays for history). KeyError if absent or not in scope."""
        self._write(lambda conn, seq: delete_row(conn, seq, memory_id, scope, reason))

    def delete_all(self, scope: Scope) -> int:
        """Delete every live unit of `scope`, its pending messages and the message ids it was given (see
        `pending_add`); return the number of units deleted."""
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

        return self._write(body)

    def reset(self) -> None:
        """Delete every unit of every scope, all history, the whole short-term buffer, the message ids
        the scopes were given and every counter, in one transaction. Units become tombstones without
        content (id and times only), so that every process sharing the store drops them from its vector
        index at its next sync."""

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

        self._write(body)

    def history(self, memory_id: str, scope: Optional[Scope] = None) -> list[HistoryEntry]:
        """Every recorded change of a unit (deleted ones too), oldest first; [] if unknown or not in scope."""
        sql = (
            "SELECT memory_id, event, old_text, new_text, reason, created_at FROM history WHERE memory_id = ?"
        )
        params: list[Any] = [memory_id]
        if scope is not None:
            check_scope(scope)
            where, scope_params = scope_sql(scope)
            sql += f" AND memory_id IN (SELECT id FROM units WHERE id = ? AND {where})"
            params += [memory_id, *scope_params]
        rows = self._conn().execute(sql + " ORDER BY id", params)
        return [HistoryEntry(m, e, old, new, r, decode_time(t)) for m, e, old, new, r, t in rows]

    def count(self, scope: Optional[Scope] = None) -> int:
        """Number of live units, in `scope` or in the whole store."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        sql = f"SELECT COUNT(*) FROM units WHERE deleted = 0 AND {where}"
        return int(self._conn().execute(sql, params).fetchone()[0])

    def add_counts(self, scope: Scope, counts: Mapping[str, int]) -> None:
        """Add `counts` (names to integers >= 0) to the lifetime counters of the exact `scope`, in one
        small transaction; the counters are shared by every process and survive restarts. Work that
        writes to the store counts in its own transaction instead (`counts` of `add`, `pending_add`,
        `update`)."""
        check_scope(scope)
        counted = check_counts(counts)
        if counted:
            self._write(lambda conn, _seq: add_counts(conn, scope, counted), units_change=False)

    def counters(self, scope: Optional[Scope] = None) -> dict[str, int]:
        """The lifetime counters (name -> total) of every exact scope `scope` covers (a None id matches
        any value), or of the whole store; names never counted are left out. `delete_all` keeps a
        scope's counters, `reset` clears them all."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        sql = f"SELECT name, SUM(value) FROM counters WHERE {where} GROUP BY name"
        rows = self._conn().execute(sql, params)
        return {name: int(total) for name, total in rows}

    def pending_count(self, scope: Optional[Scope] = None) -> int:
        """Number of buffered messages of every exact scope `scope` covers, or of the whole store."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        return int(self._conn().execute(f"SELECT COUNT(*) FROM pending WHERE {where}", params).fetchone()[0])

    def scopes(self) -> list[Scope]:
        """The distinct exact scopes that have live units."""
        rows = self._conn().execute(
            "SELECT DISTINCT user_id, agent_id, run_id FROM units WHERE deleted = 0 ORDER BY 1, 2, 3"
        )
        return [Scope(*row) for row in rows]

    # --- search -----------------------------------------------------------------------------------

    def search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The `limit` live units of `scope` most similar to `vector` that pass `filters`, best first.

        Each item's `score` is its cosine similarity to `vector`.
        """
        _check_search(scope, limit, filters)
        query = check_vector(vector, self.dim)
        (hits,) = self._ranked(query[None], where_sql(scope, filters), filters, limit)
        return [to_item(row, score) for row, score in hits]

    @property
    def has_keyword_index(self) -> bool:
        """Whether `keyword_search` can find anything: False when this Python's SQLite lacks FTS5."""
        return self._has_keyword_index

    def keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """The `limit` live units of `scope` that pass `filters` and best match any of `keywords`, best
        first (SQLite FTS5: BM25 over the units' words, English stemming), scoring at least `min_score`.
        Each item's `score` is its BM25 relevance, higher is better; a word in more than half of the
        store's units adds almost nothing. No keywords, no hits; no hits either without the keyword
        index (`has_keyword_index`)."""
        _check_search(scope, limit, filters)
        match = self._keyword_match(keywords, scope)
        if match is None:
            return []
        where, params = where_sql(scope, filters)
        needed = _rows_needed(filters, limit)
        sql = (
            f"SELECT {ITEM_COLUMNS}, hits.score FROM (SELECT rowid AS hit, -bm25(units_text, 1.0, 0.0) "
            "AS score FROM units_text WHERE units_text MATCH ? AND rowid > 0) AS hits "
            f"CROSS JOIN units ON units.rowid = hits.hit WHERE hits.score >= ? AND {where} "
            "ORDER BY hits.score DESC LIMIT ?"
        )
        rows = (
            self._conn()
            .execute(sql, [match, min_score, *params, -1 if needed is None else needed])
            .fetchall()
        )
        return [to_item(row, score) for row, score in take(((r, r[-1]) for r in rows), filters, limit)]

    def _keyword_match(self, keywords: Sequence[str], scope: Scope) -> Optional[str]:
        """The FTS5 query for any of `keywords` within `scope`; None when there is nothing to search (no
        keywords, or no keyword index)."""
        if isinstance(keywords, str) or not all(isinstance(k, str) for k in keywords):
            raise ValueError("keywords must be a sequence of strings")
        terms = list(dict.fromkeys(k.strip() for k in keywords if k.strip()))
        if not terms or not self._has_keyword_index:
            return None
        words = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        return " AND ".join([*_scope_tokens(scope), f"text : ({words})"])

    def neighbors_batch(
        self, vectors: np.ndarray, scope: Scope, k: int, exact_scope: bool = True
    ) -> list[list[tuple[MemoryItem, float]]]:
        """For each row of the (n, dim) `vectors`, its `k` nearest live units of `scope`, best first, as
        (item, cosine similarity); a stored vector finds itself.

        `exact_scope`: a None id of `scope` matches only units without that id (True), or any value as
        in `search` (False). The items carry no `score` and may be shared between lists. One index sync,
        then the index searched for many queries at once (or one exact scan of a small scope).
        """
        check_scope(scope)
        check_limit(k, "k")
        queries = check_vectors(vectors, self.dim, None, "vectors")
        ranked = self._ranked(queries, where_sql(scope, None, exact=exact_scope), None, k)
        items: dict[int, MemoryItem] = {}
        for hits in ranked:
            for row, _ in hits:
                if row[0] not in items:
                    items[row[0]] = to_item(row)
        return [[(items[row[0]], score) for row, score in hits] for hits in ranked]

    def _ranked(
        self,
        queries: np.ndarray,
        condition: tuple[str, list[Any]],
        filters: Optional[SearchFilters],
        limit: int,
    ) -> list[list[tuple[Sequence[Any], float]]]:
        """For each query, the `limit` best (row, cosine) of the units meeting the SQL `condition` and the
        metadata part of `filters`."""
        self._sync()
        where, params = condition
        conn = self._conn()
        # exact scan when the scope is small and a small part of the index: then few of the index's
        # limit * oversample nearest candidates would be in scope (counting stops past that size)
        exact_max = min(self._exact_scan_max, (len(self._index) - 1) // self._oversample)
        bounded = f"SELECT COUNT(*) FROM (SELECT 1 FROM units WHERE {where} LIMIT ?)"
        in_scope = conn.execute(bounded, [*params, exact_max + 1]).fetchone()[0]
        if in_scope == 0:
            return [[] for _ in queries]
        if in_scope <= exact_max:
            return self._exact_search(conn, queries, where, params, filters, limit)
        return [
            hits
            for start in range(0, len(queries), _QUERY_CHUNK)
            for hits in self._index_search(
                conn, queries[start : start + _QUERY_CHUNK], where, params, filters, limit
            )
        ]

    def _exact_search(
        self,
        conn: sqlite3.Connection,
        queries: np.ndarray,
        where: str,
        params: list[Any],
        filters: Optional[SearchFilters],
        limit: int,
    ) -> list[list[tuple[Sequence[Any], float]]]:
        rows = conn.execute(f"SELECT {ITEM_COLUMNS}, vector FROM units WHERE {where}", params).fetchall()
        vectors = decode_vectors([row[-1] for row in rows], self.dim)
        needed = _rows_needed(filters, limit)
        results = []
        for start in range(0, len(queries), _QUERY_CHUNK):
            scores = queries[start : start + _QUERY_CHUNK] @ vectors.T
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
    ) -> list[list[tuple[Sequence[Any], float]]]:
        """limit * oversample candidates per query from the index, ranked by their exact similarity (their
        stored vectors fetched in one go), then the rows of the best ones; the queries left with fewer
        than `limit` hits ask again for 4 times more candidates."""
        results: list[list[tuple[Sequence[Any], float]]] = [[] for _ in queries]
        todo = list(range(len(queries)))
        wanted = limit * self._oversample
        keep = _rows_needed(filters, limit)
        while todo:
            with self._index_lock:
                keys, _ = self._index.search(queries[todo], wanted)
                exhaustive = wanted >= len(self._index)
            blobs = vectors_by_rowid(conn, np.unique(keys[keys >= 0]).tolist(), where, params)
            rowids = list(blobs)
            position = {rowid: j for j, rowid in enumerate(rowids)}
            vectors = decode_vectors(list(blobs.values()), self.dim)
            ranked = []
            for i, row_keys in zip(todo, keys.tolist()):
                found = [position[k] for k in row_keys if k in position]
                similarities = vectors[found] @ queries[i]
                order = np.argsort(-similarities, kind="stable")[:keep]
                ranked.append([(rowids[found[j]], float(similarities[j])) for j in order])
            rows = rows_by_rowid(conn, sorted({r for hits in ranked for r, _ in hits}), where, params)
            for i, hits in zip(todo, ranked):
                results[i] = take(((rows[r], s) for r, s in hits if r in rows), filters, limit)
            todo = [] if exhaustive else [i for i in todo if len(results[i]) < limit]
            wanted *= 4
        return results

    # --- short-term buffer ------------------------------------------------------------------------

    def pending_add(
        self,
        scope: Scope,
        messages: Sequence[dict[str, Any]],
        words: Sequence[int],
        vectors: Optional[np.ndarray] = None,
        counts: Optional[Mapping[str, int]] = None,
    ) -> list[int]:
        """Buffer `messages` (JSON-serialisable dicts) of `scope` with their word counts and, when given,
        their turns' embeddings (one row each: what `pending_search` ranks and a flush reuses); return
        the ids of the rows stored.

        A message with an `id` (a string) is stored once per exact scope: a message whose id the scope
        was given before (still buffered or extracted since; forgotten by `delete_all`) is skipped when
        it is the same message (a retry), and is a ValueError naming the id when it differs; nothing
        of the call is stored then. Concurrent calls, in any process, store an id once. `counts` are
        added to the scope's counters in the same transaction (see `add_counts`).
        """
        check_scope(scope)
        counted = check_counts(counts or {})
        if len(messages) != len(words):
            raise ValueError(f"messages and words differ in length: {len(messages)} != {len(words)}")
        blobs: list[Optional[bytes]] = [None] * len(messages)
        if vectors is not None:
            blobs = [encode_vector(v) for v in check_vectors(vectors, self.dim, len(messages), "vectors")]
        rows = []
        for i, (message, count) in enumerate(zip(messages, words)):
            if not isinstance(message, dict):
                raise ValueError(f"messages[{i}] must be a dict, got {type(message).__name__}")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"words[{i}] must be an integer >= 0, got {count!r}")
            key = _message_key(message, f"messages[{i}]")
            rows.append((encode_json(message, f"messages[{i}]"), count, key, blobs[i]))

        def body(conn: sqlite3.Connection, _seq: int) -> list[int]:
            now = encode_time(now_utc())
            sql = "INSERT INTO pending (user_id, agent_id, run_id, message, words, created_at, vector) "
            sql += " VALUES (?,?,?,?,?,?,?)"
            stored = []
            for text, count, key, vector in rows:
                if _first_time(conn, scope, key):
                    row = (scope.user_id, scope.agent_id, scope.run_id, text, count, now, vector)
                    stored.append(int(conn.execute(sql, row).lastrowid or 0))
            add_counts(conn, scope, counted)
            return stored

        stored = self._write(body, units_change=False)
        if len(stored) < len(rows):
            logger.info(
                "%d of %d messages of %s were added before: skipped",
                len(rows) - len(stored),
                len(rows),
                scope,
            )
        return stored

    def pending_list(self, scope: Scope) -> list[tuple[int, dict[str, Any]]]:
        """(pending id, message) of the exact `scope`, in insertion order."""
        where, params = exact_scope_sql(check_scope(scope))
        rows = self._conn().execute(
            f"SELECT rowid, message FROM pending WHERE {where} ORDER BY rowid", params
        )
        return [(rowid, json.loads(message)) for rowid, message in rows]

    def pending_vectors(self, pending_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The turn embeddings stored with these pending rows (rows buffered without one are left out)."""
        select = "SELECT rowid, vector FROM pending"
        rows = list(select_in(self._conn(), select, "rowid", list(pending_ids), "vector IS NOT NULL"))
        matrix = decode_vectors([blob for _, blob in rows], self.dim)
        return {rowid: vector for (rowid, _), vector in zip(rows, matrix)}

    def pending_search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The `limit` buffered messages of `scope` passing `filters` most similar to `vector`, as items
        marked `pending` (`score`: cosine similarity; messages buffered without a vector left out)."""
        _check_search(scope, limit, filters)
        query = check_vector(vector, self.dim)
        return buffer_search.by_meaning(self._conn(), query, scope, limit, filters, self.dim)

    def pending_keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """`keyword_search` over the buffered messages of `scope` (same index, same BM25 scale), as
        items marked `pending`."""
        _check_search(scope, limit, filters)
        match = self._keyword_match(keywords, scope)
        if match is None:
            return []
        return buffer_search.by_keywords(self._conn(), match, scope, limit, filters, min_score)

    def pending_words(self, scope: Scope) -> int:
        """Total words buffered for the exact `scope`."""
        where, params = exact_scope_sql(check_scope(scope))
        row = self._conn().execute(f"SELECT COALESCE(SUM(words), 0) FROM pending WHERE {where}", params)
        return int(row.fetchone()[0])

    def pending_scopes(self) -> list[Scope]:
        """The exact scopes that have buffered messages."""
        rows = self._conn().execute("SELECT DISTINCT user_id, agent_id, run_id FROM pending ORDER BY 1, 2, 3")
        return [Scope(*row) for row in rows]

    # --- sleep-time support -----------------------------------------------------------------------

    def unconsolidated(
        self, scope: Optional[Scope] = None, limit: Optional[int] = None
    ) -> list[tuple[MemoryItem, np.ndarray]]:
        """Live units not yet looked at by consolidation (oldest first), with their stored vectors."""
        where, params = ("1", []) if scope is None else scope_sql(check_scope(scope))
        rows = (
            self._conn()
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
        """The stored vectors of live units, as an (n, dim) float32 matrix in the given order.

        KeyError naming the ids that are unknown or deleted.
        """
        ids = list(memory_ids)
        found = live_vectors(self._conn(), ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no live memory units with ids {missing}")
        return decode_vectors([found[i] for i in ids], self.dim)

    def similarities(self, vector: np.ndarray, memory_ids: Sequence[str]) -> dict[str, float]:
        """The cosine similarity of `vector` to each live unit or buffered message (`pending:N` ids, as
        search gives them) among `memory_ids` (unknown and deleted ids are left out), from the stored
        vectors."""
        query = check_vector(vector, self.dim)
        conn = self._conn()
        found = live_vectors(conn, list(memory_ids))
        scores = decode_vectors(list(found.values()), self.dim) @ query
        return {
            **dict(zip(found, scores.tolist())),
            **buffer_search.cosines(conn, query, memory_ids, self.dim),
        }

    def apply_changes(self, changes: Sequence[Change], scope: Optional[Scope] = None) -> None:
        """Apply a consolidation pass in ONE transaction, in order.

        If any id is not a live unit (KeyError), any unit has another version than its change's
        `expected_version` (VersionConflict; versions are compared before any change of the call), or any
        change is invalid (ValueError), nothing changes. Updates of the text make a unit unconsolidated
        again, so put its 'mark_consolidated' after them. `scope`: every change must be of a unit of
        exactly this scope (a None id matches only NULL), else KeyError and nothing changes.
        """
        if scope is not None:
            check_scope(scope)
        changes = list(changes)
        blobs: list[Optional[bytes]] = []
        for i, change in enumerate(changes):
            if not isinstance(change, Change):
                raise ValueError(f"changes[{i}] must be a Change, got {type(change).__name__}")
            vector = change.vector
            blobs.append(
                None
                if vector is None
                else encode_vector(check_vector(vector, self.dim, f"changes[{i}].vector"))
            )

        def body(conn: sqlite3.Connection, seq: int) -> None:
            check_changes(conn, changes, scope)
            for change, blob in zip(changes, blobs):
                apply_change(conn, seq, change, blob)

        self._write(body)

    # --- index ------------------------------------------------------------------------------------

    def check_index(self) -> bool:
        """Whether the vector index holds exactly the live units (count and keys)."""
        with self._index_lock, self._snapshot() as conn:
            self._sync()
            live = np.fromiter(
                (r for (r,) in conn.execute("SELECT rowid FROM units WHERE deleted = 0")), np.int64
            )
            keys = self._index.keys()
        return len(keys) == len(live) and bool(np.array_equal(np.sort(keys), np.sort(live)))

    def rebuild_index(self) -> None:
        """Rebuild the vector index from the stored vectors (no re-embedding)."""
        with self._index_lock:
            self._index = VectorIndex(self.dim)
            self._saved_seq = None
            self._sync()

    def save_index(self) -> None:
        """Bring the index up to date and save it atomically to `index.usearch` (with its record);
        StoreError if it cannot be written (a full disk), which leaves every stored unit as it was."""
        with self._index_lock:
            self._sync()
            self._save_index()

    def close(self) -> None:
        """Save the index if it changed and close the database; idempotent.

        The store is closed even when the index cannot be saved (a full disk): StoreError then says so.
        Nothing stored is lost: the database holds every unit, and the next open brings the index up to
        date from it.
        """
        if self._closed:
            return
        try:
            with self._index_lock:
                if self._index.seq != self._saved_seq:
                    self._save_index()
        finally:
            self._closed = True
            self._close_connections()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _save_index(self) -> None:
        try:
            self._index.save(self._index_path, self._store_id)
        except OSError as exc:
            raise StoreError(
                f"cannot save the vector index {self._index_path} ({exc}): the memories are safe in "
                f"{self._db_path}, and the next open brings the index up to date from it; free disk space"
            ) from exc
        self._saved_seq = self._index.seq

    def _open_index(self) -> None:
        """Load the saved index if it agrees with the store, else rebuild it (with a warning saying why)."""
        reason = self._load_index()
        if reason is None:
            return
        if self._index_path.exists() or self.count() > 0:
            logger.warning("rebuilding the vector index %s from the store: %s", self._index_path, reason)
        self.rebuild_index()

    def _load_index(self) -> Optional[str]:
        try:
            index = VectorIndex.load(self._index_path, self.dim, self._store_id)
        except IndexFileError as exc:
            return str(exc)
        with self._index_lock, self._snapshot() as conn:
            db_seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            if index.seq > db_seq:
                return f"it holds change {index.seq} but the database only reaches change {db_seq}"
            saved_seq = index.seq
            self._index = index
            self._sync()
            live = int(conn.execute("SELECT COUNT(*) FROM units WHERE deleted = 0").fetchone()[0])
        if len(index) != live:
            return f"it holds {len(index)} vectors but the store has {live} live units"
        self._saved_seq = saved_seq
        return None

    def _sync(self) -> None:
        """Apply to the index the store changes it has not seen yet (by any writer, in any process)."""
        with self._index_lock:
            cursor = self._conn().execute(
                "SELECT rowid, seq, CASE WHEN deleted = 0 THEN vector END FROM units "
                "WHERE seq > ? ORDER BY seq",
                (self._index.seq,),
            )
            last_seq = self._index.seq
            for batch in iter(lambda: cursor.fetchmany(_FEED_BATCH), []):
                live = [(rowid, blob) for rowid, _, blob in batch if blob is not None]
                self._index.apply(
                    np.array([rowid for rowid, _ in live], dtype=np.int64),
                    decode_vectors([blob for _, blob in live], self.dim),
                    np.array([rowid for rowid, _, blob in batch if blob is None], dtype=np.int64),
                )
                last_seq = batch[-1][1]
            self._index.seq = last_seq

    # --- connections and transactions -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (one per thread, so that readers never wait for a writer)."""
        if self._closed:
            raise StoreError(f"the store at {self.directory} is closed; open a new SQLiteStore")
        conn: Optional[sqlite3.Connection] = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._db_path, self._busy_timeout)
            with self._connections_lock:
                for thread, old in [c for c in self._connections if not c[0].is_alive()]:
                    old.close()
                    self._connections.remove((thread, old))
                self._connections.append((threading.current_thread(), conn))
            self._local.conn = conn
        return conn

    def _close_connections(self) -> None:
        with self._connections_lock:
            for _, conn in self._connections:
                conn.close()
            self._connections.clear()

    def _write(self, body: Callable[[sqlite3.Connection, int], T], units_change: bool = True) -> T:
        """Run `body(conn, seq)` in one write transaction (`seq`: a new change number), then sync the index.

        `units_change=False` (the buffer or counters only): no change number is taken and no sync is needed.
        """
        conn = self._conn()

        def transaction() -> T:
            return write_transaction(conn, lambda: body(conn, next_seq(conn) if units_change else 0))

        try:
            result = with_lock_retries(transaction, self._db_path)
        except sqlite3.OperationalError as exc:  # disk full, I/O error, read-only file
            raise StoreError(f"cannot write to {self._db_path} ({exc}); nothing was changed") from exc
        if units_change:
            self._sync()
        return result

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the database."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")


def _scope_tokens(scope: Scope) -> list[str]:
    """The FTS5 conditions on the `scope` column of `units_text` for the ids `scope` gives (see
    `schema._INDEX_UNITS`: hex as SQLite's hex() writes it, of the UTF-8 text)."""
    ids = (("u", scope.user_id), ("a", scope.agent_id), ("r", scope.run_id))
    return [f'scope : "{kind}{value.encode("utf-8").hex()}"' for kind, value in ids if value is not None]


MessageKey = tuple[Optional[str], bytes]
"""A message's id (None: it has none) and its `codec.message_digest`."""


def _message_key(message: Mapping[str, Any], where: str) -> MessageKey:
    """The id and digest of `message`; ValueError naming `where` if its id is not a string."""
    message_id = message.get("id")
    if message_id is None:
        return None, b""
    if not isinstance(message_id, str):
        raise ValueError(f"{where} id must be a string, got {type(message_id).__name__}")
    return message_id, message_digest(message)


def _first_time(conn: sqlite3.Connection, scope: Scope, key: MessageKey) -> bool:
    """Whether `scope` is given the message of `key` for the first time (recorded now; a message
    without an id always is); ValueError if its id came before with another message."""
    message_id, digest = key
    return message_id is None or record_message(conn, scope, message_id, digest)


def _rows_needed(filters: Optional[SearchFilters], limit: int) -> Optional[int]:
    """How many of the best-ranked rows may be needed for `limit` hits: `limit`, or all of them (None)
    when metadata filters, which are checked on the rows, may reject any."""
    return limit if filters is None or not filters.metadata else None


def _check_search(scope: object, limit: object, filters: object) -> None:
    check_scope(scope)
    check_limit(limit)
    _check_filters(filters)


def _check_filters(filters: object) -> None:
    if filters is not None and not isinstance(filters, SearchFilters):
        raise ValueError(f"filters must be SearchFilters or None, got {type(filters).__name__}")


def _best_first(scores: np.ndarray, count: int) -> np.ndarray:
    """Column indices of each row's `count` highest scores, best first (ties: lower index first)."""
    if count >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    top = np.sort(np.argpartition(-scores, count - 1, axis=1)[:, :count], axis=1)
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
