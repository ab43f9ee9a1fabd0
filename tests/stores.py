"""The store kinds the behavioural tests run against: every implementation of `MemoryStore`.

A test about the contract (not about one implementation's files) takes the `store_kind` fixture, or
`store_location` (a fresh, empty location for `open_store` and `Memory`) built from it, and runs once
per kind. A new kind is one more `StoreKind` in `STORE_KINDS`: how to make a fresh location (and remove
it), why it cannot start here (the tests skip with that reason), and its own consistency check.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pg_server
from lightmem.store import MemoryStore, SQLiteStore, open_store
from lightmem.types import ExtractedUnit, Scope


def _available() -> Optional[str]:
    return None


def _consistent(store: MemoryStore) -> bool:
    return True


@dataclass(frozen=True)
class StoreKind:
    """One implementation of `MemoryStore`, as the tests make and check it."""

    name: str
    location: Callable[[Path], AbstractContextManager[str]]
    """A fresh, empty store location (a directory or a URL) from an empty scratch directory; the
    context removes whatever the location holds outside that directory on exit."""
    unavailable: Callable[[], Optional[str]] = _available
    """Why this kind cannot start here (the tests skip with that reason), or None."""
    check: Callable[[MemoryStore], bool] = _consistent
    """The implementation's own consistency check of an open store (True: consistent)."""


@contextmanager
def _directory(scratch: Path) -> Iterator[str]:
    yield str(scratch / "store")


def _index_agrees(store: MemoryStore) -> bool:
    assert isinstance(store, SQLiteStore)
    return store.check_index()


SQLITE = StoreKind("sqlite", _directory, check=_index_agrees)
"""SQLite + usearch in a directory; its check: the vector index holds exactly the live units."""


@contextmanager
def _postgres_schema(scratch: Path) -> Iterator[str]:
    server, reason = pg_server.shared_server()
    assert server is not None, reason
    url = server.fresh_url()
    try:
        yield url
    finally:
        server.drop(url)


def _postgres_unavailable() -> Optional[str]:
    return pg_server.shared_server()[1] or None


POSTGRES = StoreKind("postgres", _postgres_schema, unavailable=_postgres_unavailable)
"""PostgreSQL + pgvector: a fresh schema on the test process's server (`pg_server.shared_server`),
dropped after the test."""

STORE_KINDS: tuple[StoreKind, ...] = (SQLITE, POSTGRES)


# --- what the store tests share -------------------------------------------------------------------------

DIM = 16
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def opened(location: str, dim: int = DIM) -> closing[MemoryStore]:
    """The store at `location`, closed at the end of a `with` block."""
    return closing(open_store(location, dim))


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def units(*texts: str) -> list[ExtractedUnit]:
    return [ExtractedUnit(text, (f"D1:{i}",)) for i, text in enumerate(texts, 1)]


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(vectors @ (query / np.linalg.norm(query))), kind="stable")[:k])
