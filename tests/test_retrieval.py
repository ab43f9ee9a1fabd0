"""Hybrid search: the keyword words of a query, reciprocal-rank fusion, and `Memory.search` fusing the
semantic and the keyword rankings (real store, real ONNX embedder)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lightmem.embedding import OnnxEmbedder
from lightmem.memory import Memory
from lightmem.retrieval import FUSION_DEPTH, MIN_KEYWORD_SCORE, RRF_K, fuse_rankings, hybrid_search, keywords
from lightmem.store import SQLiteStore, schema
from lightmem.types import ExtractedUnit, MemoryItem, Scope

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def item(memory_id: str) -> MemoryItem:
    return MemoryItem(memory_id, f"text {memory_id}", "u", None, None, created_at=NOW, updated_at=NOW)


def test_keywords_drop_common_words_and_repeats() -> None:
    assert keywords("When did Caroline go to the LGBTQ support group?") == [
        "caroline",
        "lgbtq",
        "support",
        "group",
    ]
    assert keywords("Maya's sister, MAYA's 2023 trip: Zürich!") == [
        "maya",
        "sister",
        "2023",
        "trip",
        "zürich",
    ]
    assert keywords("what is it?") == [] and keywords("") == []
    assert len(keywords(" ".join(f"word{i}" for i in range(100)))) == 32


def test_fusion_favours_items_both_rankings_agree_on() -> None:
    a, b, c, d = (item(x) for x in "abcd")
    fused = fuse_rankings([[a, b, c], [c, d]], [1.0, 1.0], limit=3)
    assert [i.id for i in fused] == ["c", "a", "b"]  # c is in both; b ties with d, first come first
    assert fused[0].score == pytest.approx(1 / (RRF_K + 2) + 1 / RRF_K)
    assert [i.id for i in fuse_rankings([[a, b], [c]], [1.0, 2.0], limit=5)] == ["c", "a", "b"]
    with pytest.raises(ValueError, match="2 rankings but 1 weights"):
        fuse_rankings([[a], [b]], [1.0], limit=1)


@given(
    st.lists(st.sampled_from("abcdefgh"), unique=True),
    st.lists(st.sampled_from("abcdefgh"), unique=True),
    st.integers(1, 10),
)
def test_fusion_with_a_zero_weight_keeps_the_first_ranking(
    first: list[str], second: list[str], limit: int
) -> None:
    fused = fuse_rankings([[item(x) for x in first], [item(x) for x in second]], [1.0, 0.0], limit)
    assert [i.id for i in fused if i.score] == first[:limit]


CONVERSATION = [
    ("t1", "Maya", "I finally booked the tickets for the Zorblax concert in Lyon."),
    ("t2", "Tom", "Nice! I spent the weekend repairing my old bicycle."),
    ("t3", "Maya", "My sister Lena started a new job at a bakery downtown."),
    ("t4", "Tom", "We went hiking in the Alps and saw a lot of snow."),
    ("t5", "Maya", "I am learning to play the violin with a teacher on Tuesdays."),
    ("t6", "Tom", "My brother is visiting us next month with his two kids."),
]


@pytest.fixture
def memory(tmp_path: Path, embedder: OnnxEmbedder) -> Memory:
    opened = Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000)
    opened.add([{"id": i, "name": n, "content": c} for i, n, c in CONVERSATION], user_id="u")
    opened.flush()
    return opened


def test_hybrid_search_ranks_the_unit_with_a_rare_query_word_first(memory: Memory) -> None:
    with memory:
        hits = memory.search("Who plays in Zorblax?", user_id="u", limit=3)
        assert hits[0].source == ("t1",)
        assert memory.search("Zorblax", user_id="someone else") == []


@pytest.mark.parametrize("query", ["Who plays in Zorblax?", "Maya's sister's job", "snow hiking trip"])
def test_scores_are_cosine_similarities_and_the_order_stays_fused(memory: Memory, query: str) -> None:
    """Regression: scores were reciprocal-rank-fusion sums (0.016 vs 0.033), on which no threshold could
    be set. Now each is the cosine of the query to the unit, whichever ranking found it, while the
    order stays the fused one (so recall is unchanged)."""
    with memory:
        store, limit = memory._store, 3
        vector = memory._embedder.embed([query])[0]
        depth = FUSION_DEPTH * limit
        expected_order = fuse_rankings(
            [
                store.search(vector, Scope("u"), depth),
                store.keyword_search(keywords(query), Scope("u"), depth, min_score=MIN_KEYWORD_SCORE),
            ],
            [1.0, 1.0],
            limit,
        )
        hits = memory.search(query, user_id="u", limit=limit)
        assert [h.id for h in hits] == [i.id for i in expected_order]
        stored = store.vectors([h.id for h in hits])
        for hit, cosine in zip(hits, stored @ (vector / np.linalg.norm(vector))):
            assert hit.score == pytest.approx(min(1.0, max(0.0, float(cosine))), abs=1e-5)
        assert hits[0].score is not None and hits[0].score > 0.3  # a usable scale, unlike 1 / 60


def test_threshold_drops_weak_hits_and_lets_the_next_ones_move_up(memory: Memory) -> None:
    with memory:
        everything = memory.search("Maya's sister's new job", user_id="u", limit=6)
        assert len(everything) == 6
        cut = sorted(h.score or 0.0 for h in everything)[3]  # the three best by score pass
        passing = [h for h in everything if (h.score or 0.0) >= cut]
        assert memory.search("Maya's sister's new job", user_id="u", limit=6, threshold=cut) == passing
        limited = memory.search("Maya's sister's new job", user_id="u", limit=2, threshold=cut)
        assert [h.id for h in limited] == [h.id for h in passing[:2]]
        assert memory.search("Maya's sister's new job", user_id="u", threshold=1.0) == []
        for bad in (-0.1, 1.5, "0.5", True):
            with pytest.raises(ValueError, match="threshold"):
                memory.search("job", user_id="u", threshold=bad)  # type: ignore[arg-type]


def test_a_hit_found_by_its_keywords_alone_is_scored_by_its_own_cosine(tmp_path: Path) -> None:
    """Eight units near the query vector outrank the keyword unit by meaning; the keyword ranking brings
    it in, with its own cosine (0.29) as score, not its BM25 relevance; a threshold of 0.5 replaces it
    with the next unit by meaning."""
    dim, scope = 4, Scope("u")
    near = [np.array([1.0, 0.1 * i, 0.0, 0.05], dtype=np.float32) for i in range(8)]
    far = np.array([0.3, 0.0, 1.0, 0.0], dtype=np.float32)
    texts = [f"plain note number {i}" for i in range(8)] + ["the zorblax concert"]
    with SQLiteStore(tmp_path / "mem", dim) as store:
        items = store.add(scope, [ExtractedUnit(t, ()) for t in texts], np.stack([*near, far]))
        query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
        hits = hybrid_search(store, "zorblax?", query, scope, 2, None, keyword_weight=1.0)
        assert [h.text for h in hits] == ["plain note number 0", "the zorblax concert"]
        assert hits[1].score == pytest.approx(0.3 / np.linalg.norm(far), abs=1e-5)
        strict = hybrid_search(store, "zorblax?", query, scope, 2, None, keyword_weight=1.0, threshold=0.5)
        assert [h.text for h in strict] == ["plain note number 0", "plain note number 1"]
        store.delete(items[-1].id)
        assert store.similarities(query, [items[-1].id, "unknown", items[0].id]) == {
            items[0].id: pytest.approx(float(near[0][0] / np.linalg.norm(near[0])))
        }


def test_pending_messages_rank_beside_units_by_the_same_cosine_and_bm25(tmp_path: Path) -> None:
    """A buffered message competes with the units on one scale: by meaning it sits between the units
    whose cosines it falls between, by keywords it is found like a unit; once a unit cites it (a flush
    that committed while the search read), only the unit is returned."""
    dim, scope = 4, Scope("u")
    near = [np.array([1.0, 0.1 * i, 0.0, 0.05], dtype=np.float32) for i in range(8)]
    far = np.array([0.0, 0.0, 1.0, 0.0], dtype=np.float32)
    middle = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32) / np.sqrt(2)
    message = {"id": "m1", "role": "user", "name": "Ann", "content": "the zorblax concert", "metadata": {}}
    texts = [f"plain note number {i}" for i in range(8)] + ["far note"]
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    with SQLiteStore(tmp_path / "mem", dim) as store:
        store.add(scope, [ExtractedUnit(t, ()) for t in texts], np.stack([*near, far]))
        store.pending_add(scope, [message], [3], middle[None, :])
        by_meaning = hybrid_search(store, "note", query, scope, 10, None, keyword_weight=0.0)
        assert [h.text for h in by_meaning][-2:] == ["Ann: the zorblax concert", "far note"]
        assert by_meaning[-2].pending and by_meaning[-2].score == pytest.approx(1 / np.sqrt(2), abs=1e-5)
        hits = hybrid_search(store, "zorblax?", query, scope, 2, None, keyword_weight=1.0)
        assert [h.text for h in hits] == ["plain note number 0", "Ann: the zorblax concert"]
        assert hits[1].pending and hits[1].source == ("m1",)
        store.add(scope, [ExtractedUnit("Ann: zorblax concert", ("m1",))], middle[None, :])  # still buffered
        both = hybrid_search(store, "zorblax?", query, scope, 10, None, keyword_weight=1.0)
        assert [h.source for h in both if "m1" in h.source] == [("m1",)]
        assert not any(h.pending for h in both)


def test_a_flush_in_one_scope_never_hides_a_message_of_another(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    """Message ids are unique per scope: a unit of agent y citing "m1" hid agent x's buffered "m1" from a
    search over user a (both agents)."""
    with Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000) as memory:
        cat = {"id": "m1", "content": "My cat Whiskers loves tuna from the corner shop."}
        memory.add(cat, user_id="a", agent_id="x")
        memory.add({"id": "m1", "content": "I drive a red Toyota to work."}, user_id="a", agent_id="y")
        memory.flush(user_id="a", agent_id="y")
        hits = memory.search("cat Whiskers", user_id="a", limit=5)
        assert any(h.pending and h.agent_id == "x" and "Whiskers" in h.text for h in hits)


def test_keyword_weight_zero_searches_by_meaning_only(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    with Memory(tmp_path / "mem", embedder=embedder, keyword_weight=0.0) as memory:
        memory.add([{"id": i, "name": n, "content": c} for i, n, c in CONVERSATION], user_id="u")
        memory.flush()
        hits = memory.search("Who plays in Zorblax?", user_id="u", limit=3)
        assert all(h.score is not None and 0.0 < h.score <= 1.0 for h in hits)  # cosine similarities
    with pytest.raises(ValueError, match="keyword_weight"):
        Memory(tmp_path / "other", embedder=embedder, keyword_weight=-1.0)


def test_without_fts5_memory_warns_and_searches_by_meaning(
    tmp_path: Path, embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(schema, "has_fts5", lambda conn: False)
    with (
        caplog.at_level(logging.WARNING, logger="lightmem"),
        Memory(tmp_path / "mem", embedder=embedder) as memory,
    ):
        memory.add([{"id": i, "name": n, "content": c} for i, n, c in CONVERSATION], user_id="u")
        memory.flush()
        hits = memory.search("Who plays in Zorblax?", user_id="u", limit=3)
    assert "keyword search is off" in caplog.text
    assert len(hits) == 3 and all(h.score is not None and h.score > 0 for h in hits)
