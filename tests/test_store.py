"""The behavioural contract of `MemoryStore` (lightmem.store.protocol), run against every store kind
(tests/stores.py): units, scopes, search, keyword search, consolidation support, the short-term buffer,
counters, and several stores (threads, processes) sharing one location.

What is particular to one implementation (its files, index, schema migrations, locks) is tested beside
it: test_sqlite_store.py."""

from __future__ import annotations

import logging
import random
import string
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lightmem.store import (
    Change,
    MemoryStore,
    SearchFilters,
    StoreError,
    VersionConflict,
    keyword_budget,
    open_store,
)
from lightmem.types import ExtractedUnit, Scope
from stores import ALICE, BOB, DIM, T0, StoreKind, brute_force, opened, unit_vectors, units


@pytest.fixture
def store(store_location: str) -> Iterator[MemoryStore]:
    with opened(store_location) as s:
        yield s


def test_add_get_get_all_count(store: MemoryStore) -> None:
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


def test_naive_event_time_is_taken_as_utc(store: MemoryStore) -> None:
    (item,) = store.add(
        ALICE, [ExtractedUnit("x", (), event_time=datetime(2024, 1, 2, 3, 4))], unit_vectors(1)
    )
    assert item.event_time == datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)


def test_update_bumps_version_and_records_history(store: MemoryStore) -> None:
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


def test_an_update_that_changes_nothing_writes_nothing(store: MemoryStore) -> None:
    """`update(id, text=<its own text>)`, or metadata it already holds, wrote an UPDATE history row and
    a new version that changed nothing; `True` for `1` is a change (JSON tells them apart)."""
    (item,) = store.add(ALICE, units("likes tea"), unit_vectors(1), metadata={"k": 1, "n": [1, 2]})
    assert store.update(item.id, "likes tea", unit_vectors(1)[0]) == item
    assert store.update(item.id, None, None, metadata={"n": [1, 2]}) == item
    assert store.update(item.id, "likes tea", unit_vectors(1)[0], metadata={"k": 1}, event="MERGE") == item
    assert [h.event for h in store.history(item.id)] == ["ADD"]
    changed = store.update(item.id, None, None, metadata={"k": True})
    assert changed.metadata == {"k": True, "n": [1, 2]} and changed.version == 2
    assert [h.event for h in store.history(item.id)] == ["ADD", "UPDATE"]
    with pytest.raises(KeyError):
        store.update("no-such-id", "likes tea", unit_vectors(1)[0])


def test_delete_is_a_tombstone(store_kind: StoreKind, store: MemoryStore) -> None:
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
    assert store_kind.check(store)


def test_delete_all_deletes_scope_units_and_pending(store_kind: StoreKind, store: MemoryStore) -> None:
    store.add(ALICE, units("a", "b"), unit_vectors(2))
    (bob_item,) = store.add(BOB, units("c"), unit_vectors(1, seed=3))
    store.pending_add(ALICE, [{"role": "user", "content": "hi"}], [1])
    assert store.delete_all(ALICE) == 2
    assert store.count(ALICE) == 0 and store.get(bob_item.id) is not None
    assert store.pending_list(ALICE) == []
    assert store.delete_all(ALICE) == 0
    assert store_kind.check(store)


def test_scope_isolation(store: MemoryStore) -> None:
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


def test_scope_none_id_means_any_value(store: MemoryStore) -> None:
    (in_a1,) = store.add(Scope(user_id="alice", agent_id="a1"), units("one"), unit_vectors(1))
    (in_a2,) = store.add(Scope(user_id="alice", agent_id="a2"), units("two"), unit_vectors(1, seed=1))
    assert {i.id for i in store.get_all(ALICE)} == {in_a1.id, in_a2.id}
    assert [i.id for i in store.get_all(Scope(user_id="alice", agent_id="a1"))] == [in_a1.id]
    assert store.get(in_a2.id, Scope(user_id="alice", agent_id="a1")) is None
    assert [i.id for i in store.get_all(Scope(agent_id="a2"))] == [in_a2.id]
    assert store.get_all(Scope(user_id="alice", run_id="r1")) == []


def test_search_ranks_by_cosine_and_honours_limit(store: MemoryStore) -> None:
    vectors = unit_vectors(30)
    items = store.add(ALICE, units(*(f"fact {i}" for i in range(30))), vectors)
    query = unit_vectors(1, seed=9)[0]
    hits = store.search(query * 3.0, ALICE, 5)
    assert [h.id for h in hits] == [items[i].id for i in brute_force(vectors, query, 5)]
    assert [h.score for h in hits] == pytest.approx(sorted(vectors @ query, reverse=True)[:5], abs=1e-5)


def test_neighbors_batch_rejects_bad_input(store: MemoryStore) -> None:
    store.add(ALICE, units("x"), unit_vectors(1))
    for bad, message in (
        (lambda: store.neighbors_batch(unit_vectors(2), ALICE, 0), "k must be"),
        (lambda: store.neighbors_batch(unit_vectors(2)[0], ALICE, 1), r"vectors must have shape \(n, 16\)"),
        (lambda: store.neighbors_batch(np.zeros((1, DIM)), ALICE, 1), "all-zero"),
        (lambda: store.neighbors_batch(unit_vectors(1), "alice", 1), "scope must be"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match=message):
            bad()


def test_search_filters_time_and_metadata(store: MemoryStore) -> None:
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


def test_keyword_search_ranks_by_bm25_and_follows_every_write(store: MemoryStore) -> None:
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
    changes = [
        Change(
            kind="update",
            memory_id=items[2].id,
            text="Maya adopted two cats",
            vector=unit_vectors(1, seed=2)[0],
        )
    ]
    store.apply_changes(changes)
    assert [h.text for h in store.keyword_search(["cats"], ALICE, 10)] == ["Maya adopted two cats"]
    assert store.keyword_search(["bread"], ALICE, 10, SearchFilters(metadata={"k": 2})) == []
    assert len(store.keyword_search(["bread"], ALICE, 10, SearchFilters(metadata={"k": 1}))) == 1
    store.delete_all(ALICE)
    assert store.keyword_search(["maya", "bread"], ALICE, 10) == []
    assert [h.text for h in store.keyword_search(["maya"], BOB, 10)] == ["Bob went hiking with Maya"]


def test_keyword_search_scopes_like_search(store: MemoryStore) -> None:
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


def test_keyword_search_min_score_drops_matches_on_common_words_only(store: MemoryStore) -> None:
    texts = [f"Tom: note {i}" for i in range(6)] + ["Maya: the beagle is called Biscuit", "Maya: hello"]
    items = store.add(ALICE, units(*texts), unit_vectors(len(texts)))
    assert len(store.keyword_search(["tom", "beagle"], ALICE, 10)) == 7
    (hit,) = store.keyword_search(["tom", "beagle"], ALICE, 10, min_score=1.0)  # tom: in most units
    assert hit.id == items[6].id and hit.score is not None and hit.score >= 1.0


def test_keyword_search_takes_any_words_literally(store: MemoryStore) -> None:
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


def test_search_rejects_bad_input(store: MemoryStore) -> None:
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


def test_update_and_pending_add_refuse_bad_arguments_alike(store: MemoryStore) -> None:
    """One set of checks for every store (`rows.check_update`, `rows.check_pending_add`): the same
    messages, nothing changed."""
    (item,) = store.add(ALICE, units("a"), unit_vectors(1))
    vector = unit_vectors(1)[0]
    bad_updates: list[tuple[dict[str, Any], str]] = [
        ({"text": None, "vector": None}, r"^text must be a non-empty string, got None$"),
        ({"text": "b", "vector": vector, "event": "ADD"}, r"^event must be one of"),
        ({"text": None, "vector": None, "metadata": {1: 2}}, r"^metadata must be a mapping with string keys"),
        (
            {"text": "b", "vector": vector, "counts": {"x": 0.5}},
            r"^counter 'x' must be an integer >= 0, got 0.5$",
        ),
        ({"text": "b", "vector": vector, "scope": "alice"}, r"^scope must be a lightmem Scope, got str$"),
    ]
    for arguments, message in bad_updates:
        with pytest.raises(ValueError, match=message):
            store.update(item.id, **arguments)
    message = {"role": "user", "content": "hi"}
    for words, problem in [
        ([1.5], r"^words\[0\] must be an integer >= 0, got 1.5$"),
        ([1, 2], r"^messages and words differ in length: 1 != 2$"),
    ]:
        with pytest.raises(ValueError, match=problem):
            store.pending_add(ALICE, [message], words)
    assert store.get(item.id) == item and store.pending_count() == 0


def test_limits_and_time_ranges_are_value_errors_naming_the_argument(store: MemoryStore) -> None:
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


def test_persistence_across_reopen(
    store_kind: StoreKind, store_location: str, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = unit_vectors(10)
    with opened(store_location) as store:
        items = store.add(ALICE, units(*(f"f{i}" for i in range(10))), vectors)
        store.delete(items[0].id)
    with caplog.at_level(logging.WARNING, logger="lightmem"), opened(store_location) as store:
        assert store_kind.check(store)
        assert store.count() == 9 and store.get(items[3].id) == items[3]
        assert store.search(vectors[3], ALICE, 1)[0].id == items[3].id
    assert not caplog.records


def test_second_store_sees_writes_through_the_change_feed(store_kind: StoreKind, store_location: str) -> None:
    vectors = unit_vectors(3)
    with opened(store_location) as writer, opened(store_location) as reader:
        assert reader.search(vectors[0], ALICE, 3) == []
        items = writer.add(ALICE, units("a", "b", "c"), vectors)
        assert reader.search(vectors[0], ALICE, 1)[0].id == items[0].id
        writer.delete(items[0].id)
        assert items[0].id not in {h.id for h in reader.search(vectors[0], ALICE, 3)}
        writer.update(items[1].id, "b moved", vectors[0])
        top = reader.search(vectors[0], ALICE, 1)[0]
        assert (top.id, top.text) == (items[1].id, "b moved")
        assert store_kind.check(reader) and store_kind.check(writer)


def test_writes_of_another_process_are_seen(store_kind: StoreKind, store_location: str) -> None:
    child = (
        "import sys, numpy as np\n"
        "from contextlib import closing\n"
        "from lightmem.store import open_store\n"
        "from lightmem.types import ExtractedUnit, Scope\n"
        "with closing(open_store(sys.argv[1], int(sys.argv[2]))) as store:\n"
        "    vector = np.random.default_rng(42).normal(size=int(sys.argv[2]))\n"
        "    unit = ExtractedUnit('from the child', ())\n"
        "    print(store.add(Scope(user_id='alice'), [unit], vector[None])[0].id)\n"
    )
    query = np.random.default_rng(42).normal(size=DIM)
    with opened(store_location) as store:
        store.add(ALICE, units("from the parent"), unit_vectors(1))
        done = subprocess.run(
            [sys.executable, "-c", child, store_location, str(DIM)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        top = store.search(query, ALICE, 1)[0]
        assert (top.id, top.text) == (done.stdout.strip(), "from the child")
        assert store_kind.check(store) and store.count() == 2


def test_threads_share_one_store(store_kind: StoreKind, store: MemoryStore) -> None:
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
    assert errors == [] and store.count() == 20 and store_kind.check(store)


def test_apply_changes_is_all_or_nothing(store: MemoryStore) -> None:
    a, b, c = store.add(ALICE, units("a", "b", "c"), unit_vectors(3))
    before = [store.get(i.id) for i in (a, b, c)]
    bad = [
        Change(kind="update", memory_id=a.id, text="a+b", vector=unit_vectors(1, seed=7)[0], event="MERGE"),
        Change(kind="delete", memory_id=b.id),
        Change(kind="delete", memory_id="no-such-id"),
    ]
    with pytest.raises(KeyError, match="no-such-id"):
        store.apply_changes(bad)
    assert [store.get(i.id) for i in (a, b, c)] == before and len(store.history(a.id)) == 1
    with pytest.raises(KeyError):  # deleted twice: fails midway, rolled back
        store.apply_changes([Change(kind="delete", memory_id=b.id), Change(kind="delete", memory_id=b.id)])
    assert store.get(b.id) == before[1]
    store.apply_changes(
        [
            *bad[:2],
            Change(kind="mark_consolidated", memory_id=a.id),
            Change(kind="mark_consolidated", memory_id=c.id),
        ]
    )
    assert store.get(a.id).text == "a+b" and store.get(b.id) is None  # type: ignore[union-attr]
    assert store.history(a.id)[-1].event == "MERGE"
    assert store.unconsolidated() == []
    assert store.search(unit_vectors(1, seed=7)[0], ALICE, 1)[0].id == a.id


def test_change_validation() -> None:
    for make, message in (
        (lambda: Change(kind="rename", memory_id="x"), "kind"),
        (lambda: Change(kind="update", memory_id="x", text="t"), "vector"),
        (lambda: Change(kind="update", memory_id="x"), "needs a text with its vector, or a source"),
        (
            lambda: Change(kind="update", memory_id="x", text="t", vector=np.ones(DIM), event="DELETE"),
            "event",
        ),
        (lambda: Change(kind="update", memory_id="x", source="D1:1"), "sequence of strings"),  # type: ignore[arg-type]
        (lambda: Change(kind="update", memory_id="x", source=("D1:1", 2)), "strings only"),  # type: ignore[arg-type]
        (lambda: Change(kind="delete", memory_id="x", source=("D1:1",)), "updates only"),
        (lambda: Change(kind="delete", memory_id="x", expected_version=0), "expected_version"),
        (lambda: Change(kind="delete", memory_id="x", expected_version=True), "expected_version"),
    ):
        with pytest.raises(ValueError, match=message):
            make()
    assert Change(kind="update", memory_id="x", source=["D1:1"]).source == ("D1:1",)  # type: ignore[arg-type]


def test_a_change_is_built_from_keywords_only() -> None:
    with pytest.raises(TypeError):
        Change("delete", "x")  # type: ignore[misc]
    change = Change(kind="delete", memory_id="x", reason="gone")
    assert (change.kind, change.memory_id, change.reason, change.event) == ("delete", "x", "gone", "UPDATE")


def test_update_of_the_source_alone_keeps_text_vector_and_mark(
    store_kind: StoreKind, store: MemoryStore
) -> None:
    kept, dup = store.add(ALICE, units("Alice likes tea", "alice likes tea"), unit_vectors(2))
    store.apply_changes([Change(kind="mark_consolidated", memory_id=kept.id)])
    store.apply_changes(
        [
            Change(
                kind="update",
                memory_id=kept.id,
                source=(*kept.source, *dup.source),
                reason="absorbed",
                event="MERGE",
            ),
            Change(kind="delete", memory_id=dup.id, reason=f"duplicate of {kept.id}"),
        ]
    )
    item = store.get(kept.id)
    assert item is not None and item.source == ("D1:1", "D1:2") and item.text == "Alice likes tea"
    assert item.version == 2 and [i.id for i, _ in store.unconsolidated()] == []
    last = store.history(kept.id)[-1]
    assert (last.event, last.old_text, last.new_text, last.reason) == ("MERGE", *[kept.text] * 2, "absorbed")
    assert store_kind.check(store) and store.search(unit_vectors(2)[0], ALICE, 1)[0].id == kept.id
    store.apply_changes(
        [
            Change(
                kind="update", memory_id=kept.id, text="Alice loves tea", vector=unit_vectors(1)[0], source=()
            )
        ]
    )
    item = store.get(kept.id)
    assert item is not None and (item.text, item.source, item.version) == ("Alice loves tea", (), 3)
    store.apply_changes(
        [Change(kind="update", memory_id=kept.id, text="Alice adores tea", vector=unit_vectors(1)[0])]
    )
    assert store.get(kept.id).source == ()  # type: ignore[union-attr]  # no source given: kept as it was


def test_expected_version_guards_against_concurrent_updates(store: MemoryStore) -> None:
    a, b = store.add(ALICE, units("a", "b"), unit_vectors(2))
    store.update(a.id, "a by the user", unit_vectors(1, seed=3)[0])  # version 2, after the pass read it
    stale = [
        Change(kind="delete", memory_id=b.id, expected_version=1),
        Change(
            kind="update", memory_id=a.id, text="a by the LLM", vector=unit_vectors(1)[0], expected_version=1
        ),
        Change(kind="mark_consolidated", memory_id=a.id, expected_version=1),
    ]
    with pytest.raises(VersionConflict, match=rf"{a.id} \(version 2, expected 1\)"):
        store.apply_changes(stale)
    assert store.get(a.id).text == "a by the user" and store.get(b.id) is not None  # type: ignore[union-attr]
    # versions are those before the call: an update and the mark after it both expect version 2
    store.apply_changes(
        [
            Change(kind="delete", memory_id=b.id, expected_version=1),
            Change(
                kind="update",
                memory_id=a.id,
                text="a by the LLM",
                vector=unit_vectors(1)[0],
                expected_version=2,
            ),
            Change(kind="mark_consolidated", memory_id=a.id, expected_version=2),
        ]
    )
    item = store.get(a.id)
    assert item is not None and (item.text, item.version) == ("a by the LLM", 3) and store.get(b.id) is None
    assert store.unconsolidated() == []


def test_unconsolidated_vectors_and_update_resets_mark(store: MemoryStore) -> None:
    vectors = unit_vectors(3)
    items = store.add(ALICE, units("a", "b", "c"), vectors)
    pending = store.unconsolidated(ALICE)
    assert [i.id for i, _ in pending] == [i.id for i in items]
    np.testing.assert_allclose(np.stack([v for _, v in pending]), vectors, atol=1e-6)
    np.testing.assert_allclose(store.vectors([items[2].id, items[0].id]), vectors[[2, 0]], atol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        store.vectors(["nope"])
    store.apply_changes([Change(kind="mark_consolidated", memory_id=i.id) for i in items])
    assert store.unconsolidated(limit=5) == []
    store.update(items[1].id, "b2", vectors[1])
    assert [i.id for i, _ in store.unconsolidated()] == [items[1].id]


def test_pending_buffer_round_trip(store: MemoryStore) -> None:
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


def test_stale_pending_ids_never_take_newer_messages(store_location: str) -> None:
    """Process A reads the buffer, process B extracts it and a new message arrives: A's extraction is
    refused, and the new message (which must not inherit a freed id) stays pending."""
    with opened(store_location) as a, opened(store_location) as b:
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
    store: MemoryStore, caplog: pytest.LogCaptureFixture
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


def test_processes_adding_one_message_id_at_once_store_it_once(store_location: str) -> None:
    child = (
        "import sys\n"
        "from contextlib import closing\n"
        "from lightmem.store import open_store\n"
        "from lightmem.types import Scope\n"
        "with closing(open_store(sys.argv[1], int(sys.argv[2]))) as store:\n"
        "    for i in range(0, 60, 3):\n"
        "        batch = [{'id': f'm{j}', 'content': f'message {j}'} for j in range(i, i + 3)]\n"
        "        store.pending_add(Scope(user_id='alice'), batch, [2, 2, 2])\n"
    )
    open_store(store_location, DIM).close()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", child, store_location, str(DIM)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for process in children:
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    with opened(store_location) as store:
        assert sorted(m["id"] for _, m in store.pending_list(ALICE)) == sorted(f"m{j}" for j in range(60))


def test_dimension_mismatch_is_refused(store_location: str) -> None:
    open_store(store_location, DIM).close()
    with pytest.raises(StoreError, match=f"{DIM}.*{DIM * 2}"):
        opened(store_location, DIM * 2)


def test_closed_store_refuses_use(store_location: str) -> None:
    store = open_store(store_location, DIM)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()
    with pytest.raises(StoreError, match="closed"):
        store.search(unit_vectors(1)[0], ALICE, 1)


def test_failed_write_rolls_back(store: MemoryStore) -> None:
    (item,) = store.add(ALICE, units("a"), unit_vectors(1))
    with pytest.raises(KeyError):  # the update succeeds, then the delete of an unknown id fails
        store.apply_changes(
            [
                Change(kind="update", memory_id=item.id, text="b", vector=unit_vectors(1)[0]),
                Change(kind="delete", memory_id="x"),
            ]
        )
    assert store.get(item.id) == item and len(store.history(item.id)) == 1


def test_counters_are_kept_per_exact_scope_and_summed_over_a_query_scope(store: MemoryStore) -> None:
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


def test_counters_of_a_write_are_in_its_transaction(store: MemoryStore) -> None:
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


def test_open_store_takes_a_url_it_has_no_store_for_as_an_error_not_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="no store for mysql:// locations"):
        open_store("mysql://db.example/memories", DIM)
    assert list(tmp_path.iterdir()) == []
    with opened("C://store") as store:  # a drive letter, not a scheme
        assert store.count() == 0


def test_ids_too_long_for_an_index_are_a_value_error(store: MemoryStore) -> None:
    """Ids longer than `MAX_ID_BYTES` (a PostgreSQL btree key stops at about 2.7 kB) are bad input in every
    store: a ValueError before anything is written (PostgreSQL gave a StoreError, or, for repetitive ids
    its index compresses, buffered a message its flush could never store; SQLite took them)."""
    rng = random.Random(0)
    long_scope = Scope(user_id="".join(rng.choice(string.ascii_letters) for _ in range(3000)))
    with pytest.raises(ValueError, match="more than a memory store indexes"):
        store.pending_add(Scope(user_id="cat " * 700), [{"id": "m1", "role": "user", "content": "hi"}], [1])
    with pytest.raises(ValueError, match="ids of scope and message take 3003 bytes"):
        store.pending_add(ALICE, [{"id": "x" * 2998, "role": "user", "content": "hi"}], [1])
    with pytest.raises(ValueError, match="more than a memory store indexes"):
        store.pending_add(long_scope, [{"id": "m1", "role": "user", "content": "hi"}], [1])
    with pytest.raises(ValueError, match="more than a memory store indexes"):
        store.add(long_scope, units("Alice likes tea"), unit_vectors(1))
    assert store.count() == 0 and store.pending_count() == 0
    store.add(ALICE, units("Alice likes tea"), unit_vectors(1))
    assert store.count() == 1


def test_keyword_search_skips_words_too_many_units_hold(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the rarest words, up to the postings budget, are scored: the rare-word match comes first and
    a word held by more units than the budget adds no hits (it would cost more than it ranks; PostgreSQL
    scored every match: 1.4 s p50 a hybrid search at 100k units)."""
    monkeypatch.setattr(keyword_budget, "POSTINGS_BUDGET", 50)
    texts = [f"apple pie number {i}" for i in range(120)] + ["apple zebra crossing"]
    store.add(ALICE, units(*texts), unit_vectors(len(texts)))
    hits = store.keyword_search(["apple", "zebra"], ALICE, 10)
    assert [h.text for h in hits] == ["apple zebra crossing"]
    assert store.keyword_search(["apple"], ALICE, 10) == []
    monkeypatch.setattr(keyword_budget, "POSTINGS_BUDGET", 1000)
    assert len(store.keyword_search(["apple"], ALICE, 10)) == 10
