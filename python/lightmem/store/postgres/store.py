"""`PostgresStore`: the `MemoryStore` of a PostgreSQL database with pgvector, shared by any number of
processes on any number of machines; every write is one transaction, and every check that a write makes
(pending rows still there, versions, message ids) is held by row locks until it commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timezone
from typing import Any, Callable, Optional, TypeVar, Union

import numpy as np

from lightmem.limits import check_limit
from lightmem.store.changes import Change
from lightmem.store.codec import (
    check_vector,
    check_vectors,
    encode_time,
)
from lightmem.store.errors import StoreError
from lightmem.store.filters import SearchFilters
from lightmem.store.postgres import buffer, claims, search
from lightmem.store.postgres import units as unit_rows
from lightmem.store.postgres.connection import Connection, Database
from lightmem.store.postgres.schema import open_schema
from lightmem.store.postgres.sql import (
    ITEM_COLUMNS,
    exact_scope_where,
    jsonb_text,
    live_where,
    scope_where,
    to_matrix,
    vector_param,
)
from lightmem.store.rows import (
    check_add,
    check_apply_changes,
    check_counts,
    check_filters,
    check_pending_add,
    check_scope,
    check_search,
    check_update,
    log_skipped,
    sql_limit,
    to_item,
)
from lightmem.text_keys import text_hash
from lightmem.types import ExtractedUnit, HistoryEntry, MemoryItem, Scope

T = TypeVar("T")


class PostgresStore:
    """Memory units, their history, the short-term buffer and the counters of every scope in one
    PostgreSQL database (`url`: postgresql://user:password@host:port/database), with pgvector.

    Scopes, scores and guarantees are those of `MemoryStore`. Thread-safe (a pool of connections);
    several stores, in any process on any machine, may share the database at once.
    """

    def __init__(
        self,
        url: str,
        dim: int,
        *,
        oversample: int = 4,
        exact_scan_max: int = 4096,
        max_connections: int = 8,
        connect_timeout: float = 30.0,
    ) -> None:
        """Open (creating or migrating the schema if needed) the store in the database at `url` for
        vectors of dimension `dim`. StoreError, with the password masked, if the database cannot be
        reached, lacks pgvector, or holds another dimension or a newer schema.

        `oversample`: the HNSW index is asked for limit * oversample candidates (`hnsw.ef_search`).
        `exact_scan_max`: a scope with at most this many units is searched exactly. `max_connections`:
        the size of the connection pool.
        """
        for name, value, low in (
            ("dim", dim, 1),
            ("oversample", oversample, 1),
            ("exact_scan_max", exact_scan_max, 0),
            ("max_connections", max_connections, 2),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.dim = dim
        self._oversample = oversample
        self._exact_scan_max = exact_scan_max
        self._db = Database(url, max_connections=max_connections, timeout=connect_timeout)
        self.location = self._db.where
        self._claims = claims.Claims(url, self._db.where)
        try:
            self.store_id = open_schema(self._db, dim)
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r}, dim={self.dim})"

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
        """`MemoryStore.add`: the units, their history, the removal of `pending_ids` and `counts` in one
        transaction; KeyError (nothing stored) if a pending row is gone."""
        checked = check_add(
            scope,
            units,
            vectors,
            self.dim,
            metadata,
            pending_ids,
            messages,
            counts,
            encode_metadata=jsonb_text,
        )
        if checked.empty:
            return []
        ids = [uuid.uuid4().hex for _ in checked.units]
        rows = [
            (
                ids[i], scope.user_id, scope.agent_id, scope.run_id, unit.text, unit.topic,
                None if unit.event_time is None else encode_time(unit.event_time),
                jsonb_text(list(unit.source), "source"), checked.metadata_json[i], text_hash(unit.text),
                vector_param(checked.vectors[i]),
            )
            for i, unit in enumerate(checked.units)
        ]  # fmt: skip

        def body(conn: Connection) -> list[MemoryItem]:
            unit_rows.delete_pending(conn, scope, checked.pending_ids)
            unit_rows.add_counts(conn, scope, checked.counts)
            kept = [
                row
                for row, key in zip(rows, checked.message_keys or [(None, b"")] * len(rows))
                if key[0] is None or unit_rows.record_message(conn, scope, key[0], key[1])
            ]
            conn.cursor().executemany(
                "INSERT INTO lightmem_units (id, user_id, agent_id, run_id, text, topic, created_at, "
                "updated_at, event_time, source, metadata, hash, vector) "
                "VALUES (%s, %s, %s, %s, %s, %s, now(), now(), %s, %s, %s, %s, %s::vector)",
                kept,
            )
            for row in kept:
                unit_rows.record(conn, row[0], "ADD", None, row[4], None)
            return unit_rows.items_by_ids(conn, [row[0] for row in kept])

        return self._run(body)

    def get(self, memory_id: str, scope: Optional[Scope] = None) -> Optional[MemoryItem]:
        """The live unit `memory_id`, or None (also when it is not in `scope`, if one is given)."""
        where, params = ("TRUE", []) if scope is None else scope_where(scope)
        sql = f"SELECT {ITEM_COLUMNS} FROM lightmem_units WHERE id = %s AND NOT deleted AND {where}"
        row = self._run(lambda conn: conn.execute(sql, [memory_id, *params]).fetchone())
        return None if row is None else to_item(row)

    def get_all(
        self, scope: Scope, limit: Optional[int] = None, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The live units of `scope` that pass `filters`, oldest first, at most `limit` of them."""
        check_scope(scope)
        check_filters(filters)
        most = sql_limit(limit)
        where, params = live_where(scope, filters)
        checked = filters is not None and bool(filters.metadata)
        sql = f"SELECT {ITEM_COLUMNS} FROM lightmem_units WHERE {where} ORDER BY rowid LIMIT %s"
        bound = None if checked or most < 0 else most  # LIMIT NULL: no limit
        rows = self._run(lambda conn: conn.execute(sql, [*params, bound]).fetchall())
        items = [to_item(row) for row in rows]
        if filters is not None and checked:
            items = [item for item in items if filters.matches_metadata(item.metadata)]
        return items if limit is None else items[:limit]

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
        """`MemoryStore.update`: new text and vector and/or merged metadata, version + 1, history."""
        checked = check_update(text, vector, self.dim, scope, event, metadata, counts)
        new_vector = None if checked.vector is None else vector_param(checked.vector)

        def body(conn: Connection) -> MemoryItem:
            item = unit_rows.update_row(
                conn, memory_id, scope, text, new_vector, reason, event, metadata=checked.metadata
            )
            unit_rows.add_counts(conn, Scope(item.user_id, item.agent_id, item.run_id), checked.counts)
            return item

        return self._run(body)

    def delete(self, memory_id: str, scope: Optional[Scope] = None, reason: Optional[str] = None) -> None:
        """Delete a live unit (tombstone: its text stays for history). KeyError if absent or not in scope."""
        if scope is not None:
            check_scope(scope)
        self._run(lambda conn: unit_rows.delete_row(conn, memory_id, scope, reason))

    def delete_all(self, scope: Scope) -> int:
        """`MemoryStore.delete_all`: every live unit, buffered message and message id of `scope`."""
        where, params = scope_where(scope)

        def body(conn: Connection) -> int:
            # the buffer first: a flush holding some of its rows commits before this goes on, and the
            # statement below (a new snapshot) sees its units; their tombstones and history in one statement
            conn.execute(f"DELETE FROM lightmem_pending WHERE {where}", params)
            # message ids keep '' for a None id: the scope's condition (on its non-None ids) fits them
            conn.execute(f"DELETE FROM lightmem_message_ids WHERE {where}", params)
            cursor = conn.execute(
                "WITH gone AS (UPDATE lightmem_units SET deleted = true, updated_at = now() "
                f"WHERE NOT deleted AND {where} RETURNING rowid, id, text) "
                "INSERT INTO lightmem_history (memory_id, event, old_text, reason, created_at) "
                "SELECT id, 'DELETE', text, 'delete_all', now() FROM gone ORDER BY rowid",
                params,
            )
            return int(cursor.rowcount)

        return self._run(body)

    def reset(self) -> None:
        """Delete every unit (rows and all), all history, the whole buffer, every message id and counter,
        in one transaction (the buffer first, so that a flush holding some of its rows commits before
        the units are read)."""

        def body(conn: Connection) -> None:
            conn.execute("DELETE FROM lightmem_pending")  # first: see `delete_all`
            conn.execute("DELETE FROM lightmem_units")
            conn.execute("DELETE FROM lightmem_history")
            conn.execute("DELETE FROM lightmem_message_ids")
            conn.execute("DELETE FROM lightmem_counters")

        self._run(body)

    def history(self, memory_id: str, scope: Optional[Scope] = None) -> list[HistoryEntry]:
        """Every recorded change of a unit (deleted ones too), oldest first; [] if unknown or not in scope."""
        sql = (
            "SELECT memory_id, event, old_text, new_text, reason, created_at FROM lightmem_history "
            "WHERE memory_id = %s"
        )
        params: list[Any] = [memory_id]
        if scope is not None:
            where, scope_params = scope_where(scope)
            sql += f" AND EXISTS (SELECT 1 FROM lightmem_units WHERE id = %s AND {where})"
            params += [memory_id, *scope_params]
        rows = self._run(lambda conn: conn.execute(sql + " ORDER BY id", params).fetchall())
        return [HistoryEntry(m, e, old, new, r, t.astimezone(timezone.utc)) for m, e, old, new, r, t in rows]

    def count(self, scope: Optional[Scope] = None) -> int:
        """Number of live units, in `scope` or in the whole store."""
        where, params = ("TRUE", []) if scope is None else scope_where(scope)
        sql = f"SELECT COUNT(*) FROM lightmem_units WHERE NOT deleted AND {where}"
        return self._scalar(sql, params)

    def scopes(self) -> list[Scope]:
        """The distinct exact scopes that have live units."""
        sql = (
            "SELECT DISTINCT user_id, agent_id, run_id FROM lightmem_units WHERE NOT deleted ORDER BY 1, 2, 3"
        )
        return [Scope(*row) for row in self._run(lambda conn: conn.execute(sql).fetchall())]

    def add_counts(self, scope: Scope, counts: Mapping[str, int]) -> None:
        """Add `counts` to the lifetime counters of the exact `scope`, in one small transaction."""
        check_scope(scope)
        counted = check_counts(counts)
        if counted:
            self._run(lambda conn: unit_rows.add_counts(conn, scope, counted))

    def counters(self, scope: Optional[Scope] = None) -> dict[str, int]:
        """The lifetime counters (name -> total) of every exact scope `scope` covers, or of the store."""
        where, params = ("TRUE", []) if scope is None else scope_where(scope)
        sql = f"SELECT name, SUM(value) FROM lightmem_counters WHERE {where} GROUP BY name"
        return {
            name: int(total) for name, total in self._run(lambda conn: conn.execute(sql, params).fetchall())
        }

    def close(self) -> None:
        """Close the connection pool and release every claim; idempotent. Everything stored is in the
        database already."""
        self._claims.close()
        self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- search -----------------------------------------------------------------------------------

    def search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The `limit` live units of `scope` most similar to `vector` that pass `filters`, best first;
        `score`: cosine similarity."""
        check_search(scope, limit, filters)
        query = check_vector(vector, self.dim)
        hits = self._db.run(
            lambda conn: self._ranked(conn, query, live_where(scope, filters), filters, limit)
        )
        return [to_item(row, score) for row, score in hits]

    @property
    def has_keyword_index(self) -> bool:
        """Always True: PostgreSQL's full text search is built in."""
        return True

    def keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """The `limit` live units of `scope` passing `filters` that best match any of `keywords`, by BM25
        (see `search`: English stemming and stop words), scoring at least `min_score`, best first."""
        check_search(scope, limit, filters)
        terms = _terms(keywords)
        if not terms:
            return []
        hits = self._run(
            lambda conn: search.keyword_units(
                conn, terms, scope_where(scope), live_where(scope, filters), filters, limit, min_score
            )
        )
        return [to_item(row, score) for row, score in hits]

    def similarities(self, vector: np.ndarray, memory_ids: Sequence[str]) -> dict[str, float]:
        """The cosine similarity of `vector` to each live unit or buffered message among `memory_ids`."""
        query = check_vector(vector, self.dim)
        ids = list(memory_ids)

        def body(conn: Connection) -> dict[str, float]:
            rows = conn.execute(
                "SELECT id, 1 - (vector <=> %s::vector) FROM lightmem_units "
                "WHERE id = ANY(%s) AND NOT deleted",
                [vector_param(query), ids],
            )
            return {**{str(i): float(s) for i, s in rows}, **buffer.cosines(conn, query, ids)}

        return self._run(body)

    def neighbors_batch(
        self, vectors: np.ndarray, scope: Scope, k: int, exact_scope: bool = True
    ) -> list[list[tuple[MemoryItem, float]]]:
        """For each row of `vectors`, its `k` nearest live units of `scope`, best first, as (item, cosine);
        `exact_scope`: a None id matches only units without that id. The items carry no `score`."""
        check_scope(scope)
        check_limit(k, "k")
        queries = check_vectors(vectors, self.dim, None, "vectors")
        condition = live_where(scope, None, exact=exact_scope)

        def body(conn: Connection) -> list[list[tuple[MemoryItem, float]]]:
            return [
                [(to_item(row), score) for row, score in self._ranked(conn, query, condition, None, k)]
                for query in queries
            ]

        return self._run(body)

    def _ranked(
        self,
        conn: Connection,
        query: np.ndarray,
        condition: tuple[str, list[Any]],
        filters: Optional[SearchFilters],
        limit: int,
    ) -> list[tuple[Sequence[Any], float]]:
        return search.ranked(
            conn,
            query,
            condition,
            filters,
            limit,
            oversample=self._oversample,
            exact_scan_max=self._exact_scan_max,
        )

    # --- short-term buffer ------------------------------------------------------------------------

    def pending_add(
        self,
        scope: Scope,
        messages: Sequence[dict[str, Any]],
        words: Sequence[int],
        vectors: Optional[np.ndarray] = None,
        counts: Optional[Mapping[str, int]] = None,
    ) -> list[int]:
        """`MemoryStore.pending_add`: each message id once per exact scope, across every machine."""
        rows, counted = check_pending_add(
            scope, messages, words, vectors, self.dim, counts, encode_message=jsonb_text
        )

        def body(conn: Connection) -> list[int]:
            stored = []
            for pending in rows:
                message_id, digest = pending.key
                if message_id is None or unit_rows.record_message(conn, scope, message_id, digest):
                    vector = None if pending.vector is None else vector_param(pending.vector)
                    values = [scope.user_id, scope.agent_id, scope.run_id, pending.message_json]
                    row = conn.execute(
                        "INSERT INTO lightmem_pending (user_id, agent_id, run_id, message, words, "
                        "created_at, vector) VALUES (%s, %s, %s, %s::jsonb, %s, now(), %s::vector) "
                        "RETURNING rowid",
                        [*values, pending.words, vector],
                    ).fetchone()
                    stored.append(int(row[0]) if row else 0)
            unit_rows.add_counts(conn, scope, counted)
            return stored

        stored = self._run(body)
        log_skipped(len(stored), len(rows), scope)
        return stored

    def pending_list(self, scope: Scope) -> list[tuple[int, dict[str, Any]]]:
        """(pending id, message) of the exact `scope`, in insertion order."""
        where, params = exact_scope_where(scope)
        return self._run(lambda conn: buffer.pending_rows(conn, where, params))

    def pending_vectors(self, pending_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The turn embeddings stored with these pending rows (rows buffered without one are left out)."""
        return self._run(lambda conn: buffer.vectors_by_id(conn, pending_ids, self.dim))

    def pending_search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The `limit` buffered messages of `scope` passing `filters` most similar to `vector`."""
        check_search(scope, limit, filters)
        query = check_vector(vector, self.dim)
        return self._run(lambda conn: buffer.by_meaning(conn, query, scope, limit, filters))

    def pending_keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """`keyword_search` over the buffered messages of `scope` (the same BM25), marked `pending`."""
        check_search(scope, limit, filters)
        terms = _terms(keywords)
        if not terms:
            return []
        return self._run(lambda conn: buffer.by_keywords(conn, terms, scope, limit, filters, min_score))

    def pending_words(self, scope: Scope) -> int:
        """Total words buffered for the exact `scope`."""
        where, params = exact_scope_where(scope)
        sql = f"SELECT COALESCE(SUM(words), 0) FROM lightmem_pending WHERE {where}"
        return self._scalar(sql, params)

    def pending_count(self, scope: Optional[Scope] = None) -> int:
        """Number of buffered messages of every exact scope `scope` covers, or of the whole store."""
        where, params = ("TRUE", []) if scope is None else scope_where(scope)
        sql = f"SELECT COUNT(*) FROM lightmem_pending WHERE {where}"
        return self._scalar(sql, params)

    def pending_scopes(self) -> list[Scope]:
        """The exact scopes that have buffered messages."""
        sql = "SELECT DISTINCT user_id, agent_id, run_id FROM lightmem_pending ORDER BY 1, 2, 3"
        return [Scope(*row) for row in self._run(lambda conn: conn.execute(sql).fetchall())]

    # --- sleep-time support -----------------------------------------------------------------------

    def unconsolidated(
        self, scope: Optional[Scope] = None, limit: Optional[int] = None
    ) -> list[tuple[MemoryItem, np.ndarray]]:
        """Live units not yet looked at by consolidation (oldest first), with their stored vectors."""
        where, params = ("TRUE", []) if scope is None else scope_where(scope)
        most = sql_limit(limit)
        sql = (
            f"SELECT {ITEM_COLUMNS}, vector::real[] FROM lightmem_units "
            f"WHERE NOT consolidated AND NOT deleted AND {where} ORDER BY rowid LIMIT %s"
        )
        bound = None if most < 0 else most
        rows = self._run(lambda conn: conn.execute(sql, [*params, bound]).fetchall())
        matrix = to_matrix([row[-1] for row in rows], self.dim)
        return [(to_item(row), vector) for row, vector in zip(rows, matrix)]

    def vectors(self, memory_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of live units, (n, dim) float32 in the given order; KeyError naming the
        ids that are unknown or deleted."""
        ids = list(memory_ids)
        sql = "SELECT id, vector::real[] FROM lightmem_units WHERE id = ANY(%s) AND NOT deleted"
        found: dict[str, Any] = dict(self._run(lambda conn: conn.execute(sql, [sorted(set(ids))]).fetchall()))
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no live memory units with ids {missing}")
        return to_matrix([found[i] for i in ids], self.dim)

    def apply_changes(self, changes: Sequence[Change], scope: Optional[Scope] = None) -> None:
        """`MemoryStore.apply_changes` in ONE transaction; the versions are checked with the units locked,
        so that no concurrent writer on any machine can slip a change in between."""
        changes, vectors = check_apply_changes(changes, scope, self.dim)
        new_vectors = [None if vector is None else vector_param(vector) for vector in vectors]
        if not changes:
            return

        def body(conn: Connection) -> None:
            unit_rows.check_changes(conn, changes, scope)
            for change, vector in zip(changes, new_vectors):
                unit_rows.apply_change(conn, change, vector)

        self._run(body)

    # --- claims -----------------------------------------------------------------------------------

    def claim(self, job: str, scope: Scope, *, wait: bool = False) -> AbstractContextManager[bool]:
        """Hold `job` ('flush' or 'consolidate') of the exact `scope` for a `with` block, across every
        process and machine: the block gets True when it holds the claim, False when another holder has
        it (`wait` True: waits for it). A killed holder's claim is released with its connection."""
        return self._claims.claim(job, scope, wait)

    def _run(self, body: Callable[[Connection], T]) -> T:
        """`body(conn)` in a transaction; StoreError once the store is closed."""
        if self._db.closed:
            raise StoreError(f"the store at {self.location} is closed; open a new store")
        return self._db.run(body)

    def _scalar(self, sql: str, params: Sequence[Any]) -> int:
        """The integer that the one-row, one-column query `sql` gives."""
        row = self._run(lambda conn: conn.execute(sql, params).fetchone())
        return 0 if row is None else int(row[0])


def _terms(keywords: Sequence[str]) -> list[str]:
    """The distinct non-blank keywords; ValueError unless `keywords` is a sequence of strings."""
    if isinstance(keywords, str) or not all(isinstance(k, str) for k in keywords):
        raise ValueError("keywords must be a sequence of strings")
    return list(dict.fromkeys(k.strip() for k in keywords if k.strip()))
