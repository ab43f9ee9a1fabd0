"""Tests particular to the SQLite + usearch store (`SQLiteStore`): a real SQLite file in tmp_path and a
real usearch index beside it; planner options, the index file, FTS5, locks, schema migrations, damage.
(The behavioural contract every store keeps is tested in test_store.py.)"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lightmem.store import (
    Change,
    SearchFilters,
    SQLiteStore,
    StoreError,
    buffer_search,
    schema,
)
from lightmem.store.vector_index import VectorIndex
from lightmem.types import Scope
from stores import ALICE, BOB, DIM, brute_force, unit_vectors, units
from usearch.index import Index


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "mem", DIM) as s:
        yield s


EXACT_SCAN = {"exact_scan_max": 4096, "oversample": 1}
"""Store options under which the small scopes of the tests below are scanned exactly."""
INDEX_ONLY = {"exact_scan_max": 0}


@pytest.mark.parametrize("options", [EXACT_SCAN, INDEX_ONLY], ids=["exact", "index"])
def test_neighbors_batch_matches_brute_force(tmp_path: Path, options: dict[str, int]) -> None:
    vectors, other = unit_vectors(600, seed=1), unit_vectors(300, seed=2)
    with SQLiteStore(tmp_path, DIM, **options) as store:
        items = store.add(ALICE, units(*(f"a{i}" for i in range(600))), vectors)
        store.add(BOB, units(*(f"b{i}" for i in range(300))), other)
        gone = {items[i].id for i in range(0, 600, 7)}
        store.apply_changes([Change(kind="delete", memory_id=memory_id) for memory_id in gone])
        live = [i for i, item in enumerate(items) if item.id not in gone]
        queries = np.concatenate([vectors[:300], unit_vectors(300, seed=3)])  # > one chunk of queries
        found = store.neighbors_batch(queries * 2.0, ALICE, 5)
    assert len(found) == len(queries)
    position = {item.id: i for i, item in enumerate(items)}
    hits = 0
    for query, pairs in zip(queries, found):
        expected = [items[live[i]].id for i in brute_force(vectors[live], query, 5)]
        hits += len({item.id for item, _ in pairs} & set(expected))
        assert len(pairs) == 5 and all(item.id not in gone and item.user_id == "alice" for item, _ in pairs)
        similarities = [s for _, s in pairs]
        assert similarities == sorted(similarities, reverse=True)
        assert similarities == pytest.approx(
            [float(vectors[position[i.id]] @ query) for i, _ in pairs], abs=1e-5
        )
    assert hits / (5 * len(queries)) >= (1.0 if options is EXACT_SCAN else 0.95)
    assert found[1][0][0].id == items[1].id and found[1][0][1] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("options", [EXACT_SCAN, INDEX_ONLY], ids=["exact", "index"])
def test_neighbors_batch_exact_scope(tmp_path: Path, options: dict[str, int]) -> None:
    vectors = unit_vectors(90)
    with SQLiteStore(tmp_path, DIM, **options) as store:
        own = store.add(ALICE, units(*(f"own {i}" for i in range(30))), vectors[:30])
        agent = store.add(Scope("alice", "bot"), units(*(f"bot {i}" for i in range(30))), vectors[30:60])
        store.add(BOB, units(*(f"bob {i}" for i in range(30))), vectors[60:])
        exact = store.neighbors_batch(vectors[[0, 30]], ALICE, 100)
        loose = store.neighbors_batch(vectors[[0, 30]], ALICE, 100, exact_scope=False)
        agent_only = store.neighbors_batch(vectors[[0]], Scope("alice", "bot"), 3)
        assert store.neighbors_batch(np.empty((0, DIM), np.float32), ALICE, 3) == []
    assert [{i.id for i, _ in pairs} for pairs in exact] == [{i.id for i in own}] * 2
    assert [{i.id for i, _ in pairs} for pairs in loose] == [{i.id for i in own + agent}] * 2
    assert all(item.agent_id == "bot" for item, _ in agent_only[0]) and len(agent_only[0]) == 3


def test_vector_index_searches_many_queries_at_once() -> None:
    index = VectorIndex(DIM)
    assert [a.shape for a in index.search(unit_vectors(2), 3)] == [(2, 0), (2, 0)]
    vectors = unit_vectors(5)
    index.apply(np.arange(10, 15, dtype=np.int64), vectors, np.empty(0, dtype=np.int64))
    keys, similarities = index.search(vectors[[3, 1]], 8)  # more than the index holds: exhaustive
    assert keys.shape == similarities.shape == (2, 5) and keys[:, 0].tolist() == [13, 11]
    assert similarities[:, 0] == pytest.approx([1.0, 1.0], abs=1e-5)
    (one,), _ = index.search(vectors[[4]], 2)
    assert one.tolist()[0] == 14 and len(one) == 2


def test_index_search_with_metadata_filter_scores_exactly(tmp_path: Path) -> None:
    vectors = unit_vectors(200, seed=4)
    with SQLiteStore(tmp_path, DIM, exact_scan_max=0) as store:  # the index path, never a scan
        items = []
        for i in range(0, 200, 50):
            texts = units(*(f"u{j}" for j in range(i, i + 50)))
            items += store.add(ALICE, texts, vectors[i : i + 50], {"odd": i % 100 == 50})
        query = unit_vectors(1, seed=5)[0]
        hits = store.search(query, ALICE, 5, SearchFilters(metadata={"odd": True}))
    position = {item.id: i for i, item in enumerate(items)}
    odd = [i for i, item in enumerate(items) if item.metadata["odd"]]
    assert len(hits) == 5 and all(h.metadata == {"odd": True} for h in hits)
    assert [h.score for h in hits] == pytest.approx([vectors[position[h.id]] @ query for h in hits], abs=1e-5)
    assert [h.score for h in hits] == sorted([h.score for h in hits], reverse=True)  # type: ignore[type-var]
    best = {items[odd[i]].id for i in brute_force(vectors[odd], query, 5)}
    assert len(best & {h.id for h in hits}) >= 4  # an approximate index may miss one


def test_without_fts5_there_is_no_keyword_index_until_a_python_with_it_opens_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as without_fts5:
        without_fts5.setattr(schema, "has_fts5", lambda conn: False)
        with SQLiteStore(tmp_path, DIM) as store:
            assert not store.has_keyword_index
            store.add(ALICE, units("Maya plays chess"), unit_vectors(1))
            assert store.keyword_search(["chess"], ALICE, 5) == []
            assert [h.text for h in store.search(unit_vectors(1)[0], ALICE, 5)] == ["Maya plays chess"]
    with SQLiteStore(tmp_path, DIM) as store:  # FTS5 again: the index is built from the units
        assert store.has_keyword_index
        assert [h.text for h in store.keyword_search(["chess"], ALICE, 5)] == ["Maya plays chess"]
    with monkeypatch.context() as without_fts5:
        without_fts5.setattr(schema, "has_fts5", lambda conn: False)
        with pytest.raises(StoreError, match="lacks FTS5"):  # its triggers would fail every write
            SQLiteStore(tmp_path, DIM)


def test_small_scope_among_many_rows_gets_exact_results(tmp_path: Path) -> None:
    big, small = unit_vectors(2000, seed=1), unit_vectors(20, seed=2)
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(Scope(user_id="big"), units(*(f"b{i}" for i in range(2000))), big)
        items = store.add(Scope(user_id="small"), units(*(f"s{i}" for i in range(20))), small)
    for exact_scan_max in (4096, 0):  # an exact scan, then the index with growing candidate sets
        with SQLiteStore(tmp_path, DIM, exact_scan_max=exact_scan_max) as store:
            for query in unit_vectors(5, seed=3):
                hits = store.search(query, Scope(user_id="small"), 5)
                assert [h.id for h in hits] == [items[i].id for i in brute_force(small, query, 5)]


def test_saved_index_catches_up_with_later_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with SQLiteStore(tmp_path, DIM) as store:
        first = store.add(ALICE, units("a", "b"), unit_vectors(2))
    names = ["index.usearch", "index.usearch.json"]
    for name in names:  # keep the files as they are (a rename keeps the inode their record names)
        os.replace(tmp_path / name, tmp_path / f"{name}.old")
    with SQLiteStore(tmp_path, DIM) as store:
        store.delete(first[0].id)
        (late,) = store.add(ALICE, units("c"), unit_vectors(1, seed=4))
    for name in names:  # put back the index saved before the delete and the add
        os.replace(tmp_path / f"{name}.old", tmp_path / name)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lightmem"), SQLiteStore(tmp_path, DIM) as store:
        assert store.check_index()
        assert store.search(unit_vectors(1, seed=4)[0], ALICE, 1)[0].id == late.id
    assert not caplog.records


def _damage_missing(index: Path, store_id: str) -> None:
    index.unlink()


def _damage_truncated(index: Path, store_id: str) -> None:
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


def _damage_garbage(index: Path, store_id: str) -> None:
    index.write_bytes(b"not an index" * 100)


def _damage_other_dim(index: Path, store_id: str) -> None:
    VectorIndex(DIM * 2).save(index, store_id)  # a consistent file and record, of another dimension


def _damage_float32(index: Path, store_id: str) -> None:
    VectorIndex(DIM, Index(ndim=DIM, metric="cos", dtype="f32")).save(index, store_id)  # an older lightmem's


def _damage_record(index: Path, store_id: str) -> None:
    index.with_name("index.usearch.json").write_text("{")


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_damage_missing, "missing"),
        (_damage_truncated, "record"),
        (_damage_garbage, "record"),
        (_damage_other_dim, "dimension"),
        (_damage_float32, "not cosine over I8"),
        (_damage_record, "record"),
    ],
)
def test_damaged_index_file_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage, said
) -> None:
    vectors = unit_vectors(12)
    with SQLiteStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"f{i}" for i in range(12))), vectors)
    store_id = sqlite3.connect(tmp_path / "memory.db").execute("SELECT value FROM meta WHERE key='store_id'")
    damage(tmp_path / "index.usearch", store_id.fetchone()[0])
    with caplog.at_level(logging.WARNING, logger="lightmem"), SQLiteStore(tmp_path, DIM) as store:
        assert store.check_index()
        assert store.search(vectors[5], ALICE, 3)[0].id == items[5].id
    (record,) = [r for r in caplog.records if r.name == "lightmem"]
    assert record.levelno == logging.WARNING and "rebuilding" in record.message and said in record.message
    with caplog.at_level(logging.WARNING, logger="lightmem"), SQLiteStore(tmp_path, DIM):
        pass  # the rebuilt index was saved: no second rebuild
    assert len(caplog.records) == 1


def test_corrupt_index_with_matching_record_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("a", "b"), unit_vectors(2))
    index = tmp_path / "index.usearch"
    size = index.stat().st_size
    with index.open("r+b") as f:  # same inode and size, contents destroyed
        f.write(b"\0" * size)
    with caplog.at_level(logging.WARNING, logger="lightmem"), SQLiteStore(tmp_path, DIM) as store:
        assert store.check_index()
    assert "rebuilding" in caplog.text


def test_index_damaged_inside_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    """Bytes overwritten inside the graph (same inode, same size) used to pass every file check and
    make usearch crash the process (SIGSEGV, or "Out of memory!") on this and every later open; the
    victim runs in a child process so that a crash fails the test instead of killing pytest."""
    vectors = unit_vectors(300)
    with SQLiteStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"f{i}" for i in range(300))), vectors)
    index = tmp_path / "index.usearch"
    size = index.stat().st_size
    with index.open("r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(1).bytes(size // 4))
    child = (
        "import logging, sys, numpy as np\n"
        "from lightmem.store import SQLiteStore\n"
        "from lightmem.types import Scope\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "query = np.load(sys.argv[3])\n"
        "with SQLiteStore(sys.argv[1], int(sys.argv[2])) as store:\n"
        "    print(store.search(query, Scope(user_id='alice'), 1)[0].id, store.check_index())\n"
    )
    np.save(tmp_path / "query.npy", vectors[7])
    logs = []
    for attempt in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path), str(DIM), str(tmp_path / "query.npy")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{attempt} open: exit {done.returncode}\n{done.stderr[-2000:]}"
        assert done.stdout.split() == [items[7].id, "True"]
        logs.append(done.stderr)
    assert "rebuilding the vector index" in logs[0] and "checksum" in logs[0]
    assert logs[1] == ""  # the rebuilt index was saved on close and loads as it is


def test_rebuild_index_keeps_everything(store: SQLiteStore) -> None:
    items = store.add(ALICE, units("a", "b", "c"), unit_vectors(3))
    store.delete(items[1].id)
    store.rebuild_index()
    assert store.check_index()
    assert {h.id for h in store.search(unit_vectors(3)[0], ALICE, 5)} == {items[0].id, items[2].id}


def test_write_waits_for_a_lock_held_past_busy_timeout(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path, DIM, busy_timeout=0.05) as store:
        other = sqlite3.connect(tmp_path / "memory.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.15, lambda: other.execute("COMMIT"))
        releaser.start()
        start = time.monotonic()
        store.add(ALICE, units("a"), unit_vectors(1))  # fails once, then retried after the backoff
        assert time.monotonic() - start >= 0.15 and store.count() == 1
        releaser.join()
        other.close()


def test_lock_that_never_clears_raises_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "_LOCK_BACKOFF_S", (0.01, 0.01))
    with SQLiteStore(tmp_path, DIM, busy_timeout=0.02) as store:
        other = sqlite3.connect(tmp_path / "memory.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            store.add(ALICE, units("a"), unit_vectors(1))
        other.execute("ROLLBACK")
        other.close()
        assert store.count() == 0


def _schema_2_file(path: Path, rows: list[tuple[str, dict[str, str]]]) -> None:
    """A store in `path` as lightmem wrote schema 2: no table of message ids, no turn vectors in the
    buffer nor buffered messages in the keyword index, and `rows` (user id, message) in its buffer,
    duplicated ids included."""
    SQLiteStore(path, DIM).close()
    with sqlite3.connect(path / "memory.db") as conn:
        conn.execute("DROP TABLE IF EXISTS message_ids")
        conn.execute("DROP TRIGGER pending_text_insert")
        conn.execute("DROP TRIGGER pending_text_delete")
        conn.execute("ALTER TABLE pending DROP COLUMN vector")
        conn.executemany(
            "INSERT INTO pending (user_id, message, words, created_at) VALUES (?, ?, 1, '2024-01-01')",
            [(user, json.dumps(message)) for user, message in rows],
        )
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()


def test_schema_2_file_with_a_jammed_buffer_is_repaired_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A retried add once buffered an id twice (every extraction of the scope then failed). Opening the
    file keeps the first copy, keeps a different message under a new id, and remembers the ids."""
    r1, r2, other = {"id": "r1", "content": "a"}, {"id": "r2", "content": "b"}, {"id": "r1", "content": "c"}
    rows = [("alice", r1), ("alice", r2), ("alice", r1), ("bob", r1), ("alice", other), ("alice", r2)]
    _schema_2_file(tmp_path, rows)
    with caplog.at_level(logging.WARNING, logger="lightmem"), SQLiteStore(tmp_path, DIM) as store:
        kept = [m for _, m in store.pending_list(ALICE)]
        assert kept[:2] == [r1, r2] and len(kept) == 3
        assert kept[2]["content"] == "c" and kept[2]["id"] not in ("r1", "r2")
        assert [m for _, m in store.pending_list(BOB)] == [r1]
        assert store.pending_add(ALICE, [r1, r2, kept[2]], [1, 1, 1]) == []
        assert store.pending_add(BOB, [r1], [1]) == []
    assert "'r1'" in caplog.text and repr(kept[2]["id"]) in caplog.text
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(schema.SCHEMA_VERSION),)


def test_stores_opening_an_old_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    """Several openers race to migrate: one does, the others find it done (a second migration would
    take every buffered message for a retry of itself and drop it)."""
    messages = [{"id": f"m{i}", "content": f"message {i}"} for i in range(20)]
    _schema_2_file(tmp_path, [("alice", m) for m in messages] + [("alice", messages[0])])
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            start.wait()
            SQLiteStore(tmp_path, DIM).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SQLiteStore(tmp_path, DIM) as store:
        assert [m for _, m in store.pending_list(ALICE)] == messages


def test_buffer_search_skips_a_message_flushed_while_it_ranked_the_vectors(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's flush between reading the buffer's vectors and its messages raised KeyError
    (seen once in `test_threads_and_processes_share_one_store`)."""
    first, second = ({"id": f"m{i}", "role": "user", "content": f"message {i}"} for i in range(2))
    rowids = store.pending_add(ALICE, [first, second], [2, 2], unit_vectors(2))
    read_messages = buffer_search.select_in

    def flush_first_then_read(*args: Any, **kwargs: Any) -> Any:
        store.add(ALICE, [], unit_vectors(0), pending_ids=[rowids[0]])  # the other process's flush
        return read_messages(*args, **kwargs)

    monkeypatch.setattr(buffer_search, "select_in", flush_first_then_read)
    assert [hit.source for hit in store.pending_search(unit_vectors(1)[0], ALICE, 5)] == [("m1",)]


def test_a_store_created_by_two_processes_at_once_is_created_once(tmp_path: Path) -> None:
    """The second of two processes that both found the file empty ran the schema again, and its ALTER
    TABLE failed with a raw "duplicate column name"."""
    SQLiteStore(tmp_path, DIM).close()
    conn = sqlite3.connect(tmp_path / "memory.db", isolation_level=None)
    try:
        schema._create(conn, DIM)  # what the second process does after the first committed
        assert conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'store_id'").fetchone() == (1,)
    finally:
        conn.close()
    SQLiteStore(tmp_path, DIM).close()


def test_buffer_of_a_schema_2_file_is_searchable_by_keywords_once_migrated(tmp_path: Path) -> None:
    message = {"id": "m1", "role": "user", "name": "Ann", "content": "I adopted a parrot", "metadata": {}}
    _schema_2_file(tmp_path, [("alice", message)])
    with SQLiteStore(tmp_path, DIM) as store:
        (hit,) = store.pending_keyword_search(["parrot"], ALICE, 5)
        assert hit.pending and hit.source == ("m1",) and hit.text == "Ann: I adopted a parrot"
        assert store.pending_search(unit_vectors(1)[0], ALICE, 5) == []  # buffered with no vector
        assert store.pending_vectors([rowid for rowid, _ in store.pending_list(ALICE)]) == {}


def test_schema_1_file_is_migrated_keeping_its_units_and_buffer(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("likes tea"), unit_vectors(1))
        ids = store.pending_add(ALICE, [{"content": "a"}, {"content": "b"}], [1, 1])
    with sqlite3.connect(tmp_path / "memory.db") as conn:  # version 1: no keyword index, reusable ids
        for name in ("TRIGGER units_text_insert", "TRIGGER units_text_update", "TABLE units_text"):
            conn.execute(f"DROP {name}")
        conn.execute("DROP TABLE pending")
        conn.execute(
            "CREATE TABLE pending (rowid INTEGER PRIMARY KEY, user_id TEXT, agent_id TEXT, run_id TEXT, "
            "message TEXT NOT NULL, words INTEGER NOT NULL, created_at TEXT NOT NULL)"
        )
        conn.execute(schema._PENDING_INDEX)
        conn.executemany(
            "INSERT INTO pending VALUES (?, 'alice', NULL, NULL, ?, 1, '2024-01-01T00:00:00+00:00')",
            [(ids[0], '{"content": "a"}'), (ids[1], '{"content": "b"}')],
        )
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    with SQLiteStore(tmp_path, DIM) as store:
        assert store.pending_list(ALICE) == [(ids[0], {"content": "a"}), (ids[1], {"content": "b"})]
        assert [i.text for i in store.get_all(ALICE)] == ["likes tea"]
        assert [i.text for i in store.keyword_search(["tea"], ALICE, 5)] == ["likes tea"]
        store.add(ALICE, [], unit_vectors(0), pending_ids=[ids[1]])
        (new_id,) = store.pending_add(ALICE, [{"content": "c"}], [1])
        assert new_id > ids[1]
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert version == (str(schema.SCHEMA_VERSION),) and "pending_v1" not in tables


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    garbage = b"this is not sqlite" * 512
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match=r"memory\.db"):
        SQLiteStore(tmp_path, DIM)
    assert db.read_bytes() == garbage


def test_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a lightmem"):
        SQLiteStore(tmp_path, DIM)
    assert db.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SQLiteStore(tmp_path, DIM).close()
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(tmp_path, DIM)


def test_lost_database_beside_an_earlier_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """SQLite takes an empty file for an empty database (and deletes its write-ahead log): opening a
    truncated or deleted memory.db used to start an empty store silently, over the index files of the
    old one."""
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("a", "b"), unit_vectors(2))
    db = tmp_path / "memory.db"
    index = (tmp_path / "index.usearch").read_bytes()
    db.write_bytes(b"")
    with pytest.raises(StoreError, match=rf"{db} is empty \(0 bytes\) but index\.usearch.*backup"):
        SQLiteStore(tmp_path, DIM)
    db.unlink()
    with pytest.raises(StoreError, match=rf"{db} is missing but index\.usearch, index\.usearch\.json"):
        SQLiteStore(tmp_path, DIM)
    assert not db.exists() and (tmp_path / "index.usearch").read_bytes() == index

    for name in ("index.usearch", "index.usearch.json"):
        (tmp_path / name).unlink()
    wal = tmp_path / "memory.db-wal"
    db.write_bytes(b"")
    wal.write_bytes(b"frames of the lost database" * 100)
    with pytest.raises(StoreError, match=r"memory\.db-wal"):
        SQLiteStore(tmp_path, DIM)
    assert wal.read_bytes() == b"frames of the lost database" * 100  # SQLite would have deleted it


def test_empty_database_file_alone_is_a_new_store(tmp_path: Path) -> None:
    (tmp_path / "memory.db").write_bytes(b"")  # what a process killed while creating a store leaves
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("a"), unit_vectors(1))
    with SQLiteStore(tmp_path, DIM) as store:
        assert store.count() == 1


@pytest.mark.parametrize("table", ["units", "history", "units_text_data", "pending"])
def test_damaged_pages_are_a_store_error_wherever_they_are_met(tmp_path: Path, table: str) -> None:
    """A page overwritten inside the file (its header intact) used to surface as a raw
    sqlite3.DatabaseError from whichever call read it first, at open or later."""
    with SQLiteStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"note {i} about tea" for i in range(200))), unit_vectors(200))
        store.pending_add(ALICE, [{"content": "buffered"}], [1])
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(np.random.default_rng(0).bytes(page_size))

    def use() -> None:
        with SQLiteStore(tmp_path, DIM) as store:
            store.get_all(ALICE)
            store.history(items[0].id)
            store.keyword_search(["tea"], ALICE, 3)
            store.keyword_search(["tea-note"], ALICE, 3)  # a phrase: the FTS5 table
            store.pending_list(ALICE)

    with pytest.raises(StoreError, match=rf"{db} is corrupt.*restore it from a backup"):
        use()


def test_schema_4_file_gains_counters_starting_at_0(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("kept"), unit_vectors(1))
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        conn.execute("DROP TABLE counters")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    with SQLiteStore(tmp_path, DIM) as store:
        assert store.counters() == {} and store.count(ALICE) == 1
        store.add_counts(ALICE, {"llm_calls": 1})
        assert store.counters(ALICE) == {"llm_calls": 1}
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(schema.SCHEMA_VERSION),) == ("5",)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"dim": 0}, "dim must be an integer >= 1, got 0"),
        ({"dim": True}, "dim must be an integer >= 1, got True"),
        ({"oversample": 2.0}, "oversample must be an integer >= 1, got 2.0"),
        ({"exact_scan_max": -1}, "exact_scan_max must be an integer >= 0, got -1"),
    ],
)
def test_bad_options_are_value_errors_naming_them(tmp_path: Path, options: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        SQLiteStore(tmp_path, **{"dim": DIM, **options})


def test_keyword_search_finds_a_scope_whose_hits_rank_below_other_scopes(store: SQLiteStore) -> None:
    """The store's best hits are all another user's: the scope's own search still finds its unit."""
    store.add(BOB, units(*[f"zebra zebra zebra {i}" for i in range(40)]), unit_vectors(40))
    store.add(ALICE, units("a zebra among many other words of a long memory"), unit_vectors(1, seed=1))
    assert [h.text for h in store.keyword_search(["zebra"], ALICE, 5)] == [
        "a zebra among many other words of a long memory"
    ]
    assert len(store.keyword_search(["zebra"], BOB, 5)) == 5


# --- small scopes: exact scans over cached vectors ------------------------------------------------------

SMALL = Scope(user_id="small")


def _small_scope_store(tmp_path: Path, **options: int) -> tuple[SQLiteStore, list[str], np.ndarray]:
    """A store of 400 units of user "big" and 30 of user "small" (a scope scanned exactly), with the
    ids and vectors of the small scope's units."""
    store = SQLiteStore(tmp_path, DIM, **options)
    store.add(Scope(user_id="big"), units(*(f"b{i}" for i in range(400))), unit_vectors(400, seed=1))
    vectors = unit_vectors(30, seed=2)
    items = store.add(SMALL, units(*(f"s{i}" for i in range(30))), vectors)
    store.save_index()
    return store, [item.id for item in items], vectors


def test_small_scope_is_scanned_from_memory_after_its_first_search(tmp_path: Path) -> None:
    """A second search of a small scope in a big store reads no vector of it from the database (it read
    every one, each 1.5 kB at 384-d, on every search: 50-80 ms for 3,000 units among 108,000)."""
    store, ids, vectors = _small_scope_store(tmp_path)
    with store:
        store.search(vectors[0], SMALL, 5)
        statements: list[str] = []
        store._db.conn().set_trace_callback(statements.append)
        hits = store.search(vectors[3], SMALL, 5)
        store._db.conn().set_trace_callback(None)
    assert [h.id for h in hits] == [ids[i] for i in brute_force(vectors, vectors[3], 5)]
    reads = [s for s in statements if "vector" in s and "seq >" not in s]  # the change feed aside
    assert reads == []


def _brute_force_ids(store: SQLiteStore, query: np.ndarray, k: int, **filters: Any) -> list[str]:
    """The ids of the `k` live small-scope units nearest `query`, from the database itself."""
    rows = store._db.conn().execute(
        "SELECT id, vector, created_at, metadata FROM units WHERE deleted = 0 AND user_id = 'small'"
    )
    wanted = SearchFilters(**filters)
    found = [
        (memory_id, np.frombuffer(blob, dtype="<f4"))
        for memory_id, blob, created, meta in rows
        if wanted.admits(None, datetime.fromisoformat(created), json.loads(meta))
    ]
    ranked = brute_force(np.array([v for _, v in found]), query, k) if found else []
    return [found[i][0] for i in ranked]


def test_cached_small_scope_sees_the_writes_of_every_writer(tmp_path: Path) -> None:
    """The vectors of a small scope cached by one store follow the adds, deletes and updates of another
    store on the same directory, of another process and of its own: each search gives the exact best
    units of the database (time and metadata filters too), never a deleted or outdated one."""
    store, ids, _ = _small_scope_store(tmp_path)
    query = unit_vectors(1, seed=9)[0]
    child = (
        "import sys, numpy as np\n"
        "from lightmem.store import Change, SQLiteStore\n"
        "from lightmem.types import ExtractedUnit, Scope\n"
        "path, dim, gone, moved = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]\n"
        "query = np.random.default_rng(9).normal(size=dim).astype(np.float32)\n"
        "with SQLiteStore(path, dim) as store:\n"
        "    store.add(Scope(user_id='small'), [ExtractedUnit('from the child', ())], query[None] + 0.01)\n"
        "    store.apply_changes([Change(kind='delete', memory_id=gone)])\n"
        "    store.update(moved, 'moved by the child', -query)\n"
    )
    with store, SQLiteStore(tmp_path, DIM) as other:
        assert [h.id for h in store.search(query, SMALL, 5)] == _brute_force_ids(store, query, 5)
        best = store.search(query, SMALL, 3)
        other.delete(best[0].id)
        other.update(best[1].id, "moved away", -query)
        (near,) = other.add(SMALL, units("near the query"), query[None] + 0.05, {"even": True})
        other.add(Scope(user_id="big"), units("another user's nearest"), query[None])
        hits = store.search(query, SMALL, 5)
        assert [h.id for h in hits] == _brute_force_ids(store, query, 5) and hits[0].id == near.id
        assert not {best[0].id, best[1].id} & {h.id for h in hits}
        done = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path), str(DIM), near.id, best[2].id],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        hits = store.search(query, SMALL, 5)
        assert [h.id for h in hits] == _brute_force_ids(store, query, 5)
        assert hits[0].text == "from the child" and not {near.id, best[2].id} & {h.id for h in hits}
        (own,) = store.add(SMALL, units("own add"), query[None], {"even": True})
        store.update(ids[7], "own update", query + 0.2 * unit_vectors(1, seed=10)[0])
        filtered = store.search(query, SMALL, 5, SearchFilters(metadata={"even": True}))
        assert (
            [h.id for h in filtered] == [own.id] == _brute_force_ids(store, query, 5, metadata={"even": True})
        )
        later = store.search(query, SMALL, 5, SearchFilters(created_after=own.created_at))
        assert [h.id for h in later] == _brute_force_ids(store, query, 5, created_after=own.created_at)
        assert own.id in {h.id for h in later} and ids[0] not in {h.id for h in later}
        assert "own update" in {h.text for h in store.search(query, SMALL, 3)}
        assert [h.id for h in store.search(query, SMALL, 40)] == _brute_force_ids(store, query, 40)
        other.reset()  # tombstones without a scope
        other.add(Scope(user_id="big"), units(*(f"new b{i}" for i in range(400))), unit_vectors(400, seed=11))
        again = other.add(SMALL, units("new s0", "new s1"), unit_vectors(2, seed=12))
        assert [h.id for h in store.search(query, SMALL, 5)] == _brute_force_ids(store, query, 5)
        assert {h.id for h in store.search(query, SMALL, 5)} == {i.id for i in again}


def test_a_small_scope_search_scores_the_vectors_of_the_rows_it_returns(tmp_path: Path) -> None:
    """An update by another store landing between a search's sync and its exact scan of a cached small
    scope never gives the new text with the old vector's score (nor ranks the unit by it): the search
    reads one state of the database. (The write is slipped in by wrapping sync: a race otherwise.)"""
    store, ids, vectors = _small_scope_store(tmp_path)
    query = vectors[4]
    with store, SQLiteStore(tmp_path, DIM) as other:
        assert store.search(query, SMALL, 1)[0].id == ids[4]  # the scope is cached
        sync = store._vectors.sync

        def sync_then_update() -> None:
            sync()
            store._vectors.sync = sync  # type: ignore[method-assign]
            other.update(ids[4], "moved far away", -query)

        store._vectors.sync = sync_then_update  # type: ignore[method-assign]
        hits = store.search(query, SMALL, 3)
        assert [(h.text, round(h.score, 4)) for h in hits if h.id == ids[4]] in ([], [("s4", 1.0)])
        assert [h.id for h in store.search(query, SMALL, 3)] == _brute_force_ids(store, query, 3)


def test_a_big_scope_is_counted_once_until_the_store_changes(tmp_path: Path) -> None:
    """Whether a scope is small enough for an exact scan is counted (4,097 units: 0.5 ms) once, not on
    every search, until a change: then a scope shrunk by another store's deletes is scanned exactly."""
    store, _, _ = _small_scope_store(tmp_path, exact_scan_max=100)
    big = Scope(user_id="big")
    query = unit_vectors(1, seed=9)[0]
    with store, SQLiteStore(tmp_path, DIM) as other:
        store.search(query, big, 5)
        statements: list[str] = []
        store._db.conn().set_trace_callback(statements.append)
        store.search(query, big, 5)
        assert not [s for s in statements if "COUNT(*)" in s]
        other.delete_all(big)
        (kept,) = other.add(big, units("the one left"), query[None])
        statements.clear()
        assert [h.id for h in store.search(query, big, 5)] == [kept.id]
        store._db.conn().set_trace_callback(None)
        assert [s for s in statements if "COUNT(*)" in s] and [s for s in statements if "rowid, vector" in s]
