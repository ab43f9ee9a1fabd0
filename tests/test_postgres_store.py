"""What only the PostgreSQL store has to prove, against a real PostgreSQL with pgvector (see `pg_server`):
NUL characters and over-long ids, BM25 against FTS5's, its schema, its URL's password. The store
contract itself runs on it through the `store_kind` fixture (test_store.py and the behavioural suite)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import psycopg
import pytest
from lightmem.store import SQLiteStore, StoreError
from lightmem.store.postgres.store import PostgresStore
from lightmem.types import MemoryItem
from stores import ALICE, DIM, unit_vectors, units


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    """A PostgresStore on a fresh schema."""
    with PostgresStore(postgres_url, DIM) as s:
        yield s


def test_a_nul_character_is_a_value_error_naming_the_argument(store: PostgresStore) -> None:
    """PostgreSQL's text and jsonb cannot hold NUL: a clear ValueError, nothing stored (the driver's
    own error named no argument)."""
    scope, vectors = ALICE, unit_vectors(1)
    with pytest.raises(ValueError, match=r"metadata holds a NUL character"):
        store.add(scope, units("Alice likes tea"), vectors, metadata={"k": "a\x00b"})
    with pytest.raises(ValueError, match=r"messages\[0\] holds a NUL character"):
        store.pending_add(scope, [{"role": "user", "content": "x", "name": "a\x00"}], [1])
    with pytest.raises(ValueError, match="NUL"):
        store.add(scope, units("Alice likes \x00 tea"), vectors)
    (kept,) = store.add(scope, units("Alice likes tea"), vectors, metadata={"k": "\\u0000"})
    assert kept.metadata == {"k": "\\u0000"} and store.count() == 1 and store.pending_count() == 0


KEYWORD_TEXTS = [
    "Maya runs a marathon in Paris every spring",
    "Tom is running late for the train",
    "Maya's dog Miso loves the beach",
    "The garden has tomatoes and garlic",
    "Tom plays the violin at concerts",
    "The bakery sells great coffee",
    "Maya ran the Lyon marathon",
]


def test_keyword_scores_follow_the_sqlite_store_bm25(store: PostgresStore, tmp_path: Path) -> None:
    """The same units and buffered message in both stores: the same hits in the same order (stemming:
    'running' finds 'runs'), scores within 15% of FTS5's BM25 (they differ by the document length
    measure and statistics, see `lightmem.store.postgres.search`), a stop word alone finds nothing."""
    scope, message = ALICE, {"id": "p1", "role": "user", "content": "another marathon soon"}
    vectors = unit_vectors(len(KEYWORD_TEXTS))
    with SQLiteStore(tmp_path / "mem", DIM) as sqlite:
        for each in (store, sqlite):
            each.add(scope, units(*KEYWORD_TEXTS), vectors)
            each.pending_add(scope, [message], [3])
        for keywords in (["marathon"], ["running"], ["tom", "violin"], ["coffee", "bakery", "paris"]):
            ours = store.keyword_search(keywords, scope, 5) + store.pending_keyword_search(keywords, scope, 5)
            fts5 = sqlite.keyword_search(keywords, scope, 5) + sqlite.pending_keyword_search(
                keywords, scope, 5
            )
            assert [hit.text for hit in ours] == [hit.text for hit in fts5]
            assert [hit.score for hit in ours] == pytest.approx([hit.score for hit in fts5], rel=0.15)
    assert store.keyword_search(["the"], scope, 5) == []


def test_the_schema_is_created_once_by_concurrent_opens_and_checked_on_open(postgres_url: str) -> None:
    code = (
        "import sys; from lightmem.store.postgres.store import PostgresStore; "
        f"PostgresStore(sys.argv[1], {DIM}).close()"
    )
    openers = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE) for _ in range(4)
    ]
    assert all(p.wait(timeout=60) == 0 for p in openers), [p.stderr.read() for p in openers if p.stderr]
    with PostgresStore(postgres_url, DIM) as store:
        store.add(ALICE, units("kept"), unit_vectors(1))
    with pytest.raises(StoreError, match="dimension 16 but dimension 8 was requested"):
        PostgresStore(postgres_url, 8)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE lightmem_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99 but this lightmem supports up to 1"):
        PostgresStore(postgres_url, DIM)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE lightmem_meta SET value = '1' WHERE key = 'schema_version'")
        assert conn.execute("SELECT COUNT(*) FROM lightmem_units").fetchone() == (
            1,
        )  # refusals touch nothing


def test_the_password_never_shows_in_reprs(postgres_url: str) -> None:
    url = postgres_url.replace("postgres:@", "postgres:pw-4242@")  # the test server trusts local users
    with PostgresStore(url, DIM) as store:
        assert "pw-4242" not in repr(store) and "pw-4242" not in store.location


def _wait_for_lock_waits(url: str, count: int) -> None:
    """Until `count` statements of the server wait for a lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(500):
            row = conn.execute("SELECT COUNT(*) FROM pg_locks WHERE NOT granted").fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"fewer than {count} statements wait for a lock")


def _during_a_flush(store: PostgresStore, url: str, delete: Callable[[], object]) -> MemoryItem:
    """Run `delete` in a thread while a flush (an `add` taking ALICE's one pending row) holds that row,
    paused by a table lock before it commits, until `delete` waits for the row; the flush's unit."""
    (pending_id,) = store.pending_add(ALICE, [{"id": "m1", "role": "user", "content": "I like tea"}], [3])
    added: list[MemoryItem] = []

    def flush() -> None:
        vectors = unit_vectors(1)
        added.extend(
            store.add(ALICE, units("Alice likes tea"), vectors, pending_ids=[pending_id], counts={"x": 1})
        )

    with psycopg.connect(url) as blocker:
        blocker.execute("LOCK TABLE lightmem_counters IN EXCLUSIVE MODE")  # the flush stops at its counts
        threads = [threading.Thread(target=flush), threading.Thread(target=delete)]
        threads[0].start()
        _wait_for_lock_waits(url, 1)  # the flush took the pending row, then waits
        threads[1].start()
        _wait_for_lock_waits(url, 2)  # the delete waits for the flush's pending row
        blocker.rollback()
    for thread in threads:
        thread.join(timeout=10)
    (unit,) = added
    return unit


def test_a_delete_all_waiting_for_a_flush_deletes_its_units_with_their_history(
    store: PostgresStore, postgres_url: str
) -> None:
    """A flush holds the scope's buffered row when `delete_all` comes: the delete waits for it, then
    deletes the flush's units too, each with its DELETE in history (the history rows were written from a
    read made before the wait, which missed them)."""
    deleted: list[int] = []
    unit = _during_a_flush(store, postgres_url, lambda: deleted.append(store.delete_all(ALICE)))
    assert deleted == [1] and store.count(ALICE) == 0 and store.pending_count() == 0
    assert [entry.event for entry in store.history(unit.id)] == ["ADD", "DELETE"]


def test_a_reset_waiting_for_a_flush_deletes_its_units(store: PostgresStore, postgres_url: str) -> None:
    """As for `delete_all`: a reset that waited for a flush's pending row leaves none of its units (its
    units were deleted from a read made before the wait, which missed them, so they survived)."""
    unit = _during_a_flush(store, postgres_url, store.reset)
    assert store.count() == 0 and store.get(unit.id) is None and store.history(unit.id) == []
