"""Hybrid search: the keyword words of a query, reciprocal-rank fusion, and `Memory.search` fusing the
semantic and the keyword rankings (real store, real ONNX embedder)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lightmem.embedding import OnnxEmbedder
from lightmem.memory import Memory
from lightmem.retrieval import RRF_K, fuse_rankings
from lightmem.sensory import keywords
from lightmem.store import schema
from lightmem.types import MemoryItem

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
        assert all(h.score is not None and 0 < h.score <= 2 / RRF_K for h in hits)
        assert [h.score for h in hits] == sorted([h.score for h in hits], reverse=True)  # type: ignore[type-var]
        assert memory.search("Zorblax", user_id="someone else") == []


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
