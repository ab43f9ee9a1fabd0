"""The SQL pieces every part of the PostgreSQL store shares: scope and filter conditions (built from the
SQLite store's, with PostgreSQL's placeholders), the item columns in the order `rows.to_item` reads, and
vectors as parameters and results."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from psycopg.adapt import Dumper
from psycopg.pq import Format

from lightmem.store.codec import NUL_ESCAPE, encode_json
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import check_scope, scope_sql
from lightmem.types import Scope

_SCOPE_COLUMNS = ("user_id", "agent_id", "run_id")


def iso(column: str) -> str:
    """`column` (timestamptz) as `codec.encode_time` writes times: fixed-width ISO 8601 UTC text."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


ITEM_COLUMNS = (
    f"rowid, id, text, user_id, agent_id, run_id, {iso('created_at')}, {iso('updated_at')}, "
    f"{iso('event_time')}, topic, source::text, metadata::text, version"
)
"""The columns of `lightmem_units` that `rows.to_item` reads, in its order and its encodings."""


def placeholders(sql: str) -> str:
    """SQL written for sqlite3 (`?`) with psycopg's placeholders (`%s`)."""
    return sql.replace("?", "%s")


def scope_where(scope: Scope) -> tuple[str, list[Any]]:
    """The units (or buffered messages) of `scope`, a None id matching any value (`rows.scope_sql`)."""
    where, params = scope_sql(check_scope(scope))
    return placeholders(where), params


def exact_scope_where(scope: Scope) -> tuple[str, list[Any]]:
    """Exactly `scope`: a None id matches only NULL (written so that the scope indexes serve it)."""
    check_scope(scope)
    clauses, params = [], []
    for column in _SCOPE_COLUMNS:
        value = getattr(scope, column)
        if value is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"{column} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def live_where(
    scope: Scope, filters: Optional[SearchFilters] = None, *, exact: bool = False
) -> tuple[str, list[Any]]:
    """Live units of `scope` (exactly, if `exact`) passing the time bounds of `filters`."""
    where, params = exact_scope_where(scope) if exact else scope_where(scope)
    clauses, filter_params = filters.sql() if filters is not None else ([], [])
    return " AND ".join(["NOT deleted", where, *map(placeholders, clauses)]), [*params, *filter_params]


def scope_key(scope: Scope) -> list[str]:
    """The scope's ids as the key columns of the message ids and counters ('' for None)."""
    return [getattr(scope, c) or "" for c in _SCOPE_COLUMNS]


class VectorParam:
    """A vector as a query parameter: sent in pgvector's binary form (see `VectorDumper`), so that a
    statement takes it as `%s::vector`."""

    __slots__ = ("array",)

    def __init__(self, vector: np.ndarray) -> None:
        self.array = vector


class VectorDumper(Dumper):
    """pgvector's binary input (dimension and a zero as big-endian int16, then big-endian float32s) of a
    `VectorParam`; its type is left to the statement's `::vector` cast (oid 0), since the extension's oid
    differs between databases."""

    format = Format.BINARY
    oid = 0

    def dump(self, obj: Any) -> bytes:
        array = np.asarray(obj.array, dtype=">f4")
        return struct.pack(">HH", array.shape[0], 0) + array.tobytes()


def vector_param(vector: np.ndarray) -> VectorParam:
    """`vector` as a parameter of a statement that casts it `::vector`."""
    return VectorParam(vector)


def to_matrix(values: Sequence[Any], dim: int) -> np.ndarray:
    """An (n, dim) float32 matrix from `vector::real[]` results."""
    if not values:
        return np.empty((0, dim), dtype=np.float32)
    return np.asarray(values, dtype=np.float32).reshape(len(values), dim)


def jsonb_text(value: Any, name: str) -> str:
    """`codec.encode_json` of `value`; ValueError naming `name` if it holds a NUL character, which
    PostgreSQL's jsonb (and text) cannot store."""
    text = encode_json(value, name)
    if NUL_ESCAPE.search(text):
        raise ValueError(f"{name} holds a NUL character (\\u0000), which PostgreSQL cannot store: remove it")
    return text
