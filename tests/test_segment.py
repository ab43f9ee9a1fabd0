"""`_core.topic_boundaries` against a naive pure-Python oracle of the documented algorithm, and its checks."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightmem import _core
from lightmem._core import KernelInputError

SCALE = 2**32  # gap scores are fixed point in units of 2^-32 (see rust/src/segment.rs)


# --- oracle ---------------------------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    norm_a, norm_b = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return sum(x * y for x, y in zip(a, b)) / (norm_a * norm_b)


def reference_gap_scores(rows: list[list[float]], window: int) -> list[int]:
    """Mean pairwise cosine across each gap, in fixed point."""
    n, scores = len(rows), []
    for gap in range(1, n):
        left, right = range(max(0, gap - window), gap), range(gap, min(n, gap + window))
        mean = sum(cosine(rows[a], rows[b]) for a in left for b in right) / (len(left) * len(right))
        scores.append(math.floor(mean * SCALE + 0.5))
    return scores


def reference_depths(s: list[int]) -> list[int]:
    """Depth at local minima (plateaus count once, at their first gap), by walking from every gap."""
    depths = []
    for j, value in enumerate(s):
        end = j
        while end + 1 < len(s) and s[end + 1] == value:
            end += 1
        is_minimum = (j == 0 or s[j - 1] > value) and (end + 1 == len(s) or s[end + 1] > value)
        left = right = j
        while left > 0 and s[left - 1] >= s[left]:
            left -= 1
        while right + 1 < len(s) and s[right + 1] >= s[right]:
            right += 1
        depths.append((s[left] - value) + (s[right] - value) if is_minimum else 0)
    return depths


def reference_boundaries(
    rows: list[list[float]],
    time_gaps: Optional[list[float]],
    window: int,
    threshold: float,
    min_len: int,
    max_len: int,
    max_gap: float,
) -> list[int]:
    n = len(rows)
    if n < 2:
        return []
    scores = reference_gap_scores(rows, window)
    depths = reference_depths(scores)
    # depth > mean + threshold * std, multiplied through by G with exact integer sums.
    g, s1, s2 = len(depths), sum(depths), sum(d * d for d in depths)
    spread = threshold * math.sqrt(float(g * s2 - s1 * s1))
    candidates = [j for j, d in enumerate(depths) if d > 0 and float(g * d - s1) > spread]

    accepted = {0, n} | {i + 1 for i, t in enumerate(time_gaps or []) if t > max_gap}
    for j in sorted(candidates, key=lambda j: (-depths[j], j)):
        if all(abs(j + 1 - q) >= min_len for q in accepted):
            accepted.add(j + 1)

    def split(a: int, b: int) -> list[int]:
        if b - a <= max_len:
            return []
        margin = min(min_len, (b - a) // 2)
        p = min(range(a + margin, b - margin + 1), key=lambda p: (scores[p - 1], abs(2 * p - a - b), p))
        return [*split(a, p), p, *split(p, b)]

    edges = sorted(accepted)
    starts = set(edges) | {p for a, b in zip(edges, edges[1:]) for p in split(a, b)}
    return sorted(starts - {0, n})


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def integer_embeddings(draw: st.DrawFn) -> np.ndarray:
    """Small integer entries: zero rows, duplicate rows and exactly tied gap scores are common."""
    n, d = draw(st.integers(0, 30)), draw(st.integers(1, 4))
    values = draw(st.lists(st.integers(-2, 2), min_size=n * d, max_size=n * d))
    return np.asarray(values, dtype=np.float32).reshape(n, d)


@st.composite
def topic_embeddings(draw: st.DrawFn) -> np.ndarray:
    """Runs of turns around a few random topic directions, plus noise."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    runs = draw(st.lists(st.integers(1, 8), min_size=1, max_size=6))
    d = draw(st.integers(2, 16))
    centres = rng.normal(size=(len(runs), d))
    rows = np.repeat(centres, runs, axis=0) + draw(st.sampled_from([0.0, 0.3, 1.0])) * rng.normal(
        size=(sum(runs), d)
    )
    return rows.astype(np.float32)


@st.composite
def segment_params(draw: st.DrawFn, n: int) -> dict[str, Any]:
    min_len = draw(st.integers(1, 5))
    gaps = draw(
        st.none() | st.lists(st.floats(0, 10, width=32), min_size=max(n - 1, 0), max_size=max(n - 1, 0))
    )
    return {
        "time_gaps": gaps,
        "window": draw(st.integers(1, 4)),
        "threshold": draw(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]) | st.floats(-2, 3)),
        "min_len": min_len,
        "max_len": draw(st.integers(min_len, min_len + 12)),
        "max_gap": draw(st.sampled_from([math.inf, 0.0, 3.0, 9.5])),
    }


def run_kernel(x: np.ndarray, params: dict[str, Any]) -> list[int]:
    gaps = params["time_gaps"]
    kwargs = {k: v for k, v in params.items() if k != "time_gaps"}
    time_gaps = None if gaps is None else np.asarray(gaps, dtype=np.float32)
    starts = _core.topic_boundaries(x, time_gaps, **kwargs)
    assert starts.dtype == np.int64 and starts.ndim == 1
    return starts.tolist()


def check_against_reference(x: np.ndarray, params: dict[str, Any]) -> list[int]:
    got = run_kernel(x, params)
    rows = x.astype(np.float64).tolist()
    assert got == reference_boundaries(rows, **params)
    return got


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.data(), x=integer_embeddings() | topic_embeddings())
def test_matches_reference(data: st.DataObject, x: np.ndarray) -> None:
    params = data.draw(segment_params(len(x)))
    starts = check_against_reference(x, params)
    n, min_len, max_len = len(x), params["min_len"], params["max_len"]
    assert starts == sorted(set(starts)) and all(0 < s < n for s in starts)
    edges = [0, *starts, n]
    assert all(b - a <= max_len for a, b in zip(edges, edges[1:])) or n == 0
    forced = {i + 1 for i, t in enumerate(params["time_gaps"] or []) if t > params["max_gap"]}
    assert forced <= set(starts)
    if max_len >= 2 * min_len - 1 and not forced:
        assert all(b - a >= min_len for a, b in zip(edges, edges[1:])) or n < 2 * min_len


# --- behaviour ------------------------------------------------------------------------------------


def test_finds_clear_topic_changes() -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 32))
    x = (np.repeat(centres, 8, axis=0) + 0.2 * rng.normal(size=(24, 32))).astype(np.float32)
    assert _core.topic_boundaries(x).tolist() == [8, 16]
    assert _core.topic_boundaries(x, window=1).tolist() == [8, 16]


@pytest.mark.parametrize("window", [1, 2, 3, 5])
def test_equal_vectors_have_no_topic_boundary(window: int) -> None:
    x = np.tile(np.array([0.3, -1.2, 0.7], dtype=np.float32), (12, 1))
    assert _core.topic_boundaries(x, window=window).tolist() == []
    long = np.tile(np.array([0.3, -1.2, 0.7], dtype=np.float32), (40, 1))
    assert _core.topic_boundaries(long, window=window, max_len=16).tolist() == [10, 20, 30]


def test_long_pause_is_always_a_boundary() -> None:
    x = np.tile(np.array([1.0, 0.0], dtype=np.float32), (6, 1))
    gaps = np.array([0.1, 0.1, 0.1, 0.1, 8.0], dtype=np.float32)
    assert _core.topic_boundaries(x, gaps, max_gap=4.0, min_len=3).tolist() == [5]
    assert _core.topic_boundaries(x, gaps).tolist() == []  # max_gap defaults to inf
    assert _core.topic_boundaries(x, gaps, max_gap=8.0).tolist() == []  # strictly longer


def test_zero_rows_are_dissimilar_to_everything() -> None:
    x = np.tile(np.array([1.0, 2.0], dtype=np.float32), (8, 1))
    x[4] = 0.0
    check_against_reference(
        x,
        {"time_gaps": None, "window": 1, "threshold": 0.0, "min_len": 1, "max_len": 16, "max_gap": math.inf},
    )
    assert _core.topic_boundaries(x, window=1, threshold=0.0, min_len=1).tolist() == [4]  # plateau: first gap


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_turns_have_no_boundary(n: int) -> None:
    starts = _core.topic_boundaries(np.ones((n, 384), np.float32), np.zeros(0, np.float32))
    assert starts.tolist() == [] and starts.dtype == np.int64


def test_accepts_non_contiguous_arrays() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 16)).astype(np.float32)
    expected = _core.topic_boundaries(x, window=1, threshold=0.0).tolist()
    assert _core.topic_boundaries(np.asfortranarray(x), window=1, threshold=0.0).tolist() == expected
    wide = np.zeros((60, 32), np.float32)
    wide[:, ::2] = x
    assert _core.topic_boundaries(wide[:, ::2], window=1, threshold=0.0).tolist() == expected
    gaps = rng.uniform(0, 5, size=118).astype(np.float32)
    assert (
        _core.topic_boundaries(x, gaps[::2], max_gap=4.0).tolist()
        == _core.topic_boundaries(x, gaps[::2].copy(), max_gap=4.0).tolist()
    )


def test_defaults_match_the_config_defaults() -> None:
    from lightmem.config import LightMemConfig

    config = LightMemConfig()
    x = np.random.default_rng(5).normal(size=(50, 8)).astype(np.float32)
    assert (
        _core.topic_boundaries(x).tolist()
        == _core.topic_boundaries(
            x,
            window=2,
            threshold=config.segment_threshold,
            min_len=config.segment_min_turns,
            max_len=config.segment_max_turns,
        ).tolist()
    )


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        _core.topic_boundaries(np.ones((3, 2), np.float32), None, 2)  # type: ignore[misc]


# --- bad input ------------------------------------------------------------------------------------

GOOD = np.ones((4, 3), dtype=np.float32)


@pytest.mark.parametrize(
    ("embeddings", "time_gaps", "options", "message"),
    [
        (
            GOOD.astype(np.float64),
            None,
            {},
            "embeddings must be a 2-D numpy array of dtype float32, got .*float64",
        ),
        (GOOD.tolist(), None, {}, "embeddings must be .* got an object of type list"),
        (GOOD[0], None, {}, "embeddings must be a 2-D .* got a 1-D array"),
        (GOOD[None], None, {}, "embeddings must be a 2-D .* got a 3-D array"),
        (np.where(np.eye(4, 3) > 0, np.nan, 1).astype(np.float32), None, {}, "embeddings must be finite"),
        (np.full((4, 3), np.inf, np.float32), None, {}, "embeddings must be finite"),
        (GOOD, np.zeros(4, np.float32), {}, "time_gaps has length 4, expected n - 1 = 3"),
        (GOOD, np.zeros(0, np.float32), {}, "time_gaps has length 0"),
        (GOOD[:0], np.zeros(1, np.float32), {}, "time_gaps has length 1, expected n - 1 = 0"),
        (GOOD, np.zeros(3), {}, "time_gaps must be a 1-D numpy array of dtype float32"),
        (GOOD, np.array([0, np.nan, 0], dtype=np.float32), {}, "time_gaps must be finite"),
        (GOOD, np.array([0, -1, 0], dtype=np.float32), {}, "time_gaps must be >= 0"),
        (GOOD, None, {"window": 0}, "window must be >= 1, got 0"),
        (GOOD, None, {"window": -2}, "window must be >= 1, got -2"),
        (GOOD, None, {"min_len": 0}, "min_len must be >= 1"),
        (GOOD, None, {"min_len": 3, "max_len": 2}, "max_len must be >= min_len"),
        (GOOD, None, {"threshold": math.nan}, "threshold must be finite"),
        (GOOD, None, {"threshold": math.inf}, "threshold must be finite"),
        (GOOD, None, {"max_gap": math.nan}, "max_gap must be >= 0"),
        (GOOD, None, {"max_gap": -1.0}, "max_gap must be >= 0"),
    ],
)
def test_rejects_bad_input(
    embeddings: object, time_gaps: object, options: dict[str, float], message: str
) -> None:
    with pytest.raises(KernelInputError, match=message):
        _core.topic_boundaries(embeddings, time_gaps, **options)  # type: ignore[arg-type]
