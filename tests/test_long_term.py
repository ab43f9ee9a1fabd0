"""Tests of the long-term store: a real SQLite file in tmp_path and a real usearch index beside it."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lightmem.long_term import Change, LongTermStore, SearchFilters, StoreError, VersionConflict
from lightmem.store import buffer_search, schema
from lightmem.store.vector_index import VectorIndex
from lightmem.types import ExtractedUnit, Scope
from usearch.index import Index

DIM = 16
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def units(*texts: str) -> list[ExtractedUnit]:
    return [ExtractedUnit(text, (f"D1:{i}",)) for i, text in enumerate(texts, 1)]


@pytest.fixture
def store(tmp_path: Path):
    with LongTermStore(tmp_path / "mem", DIM) as s:
        yield s


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(vectors @ (query / np.linalg.norm(query))), kind="stable")[:k])


# --- units ------------------------------------------------------------------------------------------


def test_add_get_get_all_count(store: LongTermStore) -> None:
    unit = ExtractedUnit("Alice likes tea", ("D1:3", "D1:4"), topic="drinks", event_time=T0)
    added = store.add(ALICE, [unit, *units("Alice lives in Oslo")], unit_vectors(2), metadata={"k": 1})
    assert [i.text for i in added] == ["Alice likes tea", "Alice lives in Oslo"]
    got = store.get(added[0].id)
    assert got == added[0]
    assert got is not None
    assert got.source == ("D1:3", "D1:4") and got.topic == "drinks" and got.metadata == {"k": 1}
    assert got.event_time == T0 and got.created_at.tzinfo is not None and got.version == 1
    assert (got.user_id, got.agent_id, got.run_id) == ("alice", None, None)
    assert [i.id for i in store.get_all(ALICE)] == [i.id for i in added]
    assert [i.id for i in store.get_all(ALICE, limit=1)] == [added[0].id]
    assert store.count(ALICE) == store.count() == 2
    assert store.get("no-such-id") is None
    assert store.scopes() == [ALICE]


def test_naive_event_time_is_taken_as_utc(store: LongTermStore) -> None:
    (item,) = store.add(
        ALICE, [ExtractedUnit("x", (), event_time=datetime(2024, 1, 2, 3, 4))], unit_vectors(1)
    )
    assert item.event_time == datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)


def test_update_bumps_version_and_records_history(store: LongTermStore) -> None:
    (item,) = store.add(ALICE, units("likes tea"), unit_vectors(1))
    updated = store.update(item.id, "likes coffee", unit_vectors(1, seed=1)[0], reason="changed mind")
    assert updated.text == "likes coffee" and updated.version == 2 and updated.updated_at >= item.updated_at
    merged = store.update(item.id, "likes coffee and tea", unit_vectors(1, seed=2)[0], event="MERGE")
    assert merged.version == 3
    history = store.history(item.id)
    assert [(h.event, h.old_text, h.new_text) for h in history] == [
        ("ADD", None, "likes tea"),
        ("UPDATE", "likes tea", "likes coffee"),
        ("MERGE", "likes coffee", "likes coffee and tea"),
    ]
    assert history[1].reason == "changed mind" and history[0].created_at.tzinfo is not None
    with pytest.raises(KeyError):
        store.update("no-such-id", "x", unit_vectors(1)[0])
    with pytest.raises(ValueError, match="event"):
        store.update(item.id, "x", unit_vectors(1)[0], event="ADD")


def test_delete_is_a_tombstone(store: LongTermStore) -> None:
    a, b = store.add(ALICE, units("a", "b"), unit_vectors(2))
    store.delete(a.id, reason="wrong")
    assert store.get(a.id) is None
    assert [i.id for i in store.get_all(ALICE)] == [b.id]
    assert store.count(ALICE) == 1
    assert a.id not in {i.id for i in store.search(unit_vectors(2)[0], ALICE, 5)}
    assert [(h.event, h.old_text, h.reason) for h in store.history(a.id)][-1] == ("DELETE", "a", "wrong")
    with pytest.raises(KeyError):
        store.delete(a.id)
    with pytest.raises(KeyError):
        store.update(a.id, "again", unit_vectors(1)[0])
    assert store.check_index()


def test_delete_all_deletes_scope_units_and_pending(store: LongTermStore) -> None:
    store.add(ALICE, units("a", "b"), unit_vectors(2))
    (bob_item,) = store.add(BOB, units("c"), unit_vectors(1, seed=3))
    store.pending_add(ALICE, [{"role": "user", "content": "hi"}], [1])
    assert store.delete_all(ALICE) == 2
    assert store.count(ALICE) == 0 and store.get(bob_item.id) is not None
    assert store.pending_list(ALICE) == []
    assert store.delete_all(ALICE) == 0
    assert store.check_index()


# --- scope isolation ----------------------------------------------------------------------------------


def test_scope_isolation(store: LongTermStore) -> None:
    vectors = unit_vectors(3)
    alice = store.add(ALICE, units("x", "y", "z"), vectors)
    bob = store.add(BOB, units("x", "y", "z"), vectors)
    alice_ids, bob_ids = {i.id for i in alice}, {i.id for i in bob}
    for query in vectors:
        assert {i.id for i in store.search(query, ALICE, 10)} == alice_ids
        assert {i.id for i in store.search(query, BOB, 10)} == bob_ids
    assert {i.id for i in store.get_all(ALICE)} == alice_ids
    assert store.get(bob[0].id, ALICE) is None and store.get(bob[0].id, BOB) == bob[0]
    assert store.history(bob[0].id, ALICE) == [] and len(store.history(bob[0].id, BOB)) == 1
    with pytest.raises(KeyError):
        store.delete(bob[0].id, ALICE)
    with pytest.raises(KeyError):
        store.update(bob[0].id, "hacked", vectors[0], scope=ALICE)
    assert store.get(bob[0].id) == bob[0]
    assert store.delete_all(ALICE) == 3 and store.count(BOB) == 3


def test_scope_none_id_means_any_value(store: LongTermStore) -> None:
    (in_a1,) = store.add(Scope(user_id="alice", agent_id="a1"), units("one"), unit_vectors(1))
    (in_a2,) = store.add(Scope(user_id="alice", agent_id="a2"), units("two"), unit_vectors(1, seed=1))
    assert {i.id for i in store.get_all(ALICE)} == {in_a1.id, in_a2.id}
    assert [i.id for i in store.get_all(Scope(user_id="alice", agent_id="a1"))] == [in_a1.id]
    assert store.get(in_a2.id, Scope(user_id="alice", agent_id="a1")) is None
    assert [i.id for i in store.get_all(Scope(agent_id="a2"))] == [in_a2.id]
    assert store.get_all(Scope(user_id="alice", run_id="r1")) == []


# --- search -----------------------------------------------------------------------------------------


def test_search_ranks_by_cosine_and_honours_limit(store: LongTermStore) -> None:
    vectors = unit_vectors(30)
    items = store.add(ALICE, units(*(f"fact {i}" for i in range(30))), vectors)
    query = unit_vectors(1, seed=9)[0]
    hits = store.search(query * 3.0, ALICE, 5)
    assert [h.id for h in hits] == [items[i].id for i in brute_force(vectors, query, 5)]
    assert [h.score for h in hits] == pytest.approx(sorted(vectors @ query, reverse=True)[:5], abs=1e-5)


EXACT_SCAN = {"exact_scan_max": 4096, "oversample": 1}
"""Store options under which the small scopes of the tests below are scanned exactly."""
INDEX_ONLY = {"exact_scan_max": 0}


@pytest.mark.parametrize("options", [EXACT_SCAN, INDEX_ONLY], ids=["exact", "index"])
def test_neighbors_batch_matches_brute_force(tmp_path: Path, options: dict[str, int]) -> None:
    vectors, other = unit_vectors(600, seed=1), unit_vectors(300, seed=2)
    with LongTermStore(tmp_path, DIM, **options) as store:
        items = store.add(ALICE, units(*(f"a{i}" for i in range(600))), vectors)
        store.add(BOB, units(*(f"b{i}" for i in range(300))), other)
        gone = {items[i].id for i in range(0, 600, 7)}
        store.apply_changes([Change("delete", memory_id) for memory_id in gone])
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
    with LongTermStore(tmp_path, DIM, **options) as store:
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


def test_neighbors_batch_rejects_bad_input(store: LongTermStore) -> None:
    store.add(ALICE, units("x"), unit_vectors(1))
    for bad, message in (
        (lambda: store.neighbors_batch(unit_vectors(2), ALICE, 0), "k must be"),
        (lambda: store.neighbors_batch(unit_vectors(2)[0], ALICE, 1), r"vectors must have shape \(n, 16\)"),
        (lambda: store.neighbors_batch(np.zeros((1, DIM)), ALICE, 1), "all-zero"),
        (lambda: store.neighbors_batch(unit_vectors(1), "alice", 1), "scope must be"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match=message):
            bad()


def test_search_filters_time_and_metadata(store: LongTermStore) -> None:
    days = [ExtractedUnit(f"day {d}", (), event_time=T0 + timedelta(days=d)) for d in range(5)]
    timed = store.add(ALICE, days, unit_vectors(5), metadata={"kind": "event"})
    untimed = store.add(ALICE, units("no time"), unit_vectors(1, seed=5), metadata={"kind": "note"})
    query = unit_vectors(1, seed=8)[0]
    window = SearchFilters(event_after=T0 + timedelta(days=1), event_before=T0 + timedelta(days=3))
    assert {h.text for h in store.search(query, ALICE, 10, window)} == {"day 1", "day 2"}
    notes = SearchFilters(metadata={"kind": "note"})
    assert [h.id for h in store.search(query, ALICE, 10, notes)] == [untimed[0].id]
    assert store.search(query, ALICE, 10, SearchFilters(metadata={"kind": "other"})) == []
    future = SearchFilters(created_after=datetime.now(timezone.utc) + timedelta(hours=1))
    assert store.search(query, ALICE, 10, future) == []
    past = SearchFilters(created_before=datetime.now(timezone.utc) + timedelta(hours=1))
    assert len(store.search(query, ALICE, 10, past)) == len(timed) + 1


def test_index_search_with_metadata_filter_scores_exactly(tmp_path: Path) -> None:
    vectors = unit_vectors(200, seed=4)
    with LongTermStore(tmp_path, DIM, exact_scan_max=0) as store:  # the index path, never a scan
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


def test_keyword_search_ranks_by_bm25_and_follows_every_write(store: LongTermStore) -> None:
    texts = [
        "Maya went hiking in the Alps",
        "Tom hikes every Sunday",
        "Maya adopted a cat",
        "Lena bakes bread",
    ]
    items = store.add(ALICE, units(*texts), unit_vectors(4), metadata={"k": 1})
    store.add(BOB, units("Bob went hiking with Maya"), unit_vectors(1))
    hits = store.keyword_search(["maya", "hiking"], ALICE, 10)
    assert hits[0].id == items[0].id and {h.id for h in hits[1:]} == {items[1].id, items[2].id}  # hikes: stem
    assert all(h.score is not None and h.score > 0 for h in hits)
    store.update(items[0].id, "Maya went skiing", unit_vectors(1, seed=1)[0])
    store.delete(items[1].id)
    assert store.keyword_search(["hiking"], ALICE, 10) == []
    assert [h.id for h in store.keyword_search(["skiing"], ALICE, 10)] == [items[0].id]
    changes = [Change("update", items[2].id, "Maya adopted two cats", unit_vectors(1, seed=2)[0])]
    store.apply_changes(changes)
    assert [h.text for h in store.keyword_search(["cats"], ALICE, 10)] == ["Maya adopted two cats"]
    assert store.keyword_search(["bread"], ALICE, 10, SearchFilters(metadata={"k": 2})) == []
    assert len(store.keyword_search(["bread"], ALICE, 10, SearchFilters(metadata={"k": 1}))) == 1
    store.delete_all(ALICE)
    assert store.keyword_search(["maya", "bread"], ALICE, 10) == []
    assert [h.text for h in store.keyword_search(["maya"], BOB, 10)] == ["Bob went hiking with Maya"]


def test_keyword_search_scopes_like_search(store: LongTermStore) -> None:
    stored = {
        Scope(user_id="alice", agent_id="x"): "alice with agent x plays chess",
        Scope(user_id="alice"): "alice alone plays chess",
        Scope(user_id="bob", agent_id="x"): "bob with agent x plays chess",
        Scope(user_id="Zoë 日本", run_id="r 1"): "a unicode user plays chess",
    }
    for scope, text in stored.items():
        store.add(scope, units(text), unit_vectors(1))
    queries = [
        (Scope(user_id="alice"), {"alice with agent x plays chess", "alice alone plays chess"}),
        (Scope(agent_id="x"), {"alice with agent x plays chess", "bob with agent x plays chess"}),
        (Scope(user_id="alice", agent_id="x"), {"alice with agent x plays chess"}),
        (Scope(user_id="Zoë 日本"), {"a unicode user plays chess"}),
        (Scope(user_id="Zoë 日本", run_id="r 2"), set()),
        (Scope(user_id="carol"), set()),
    ]
    for scope, expected in queries:
        assert {h.text for h in store.keyword_search(["chess"], scope, 10)} == expected, scope


def test_without_fts5_there_is_no_keyword_index_until_a_python_with_it_opens_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as without_fts5:
        without_fts5.setattr(schema, "has_fts5", lambda conn: False)
        with LongTermStore(tmp_path, DIM) as store:
            assert not store.has_keyword_index
            store.add(ALICE, units("Maya plays chess"), unit_vectors(1))
            assert store.keyword_search(["chess"], ALICE, 5) == []
            assert [h.text for h in store.search(unit_vectors(1)[0], ALICE, 5)] == ["Maya plays chess"]
    with LongTermStore(tmp_path, DIM) as store:  # FTS5 again: the index is built from the units
        assert store.has_keyword_index
        assert [h.text for h in store.keyword_search(["chess"], ALICE, 5)] == ["Maya plays chess"]
    with monkeypatch.context() as without_fts5:
        without_fts5.setattr(schema, "has_fts5", lambda conn: False)
        with pytest.raises(StoreError, match="lacks FTS5"):  # its triggers would fail every write
            LongTermStore(tmp_path, DIM)


def test_keyword_search_min_score_drops_matches_on_common_words_only(store: LongTermStore) -> None:
    texts = [f"Tom: note {i}" for i in range(6)] + ["Maya: the beagle is called Biscuit", "Maya: hello"]
    items = store.add(ALICE, units(*texts), unit_vectors(len(texts)))
    assert len(store.keyword_search(["tom", "beagle"], ALICE, 10)) == 7
    (hit,) = store.keyword_search(["tom", "beagle"], ALICE, 10, min_score=1.0)  # tom: in most units
    assert hit.id == items[6].id and hit.score is not None and hit.score >= 1.0


def test_keyword_search_takes_any_words_literally(store: LongTermStore) -> None:
    store.add(ALICE, units('say "OR" NEAR(x y) * AND -not ^col:'), unit_vectors(1))
    for odd in ['"', "OR", "NEAR(x", "*", "-not", "^col:", "AND", "", "  "]:
        store.keyword_search([odd], ALICE, 3)  # FTS5 query syntax in a word is not interpreted
    assert len(store.keyword_search(['"OR"', "near"], ALICE, 3)) == 1
    assert store.keyword_search([], ALICE, 3) == []
    with pytest.raises(ValueError, match="keywords"):
        store.keyword_search("maya", ALICE, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        store.keyword_search(["maya"], ALICE, 0)


def test_search_filters_from_dict() -> None:
    assert SearchFilters.from_dict(None) is None and SearchFilters.from_dict({}) is None
    f = SearchFilters.from_dict({"event_after": "2024-05-01T12:00:00Z", "metadata": {"a": 1, "b": "x"}})
    assert f == SearchFilters(event_after=T0, metadata={"a": 1, "b": "x"})
    assert SearchFilters.from_dict(f) is f
    bad_filters: list[tuple[dict[str, object], str]] = [
        ({"user_id": "alice"}, "user_id"),
        ({"b": "x"}, "unknown filter key 'b'"),
        ({"score": {"gte": 3}}, "score"),
        ({"event_before": "yesterday"}, "event_before"),
        ({"metadata": ["a"]}, "metadata"),
        ({"OR": [{"a": 1}]}, "OR"),
        ({"metadata": {"OR": {"a": 1}}}, "OR"),
    ]
    for bad, key in bad_filters:
        with pytest.raises(ValueError, match=key):
            SearchFilters.from_dict(bad)


def test_small_scope_among_many_rows_gets_exact_results(tmp_path: Path) -> None:
    big, small = unit_vectors(2000, seed=1), unit_vectors(20, seed=2)
    with LongTermStore(tmp_path, DIM) as store:
        store.add(Scope(user_id="big"), units(*(f"b{i}" for i in range(2000))), big)
        items = store.add(Scope(user_id="small"), units(*(f"s{i}" for i in range(20))), small)
    for exact_scan_max in (4096, 0):  # an exact scan, then the index with growing candidate sets
        with LongTermStore(tmp_path, DIM, exact_scan_max=exact_scan_max) as store:
            for query in unit_vectors(5, seed=3):
                hits = store.search(query, Scope(user_id="small"), 5)
                assert [h.id for h in hits] == [items[i].id for i in brute_force(small, query, 5)]


def test_search_rejects_bad_input(store: LongTermStore) -> None:
    store.add(ALICE, units("a"), unit_vectors(1))
    good = unit_vectors(1)[0]
    bad_vectors = [good[:-1], good.astype(np.int32), np.full(DIM, np.nan), np.zeros(DIM), good[None, :]]
    for vector in bad_vectors:
        with pytest.raises(ValueError, match="vector"):
            store.search(vector, ALICE, 3)
    with pytest.raises(ValueError, match="limit"):
        store.search(good, ALICE, 0)
    with pytest.raises(ValueError, match="scope"):
        store.search(good, "alice", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vectors"):
        store.add(ALICE, units("a", "b"), unit_vectors(3))
    with pytest.raises(ValueError, match=r"units\[0\].text"):
        store.add(ALICE, units(" "), unit_vectors(1))
    with pytest.raises(ValueError, match="metadata"):
        store.add(ALICE, units("a"), unit_vectors(1), metadata={"when": object()})


def test_limits_and_time_ranges_are_value_errors_naming_the_argument(store: LongTermStore) -> None:
    """These escaped as OverflowError (SQLite integers, datetime.astimezone) or RecursionError."""
    (item,) = store.add(ALICE, units("a"), unit_vectors(1))
    good = unit_vectors(1)[0]
    for call in (
        lambda: store.get_all(ALICE, limit=2**63),
        lambda: store.search(good, ALICE, 2**63),
        lambda: store.keyword_search(["a"], ALICE, 2**63),
    ):
        with pytest.raises(ValueError, match="limit must be an integer from"):
            call()
    with pytest.raises(ValueError, match="k must be an integer from 1 to 1,000,000"):
        store.neighbors_batch(good[None], ALICE, 2**63)
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValueError, match="event_before 0001-01-01T00:00:00\\+01:00 is out of range"):
        SearchFilters(event_before=early)
    with pytest.raises(ValueError, match="created_after"):
        SearchFilters.from_dict({"created_after": "9999-12-31T23:00:00-05:00"})
    deep: dict[str, object] = {}
    for _ in range(50_000):
        deep = {"k": deep}
    with pytest.raises(ValueError, match="metadata nests dicts and lists deeper than 32"):
        store.add(ALICE, units("b"), unit_vectors(1), metadata=deep)
    with pytest.raises(ValueError, match=r"filters\['metadata'\] nests"):
        SearchFilters(metadata=deep)
    assert store.get_all(ALICE) == [item]


# --- persistence and the index file ----------------------------------------------------------------------


def test_persistence_across_reopen(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vectors = unit_vectors(10)
    with LongTermStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"f{i}" for i in range(10))), vectors)
        store.delete(items[0].id)
    with caplog.at_level(logging.WARNING, logger="lightmem"), LongTermStore(tmp_path, DIM) as store:
        assert store.check_index()
        assert store.count() == 9 and store.get(items[3].id) == items[3]
        assert store.search(vectors[3], ALICE, 1)[0].id == items[3].id
    assert not caplog.records


def test_saved_index_catches_up_with_later_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with LongTermStore(tmp_path, DIM) as store:
        first = store.add(ALICE, units("a", "b"), unit_vectors(2))
    names = ["index.usearch", "index.usearch.json"]
    for name in names:  # keep the files as they are (a rename keeps the inode their record names)
        os.replace(tmp_path / name, tmp_path / f"{name}.old")
    with LongTermStore(tmp_path, DIM) as store:
        store.delete(first[0].id)
        (late,) = store.add(ALICE, units("c"), unit_vectors(1, seed=4))
    for name in names:  # put back the index saved before the delete and the add
        os.replace(tmp_path / f"{name}.old", tmp_path / name)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lightmem"), LongTermStore(tmp_path, DIM) as store:
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
    with LongTermStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"f{i}" for i in range(12))), vectors)
    store_id = sqlite3.connect(tmp_path / "memory.db").execute("SELECT value FROM meta WHERE key='store_id'")
    damage(tmp_path / "index.usearch", store_id.fetchone()[0])
    with caplog.at_level(logging.WARNING, logger="lightmem"), LongTermStore(tmp_path, DIM) as store:
        assert store.check_index()
        assert store.search(vectors[5], ALICE, 3)[0].id == items[5].id
    (record,) = [r for r in caplog.records if r.name == "lightmem"]
    assert record.levelno == logging.WARNING and "rebuilding" in record.message and said in record.message
    with caplog.at_level(logging.WARNING, logger="lightmem"), LongTermStore(tmp_path, DIM):
        pass  # the rebuilt index was saved: no second rebuild
    assert len(caplog.records) == 1


def test_corrupt_index_with_matching_record_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with LongTermStore(tmp_path, DIM) as store:
        store.add(ALICE, units("a", "b"), unit_vectors(2))
    index = tmp_path / "index.usearch"
    size = index.stat().st_size
    with index.open("r+b") as f:  # same inode and size, contents destroyed
        f.write(b"\0" * size)
    with caplog.at_level(logging.WARNING, logger="lightmem"), LongTermStore(tmp_path, DIM) as store:
        assert store.check_index()
    assert "rebuilding" in caplog.text


def test_index_damaged_inside_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    """Bytes overwritten inside the graph (same inode, same size) used to pass every file check and
    make usearch crash the process (SIGSEGV, or "Out of memory!") on this and every later open; the
    victim runs in a child process so that a crash fails the test instead of killing pytest."""
    vectors = unit_vectors(300)
    with LongTermStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"f{i}" for i in range(300))), vectors)
    index = tmp_path / "index.usearch"
    size = index.stat().st_size
    with index.open("r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(1).bytes(size // 4))
    child = (
        "import logging, sys, numpy as np\n"
        "from lightmem.long_term import LongTermStore\n"
        "from lightmem.types import Scope\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "query = np.load(sys.argv[3])\n"
        "with LongTermStore(sys.argv[1], int(sys.argv[2])) as store:\n"
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


def test_rebuild_index_keeps_everything(store: LongTermStore) -> None:
    items = store.add(ALICE, units("a", "b", "c"), unit_vectors(3))
    store.delete(items[1].id)
    store.rebuild_index()
    assert store.check_index()
    assert {h.id for h in store.search(unit_vectors(3)[0], ALICE, 5)} == {items[0].id, items[2].id}


# --- several stores on one directory ----------------------------------------------------------------------


def test_second_store_sees_writes_through_the_change_feed(tmp_path: Path) -> None:
    vectors = unit_vectors(3)
    with LongTermStore(tmp_path, DIM) as writer, LongTermStore(tmp_path, DIM) as reader:
        assert reader.search(vectors[0], ALICE, 3) == []
        items = writer.add(ALICE, units("a", "b", "c"), vectors)
        assert reader.search(vectors[0], ALICE, 1)[0].id == items[0].id
        writer.delete(items[0].id)
        assert items[0].id not in {h.id for h in reader.search(vectors[0], ALICE, 3)}
        writer.update(items[1].id, "b moved", vectors[0])
        top = reader.search(vectors[0], ALICE, 1)[0]
        assert (top.id, top.text) == (items[1].id, "b moved")
        assert reader.check_index() and writer.check_index()


def test_writes_of_another_process_are_seen(tmp_path: Path) -> None:
    child = (
        "import sys, numpy as np\n"
        "from lightmem.long_term import LongTermStore\n"
        "from lightmem.types import ExtractedUnit, Scope\n"
        "with LongTermStore(sys.argv[1], int(sys.argv[2])) as store:\n"
        "    vector = np.random.default_rng(42).normal(size=int(sys.argv[2]))\n"
        "    unit = ExtractedUnit('from the child', ())\n"
        "    print(store.add(Scope(user_id='alice'), [unit], vector[None])[0].id)\n"
    )
    query = np.random.default_rng(42).normal(size=DIM)
    with LongTermStore(tmp_path, DIM) as store:
        store.add(ALICE, units("from the parent"), unit_vectors(1))
        done = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path), str(DIM)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        top = store.search(query, ALICE, 1)[0]
        assert (top.id, top.text) == (done.stdout.strip(), "from the child")
        assert store.check_index() and store.count() == 2


def test_threads_share_one_store(store: LongTermStore) -> None:
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(5):
                store.add(Scope(user_id=f"u{seed}"), units(f"t{i}"), unit_vectors(1, seed=seed * 10 + i))
                store.search(unit_vectors(1, seed=seed)[0], Scope(user_id=f"u{seed}"), 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.count() == 20 and store.check_index()


def test_write_waits_for_a_lock_held_past_busy_timeout(tmp_path: Path) -> None:
    with LongTermStore(tmp_path, DIM, busy_timeout=0.05) as store:
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
    with LongTermStore(tmp_path, DIM, busy_timeout=0.02) as store:
        other = sqlite3.connect(tmp_path / "memory.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            store.add(ALICE, units("a"), unit_vectors(1))
        other.execute("ROLLBACK")
        other.close()
        assert store.count() == 0


# --- consolidation support -----------------------------------------------------------------------------


def test_apply_changes_is_all_or_nothing(store: LongTermStore) -> None:
    a, b, c = store.add(ALICE, units("a", "b", "c"), unit_vectors(3))
    before = [store.get(i.id) for i in (a, b, c)]
    bad = [
        Change("update", a.id, text="a+b", vector=unit_vectors(1, seed=7)[0], event="MERGE"),
        Change("delete", b.id),
        Change("delete", "no-such-id"),
    ]
    with pytest.raises(KeyError, match="no-such-id"):
        store.apply_changes(bad)
    assert [store.get(i.id) for i in (a, b, c)] == before and len(store.history(a.id)) == 1
    with pytest.raises(KeyError):  # deleted twice: fails midway, rolled back
        store.apply_changes([Change("delete", b.id), Change("delete", b.id)])
    assert store.get(b.id) == before[1]
    store.apply_changes([*bad[:2], Change("mark_consolidated", a.id), Change("mark_consolidated", c.id)])
    assert store.get(a.id).text == "a+b" and store.get(b.id) is None  # type: ignore[union-attr]
    assert store.history(a.id)[-1].event == "MERGE"
    assert store.unconsolidated() == []
    assert store.search(unit_vectors(1, seed=7)[0], ALICE, 1)[0].id == a.id


def test_change_validation() -> None:
    for make, message in (
        (lambda: Change("rename", "x"), "kind"),
        (lambda: Change("update", "x", text="t"), "vector"),
        (lambda: Change("update", "x"), "needs a text with its vector, or a source"),
        (lambda: Change("update", "x", text="t", vector=np.ones(DIM), event="DELETE"), "event"),
        (lambda: Change("update", "x", source="D1:1"), "sequence of strings"),  # type: ignore[arg-type]
        (lambda: Change("update", "x", source=("D1:1", 2)), "strings only"),  # type: ignore[arg-type]
        (lambda: Change("delete", "x", source=("D1:1",)), "updates only"),
        (lambda: Change("delete", "x", expected_version=0), "expected_version"),
        (lambda: Change("delete", "x", expected_version=True), "expected_version"),
    ):
        with pytest.raises(ValueError, match=message):
            make()
    assert Change("update", "x", source=["D1:1"]).source == ("D1:1",)  # type: ignore[arg-type]


def test_update_of_the_source_alone_keeps_text_vector_and_mark(store: LongTermStore) -> None:
    kept, dup = store.add(ALICE, units("Alice likes tea", "alice likes tea"), unit_vectors(2))
    store.apply_changes([Change("mark_consolidated", kept.id)])
    store.apply_changes(
        [
            Change("update", kept.id, source=(*kept.source, *dup.source), reason="absorbed", event="MERGE"),
            Change("delete", dup.id, reason=f"duplicate of {kept.id}"),
        ]
    )
    item = store.get(kept.id)
    assert item is not None and item.source == ("D1:1", "D1:2") and item.text == "Alice likes tea"
    assert item.version == 2 and [i.id for i, _ in store.unconsolidated()] == []
    last = store.history(kept.id)[-1]
    assert (last.event, last.old_text, last.new_text, last.reason) == ("MERGE", *[kept.text] * 2, "absorbed")
    assert store.check_index() and store.search(unit_vectors(2)[0], ALICE, 1)[0].id == kept.id
    store.apply_changes(
        [Change("update", kept.id, text="Alice loves tea", vector=unit_vectors(1)[0], source=())]
    )
    item = store.get(kept.id)
    assert item is not None and (item.text, item.source, item.version) == ("Alice loves tea", (), 3)
    store.apply_changes([Change("update", kept.id, text="Alice adores tea", vector=unit_vectors(1)[0])])
    assert store.get(kept.id).source == ()  # type: ignore[union-attr]  # no source given: kept as it was


def test_expected_version_guards_against_concurrent_updates(store: LongTermStore) -> None:
    a, b = store.add(ALICE, units("a", "b"), unit_vectors(2))
    store.update(a.id, "a by the user", unit_vectors(1, seed=3)[0])  # version 2, after the pass read it
    stale = [
        Change("delete", b.id, expected_version=1),
        Change("update", a.id, text="a by the LLM", vector=unit_vectors(1)[0], expected_version=1),
        Change("mark_consolidated", a.id, expected_version=1),
    ]
    with pytest.raises(VersionConflict, match=rf"{a.id} \(version 2, expected 1\)"):
        store.apply_changes(stale)
    assert store.get(a.id).text == "a by the user" and store.get(b.id) is not None  # type: ignore[union-attr]
    # versions are those before the call: an update and the mark after it both expect version 2
    store.apply_changes(
        [
            Change("delete", b.id, expected_version=1),
            Change("update", a.id, text="a by the LLM", vector=unit_vectors(1)[0], expected_version=2),
            Change("mark_consolidated", a.id, expected_version=2),
        ]
    )
    item = store.get(a.id)
    assert item is not None and (item.text, item.version) == ("a by the LLM", 3) and store.get(b.id) is None
    assert store.unconsolidated() == []


def test_unconsolidated_vectors_and_update_resets_mark(store: LongTermStore) -> None:
    vectors = unit_vectors(3)
    items = store.add(ALICE, units("a", "b", "c"), vectors)
    pending = store.unconsolidated(ALICE)
    assert [i.id for i, _ in pending] == [i.id for i in items]
    np.testing.assert_allclose(np.stack([v for _, v in pending]), vectors, atol=1e-6)
    np.testing.assert_allclose(store.vectors([items[2].id, items[0].id]), vectors[[2, 0]], atol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        store.vectors(["nope"])
    store.apply_changes([Change("mark_consolidated", i.id) for i in items])
    assert store.unconsolidated(limit=5) == []
    store.update(items[1].id, "b2", vectors[1])
    assert [i.id for i, _ in store.unconsolidated()] == [items[1].id]


# --- short-term buffer -------------------------------------------------------------------------------------


def test_pending_buffer_round_trip(store: LongTermStore) -> None:
    run = Scope(user_id="alice", run_id="r1")
    messages = [{"role": "user", "content": "I moved to Oslo"}, {"role": "assistant", "content": "Nice"}]
    ids = store.pending_add(run, messages, [4, 1])
    store.pending_add(ALICE, [{"role": "user", "content": "other stream"}], [2])
    assert store.pending_list(run) == list(zip(ids, messages))
    assert store.pending_words(run) == 5 and store.pending_words(ALICE) == 2
    assert set(store.pending_scopes()) == {run, ALICE}
    store.add(run, units("alice moved to Oslo"), unit_vectors(1), pending_ids=ids)
    assert store.pending_list(run) == [] and store.pending_words(run) == 0
    assert store.pending_scopes() == [ALICE]
    with pytest.raises(KeyError, match="pending"):  # already extracted: nothing is stored
        store.add(run, units("duplicate"), unit_vectors(1), pending_ids=ids)
    assert [i.text for i in store.get_all(run)] == ["alice moved to Oslo"]
    with pytest.raises(ValueError, match="words"):
        store.pending_add(run, messages, [1])
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        store.pending_add(run, [{"t": object()}], [1])


def test_stale_pending_ids_never_take_newer_messages(tmp_path: Path) -> None:
    """Process A reads the buffer, process B extracts it and a new message arrives: A's extraction is
    refused, and the new message (which must not inherit a freed id) stays pending."""
    with LongTermStore(tmp_path, DIM) as a, LongTermStore(tmp_path, DIM) as b:
        first = {"id": "m1", "content": "I moved to Oslo"}
        b.pending_add(ALICE, [first], [4])
        ids_read_by_a = [i for i, _ in a.pending_list(ALICE)]
        b.add(ALICE, units("moved to Oslo"), unit_vectors(1), pending_ids=ids_read_by_a)
        later = {"id": "m2", "content": "I adopted a cat"}
        (later_id,) = b.pending_add(ALICE, [later], [4])
        assert later_id not in ids_read_by_a
        with pytest.raises(KeyError, match="gone"):
            a.add(ALICE, units("moved to Oslo, again"), unit_vectors(1), pending_ids=ids_read_by_a)
        assert a.pending_list(ALICE) == [(later_id, later)]
        assert [i.text for i in a.get_all(ALICE)] == ["moved to Oslo"]


def test_a_message_id_is_buffered_once_per_scope(
    store: LongTermStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A retried add (same id, same message) is skipped, buffered or extracted since; another message
    under a used id is refused by name with nothing of its call stored; `delete_all` forgets the ids."""
    r1, r2 = {"id": "r1", "content": "I moved to Oslo"}, {"id": "r2", "content": "I adopted a cat"}
    (first,) = store.pending_add(ALICE, [r1], [4])
    with caplog.at_level(logging.INFO, logger="lightmem"):
        assert store.pending_add(ALICE, [r1, dict(reversed(r1.items()))], [4, 4]) == []
    assert "2 of 2 messages" in caplog.text
    assert len(store.pending_add(ALICE, [r2, r2], [4, 4])) == 1  # twice in one call: stored once
    assert len(store.pending_add(BOB, [r1], [4])) == 1  # ids are per scope
    assert len(store.pending_add(Scope(user_id="alice", run_id="s1"), [r1], [4])) == 1
    assert len(store.pending_add(ALICE, [{"content": "no id"}] * 2, [2, 2])) == 2  # no id: no check
    with pytest.raises(ValueError, match=r"'r1'.*another message"):
        store.pending_add(
            ALICE, [{"id": "r3", "content": "new"}, {**r1, "content": "I moved to Rome"}], [1, 4]
        )
    assert [m.get("id") for _, m in store.pending_list(ALICE)] == ["r1", "r2", None, None]
    store.add(ALICE, units("moved to Oslo"), unit_vectors(1), pending_ids=[first])
    assert store.pending_add(ALICE, [r1], [4]) == []  # extracted: still a retry
    store.delete_all(ALICE)
    assert len(store.pending_add(ALICE, [r1], [4])) == 1
    assert [m["id"] for _, m in store.pending_list(BOB)] == ["r1"]  # another scope's ids stay
    assert store.pending_add(BOB, [r1], [4]) == []


def test_processes_adding_one_message_id_at_once_store_it_once(tmp_path: Path) -> None:
    child = (
        "import sys\n"
        "from lightmem.long_term import LongTermStore\n"
        "from lightmem.types import Scope\n"
        "with LongTermStore(sys.argv[1], int(sys.argv[2])) as store:\n"
        "    for i in range(0, 60, 3):\n"
        "        batch = [{'id': f'm{j}', 'content': f'message {j}'} for j in range(i, i + 3)]\n"
        "        store.pending_add(Scope(user_id='alice'), batch, [2, 2, 2])\n"
    )
    LongTermStore(tmp_path, DIM).close()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", child, str(tmp_path), str(DIM)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for process in children:
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    with LongTermStore(tmp_path, DIM) as store:
        assert sorted(m["id"] for _, m in store.pending_list(ALICE)) == sorted(f"m{j}" for j in range(60))


def _schema_2_file(path: Path, rows: list[tuple[str, dict[str, str]]]) -> None:
    """A store in `path` as lightmem wrote schema 2: no table of message ids, no turn vectors in the
    buffer nor buffered messages in the keyword index, and `rows` (user id, message) in its buffer,
    duplicated ids included."""
    LongTermStore(path, DIM).close()
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
    with caplog.at_level(logging.WARNING, logger="lightmem"), LongTermStore(tmp_path, DIM) as store:
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
            LongTermStore(tmp_path, DIM).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with LongTermStore(tmp_path, DIM) as store:
        assert [m for _, m in store.pending_list(ALICE)] == messages


def test_buffer_search_skips_a_message_flushed_while_it_ranked_the_vectors(
    store: LongTermStore, monkeypatch: pytest.MonkeyPatch
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
    LongTermStore(tmp_path, DIM).close()
    conn = sqlite3.connect(tmp_path / "memory.db", isolation_level=None)
    try:
        schema._create(conn, DIM)  # what the second process does after the first committed
        assert conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'store_id'").fetchone() == (1,)
    finally:
        conn.close()
    LongTermStore(tmp_path, DIM).close()


def test_buffer_of_a_schema_2_file_is_searchable_by_keywords_once_migrated(tmp_path: Path) -> None:
    message = {"id": "m1", "role": "user", "name": "Ann", "content": "I adopted a parrot", "metadata": {}}
    _schema_2_file(tmp_path, [("alice", message)])
    with LongTermStore(tmp_path, DIM) as store:
        (hit,) = store.pending_keyword_search(["parrot"], ALICE, 5)
        assert hit.pending and hit.source == ("m1",) and hit.text == "Ann: I adopted a parrot"
        assert store.pending_search(unit_vectors(1)[0], ALICE, 5) == []  # buffered with no vector
        assert store.pending_vectors([rowid for rowid, _ in store.pending_list(ALICE)]) == {}


def test_schema_1_file_is_migrated_keeping_its_units_and_buffer(tmp_path: Path) -> None:
    with LongTermStore(tmp_path, DIM) as store:
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
    with LongTermStore(tmp_path, DIM) as store:
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


# --- the database file ------------------------------------------------------------------------------------


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    garbage = b"this is not sqlite" * 512
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match=r"memory\.db"):
        LongTermStore(tmp_path, DIM)
    assert db.read_bytes() == garbage


def test_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a lightmem"):
        LongTermStore(tmp_path, DIM)
    assert db.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    LongTermStore(tmp_path, DIM).close()
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        LongTermStore(tmp_path, DIM)


def test_dimension_mismatch_is_refused(tmp_path: Path) -> None:
    LongTermStore(tmp_path, DIM).close()
    with pytest.raises(StoreError, match=f"{DIM}.*{DIM * 2}"):
        LongTermStore(tmp_path, DIM * 2)


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = LongTermStore(tmp_path, DIM)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()
    with pytest.raises(StoreError, match="closed"):
        store.search(unit_vectors(1)[0], ALICE, 1)


def test_failed_write_rolls_back(store: LongTermStore) -> None:
    (item,) = store.add(ALICE, units("a"), unit_vectors(1))
    with pytest.raises(KeyError):  # the update succeeds, then the delete of an unknown id fails
        store.apply_changes(
            [Change("update", item.id, text="b", vector=unit_vectors(1)[0]), Change("delete", "x")]
        )
    assert store.get(item.id) == item and len(store.history(item.id)) == 1


def test_lost_database_beside_an_earlier_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """SQLite takes an empty file for an empty database (and deletes its write-ahead log): opening a
    truncated or deleted memory.db used to start an empty store silently, over the index files of the
    old one."""
    with LongTermStore(tmp_path, DIM) as store:
        store.add(ALICE, units("a", "b"), unit_vectors(2))
    db = tmp_path / "memory.db"
    index = (tmp_path / "index.usearch").read_bytes()
    db.write_bytes(b"")
    with pytest.raises(StoreError, match=rf"{db} is empty \(0 bytes\) but index\.usearch.*backup"):
        LongTermStore(tmp_path, DIM)
    db.unlink()
    with pytest.raises(StoreError, match=rf"{db} is missing but index\.usearch, index\.usearch\.json"):
        LongTermStore(tmp_path, DIM)
    assert not db.exists() and (tmp_path / "index.usearch").read_bytes() == index

    for name in ("index.usearch", "index.usearch.json"):
        (tmp_path / name).unlink()
    wal = tmp_path / "memory.db-wal"
    db.write_bytes(b"")
    wal.write_bytes(b"frames of the lost database" * 100)
    with pytest.raises(StoreError, match=r"memory\.db-wal"):
        LongTermStore(tmp_path, DIM)
    assert wal.read_bytes() == b"frames of the lost database" * 100  # SQLite would have deleted it


def test_empty_database_file_alone_is_a_new_store(tmp_path: Path) -> None:
    (tmp_path / "memory.db").write_bytes(b"")  # what a process killed while creating a store leaves
    with LongTermStore(tmp_path, DIM) as store:
        store.add(ALICE, units("a"), unit_vectors(1))
    with LongTermStore(tmp_path, DIM) as store:
        assert store.count() == 1


@pytest.mark.parametrize("table", ["units", "history", "units_text_data", "pending"])
def test_damaged_pages_are_a_store_error_wherever_they_are_met(tmp_path: Path, table: str) -> None:
    """A page overwritten inside the file (its header intact) used to surface as a raw
    sqlite3.DatabaseError from whichever call read it first, at open or later."""
    with LongTermStore(tmp_path, DIM) as store:
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
        with LongTermStore(tmp_path, DIM) as store:
            store.get_all(ALICE)
            store.history(items[0].id)
            store.keyword_search(["tea"], ALICE, 3)
            store.pending_list(ALICE)

    with pytest.raises(StoreError, match=rf"{db} is corrupt.*restore it from a backup"):
        use()


# --- lifetime counters --------------------------------------------------------------------------------


def test_counters_are_kept_per_exact_scope_and_summed_over_a_query_scope(store: LongTermStore) -> None:
    alice_a1 = Scope(user_id="alice", agent_id="a1")
    store.add_counts(ALICE, {"llm_calls": 1, "prompt_tokens": 10})
    store.add_counts(alice_a1, {"llm_calls": 2, "zero": 0})
    store.add_counts(BOB, {"llm_calls": 5})
    assert store.counters(ALICE) == {"llm_calls": 3, "prompt_tokens": 10}  # a None id matches any
    assert store.counters(alice_a1) == {"llm_calls": 2}
    assert store.counters(Scope(agent_id="a1")) == {"llm_calls": 2}
    assert store.counters(Scope(user_id="carol")) == {}
    assert store.counters() == {"llm_calls": 8, "prompt_tokens": 10}
    for bad in ({"llm_calls": -1}, {"": 1}, {"llm_calls": 1.5}, {"llm_calls": True}):
        with pytest.raises(ValueError, match="counter"):
            store.add_counts(ALICE, bad)
    assert store.counters() == {"llm_calls": 8, "prompt_tokens": 10}


def test_counters_of_a_write_are_in_its_transaction(store: LongTermStore) -> None:
    (pending,) = store.pending_add(ALICE, [{"id": "m1", "content": "x"}], [1], counts={"texts_embedded": 1})
    store.add(ALICE, units("a"), unit_vectors(1), pending_ids=[pending], counts={"units_extracted": 1})
    with pytest.raises(KeyError):  # the pending row is gone: nothing stored, nothing counted
        store.add(ALICE, units("b"), unit_vectors(1), pending_ids=[pending], counts={"units_extracted": 1})
    (item,) = store.get_all(ALICE)
    store.update(item.id, "a2", unit_vectors(1, seed=1)[0], counts={"texts_embedded": 1})
    assert store.counters(ALICE) == {"texts_embedded": 2, "units_extracted": 1}
    assert store.delete_all(ALICE) == 1
    assert store.counters(ALICE) == {"texts_embedded": 2, "units_extracted": 1}  # lifetime: kept
    store.reset()
    assert store.counters() == {}


def test_schema_4_file_gains_counters_starting_at_0(tmp_path: Path) -> None:
    with LongTermStore(tmp_path, DIM) as store:
        store.add(ALICE, units("kept"), unit_vectors(1))
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        conn.execute("DROP TABLE counters")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    with LongTermStore(tmp_path, DIM) as store:
        assert store.counters() == {} and store.count(ALICE) == 1
        store.add_counts(ALICE, {"llm_calls": 1})
        assert store.counters(ALICE) == {"llm_calls": 1}
    with sqlite3.connect(tmp_path / "memory.db") as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(schema.SCHEMA_VERSION),) == ("5",)
