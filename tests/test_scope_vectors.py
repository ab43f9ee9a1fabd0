"""`ScopeVectors`, the bounded cache of small scopes' decoded vectors: fed a random change feed it holds
what a fresh read of each scope would, and never more bytes than its bound."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from lightmem.store.scope_vectors import (
    ENTRY_OVERHEAD,
    ScopeIds,
    ScopeKey,
    ScopeVectors,
    in_scope,
    scope_matrix,
)

DIM = 4
IDS: list[ScopeIds] = [("a", None, None), ("a", "bot", None), ("a", "bot", "r1"), ("b", None, None)]
KEYS: list[ScopeKey] = [
    ("a", None, None, False),
    ("a", None, None, True),
    ("a", "bot", None, False),
    ("b", None, None, False),
]
Units = dict[int, tuple[ScopeIds, np.ndarray]]

changes = st.lists(  # batches of (rowid, scope, alive) changes
    st.lists(st.tuples(st.integers(1, 12), st.sampled_from(IDS), st.booleans()), max_size=6), max_size=6
)


def _read(units: Units, key: ScopeKey) -> tuple[list[int], list[list[float]]]:
    rowids = sorted(r for r, (ids, _) in units.items() if in_scope(ids, key))
    return rowids, [units[r][1].tolist() for r in rowids]


def test_a_scope_matches_as_the_sql_conditions_do() -> None:
    assert in_scope(("a", "bot", "r1"), ("a", None, None, False))
    assert not in_scope(("a", "bot", "r1"), ("a", None, None, True))
    assert in_scope(("a", None, None), ("a", None, None, True))
    assert not in_scope(("b", None, None), ("a", None, None, False))


@settings(max_examples=80, deadline=None)
@given(batches=changes, seed=st.integers(0, 2**16))
def test_the_change_feed_keeps_every_cached_scope_as_a_fresh_read(
    batches: list[list[tuple[int, ScopeIds, bool]]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    units: Units = {}
    cache = ScopeVectors(1 << 20)
    for key in KEYS:
        cache.put(key, scope_matrix(np.empty(0, np.int64), np.empty((0, DIM), np.float32)))
    for batch in batches:
        latest = {rowid: (units[rowid][0] if rowid in units else ids, alive) for rowid, ids, alive in batch}
        rowids = np.array(list(latest), dtype=np.int64)
        live = np.array([alive for _, alive in latest.values()], dtype=bool)
        vectors = rng.normal(size=(int(live.sum()), DIM)).astype(np.float32)
        for rowid, ids, vector in zip(
            rowids[live].tolist(), [i for i, alive in latest.values() if alive], vectors
        ):
            units[rowid] = (ids, vector)
        for rowid in rowids[~live].tolist():
            units.pop(rowid, None)
        scopes = [ids for ids, _ in latest.values()]
        for _ in range(2):  # the second time: a change the cache has seen already
            cache.apply(rowids, scopes, live, vectors)
            for key in KEYS:
                cached = cache.get(key)
                assert cached is not None
                assert (cached.rowids.tolist(), cached.vectors.tolist()) == _read(units, key)


def test_the_least_recently_used_scopes_go_first_past_the_bound() -> None:
    one = scope_matrix(np.arange(10, dtype=np.int64), np.ones((10, DIM), np.float32))
    cache = ScopeVectors(3 * one.nbytes)
    for key in KEYS[:3]:
        cache.put(key, one)
    assert cache.get(KEYS[0]) is one  # now the most recently used
    cache.put(KEYS[3], one)
    assert cache.get(KEYS[1]) is None and cache.get(KEYS[0]) is one and cache.nbytes == 3 * one.nbytes
    grown = np.array([100], dtype=np.int64)  # a unit joins scope "a": the cache grows past its bound
    cache.apply(grown, [("a", None, None)], np.array([True]), np.ones((1, DIM), np.float32))
    assert cache.nbytes <= cache.max_bytes and cache.get(KEYS[0]) is not None
    cache.put(KEYS[2], scope_matrix(np.arange(10**4, dtype=np.int64), np.ones((10**4, DIM), np.float32)))
    assert cache.get(KEYS[2]) is None  # bigger than the bound: never kept
    assert ScopeVectors(0).nbytes == 0 and one.nbytes == 10 * 8 + 10 * DIM * 4 + ENTRY_OVERHEAD
