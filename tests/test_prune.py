"""`_core.score_tokens` and `_core.prune_tokens` against naive pure-Python oracles, and their input checks.
(What `SensoryMemory.compress` keeps, word by word, is tested in test_fidelity.py.)"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightmem import _core
from lightmem._core import KernelInputError

FLAGS = {
    "force_keep": _core.FLAG_FORCE_KEEP,
    "entity": _core.FLAG_ENTITY,
    "number": _core.FLAG_NUMBER,
    "date": _core.FLAG_DATE,
    "filler": _core.FLAG_FILLER,
    "stopword": _core.FLAG_STOPWORD,
}


# --- oracles --------------------------------------------------------------------------------------


def reference_score(
    token_ids: list[int], offsets: list[int], table: list[float], counts: list[float], flags: list[int]
) -> list[float]:
    """The documented scoring formula, token by token, in float32."""
    f32 = np.float32
    rarest = min(table)
    scores = []
    for start, end in zip(offsets, offsets[1:]):
        seen: set[int] = set()
        for i in range(start, end):
            word, flag = token_ids[i], flags[i]
            logprob, count = (table[word], counts[word]) if word < len(table) else (rarest, 0.0)
            adjust = f32(3.0) * sum(bool(flag & FLAGS[k]) for k in ("entity", "number", "date"))
            adjust -= f32(6.0) * bool(flag & FLAGS["filler"]) + f32(3.0) * bool(flag & FLAGS["stopword"])
            score = -f32(logprob) - f32(0.5) * np.log1p(f32(count)) + f32(adjust)
            scores.append(float(score - f32(2.0) * (word in seen)))
            seen.add(word)
    return scores


def reference_prune(
    scores: list[float],
    offsets: list[int],
    ratio: float,
    force_keep: list[bool],
    min_words: int = 1,
    bridges: list[bool] | None = None,
) -> list[bool]:
    """Per turn keeps the forced words, then ceil(ratio * others) of the others (enough for min_words
    words in all, at least one), the best first, all by plain sorting; then each word left out between
    two kept words of its turn whose bridges entry is true."""
    keep = [False] * len(scores)
    for start, end in zip(offsets, offsets[1:]):
        forced = [i for i in range(start, end) if force_keep[i]]
        others = sorted((i for i in range(start, end) if not force_keep[i]), key=lambda i: (-scores[i], i))
        share = math.ceil(ratio * len(others) - 1e-9)
        wanted = min(len(others), max(share, max(min_words, 1) - len(forced)))
        for i in forced + others[:wanted]:
            keep[i] = True
        if bridges is not None:
            chosen = keep[:]
            for i in range(start + 1, end - 1):
                keep[i] = chosen[i] or (bridges[i] and chosen[i - 1] and chosen[i + 1])
    return keep


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def ragged_batches(draw: st.DrawFn, max_turns: int = 6, max_len: int = 10) -> tuple[list[int], int]:
    """Turn lengths (including empty turns) as offsets, and the total token count."""
    lengths = draw(st.lists(st.integers(0, max_len), max_size=max_turns))
    offsets = [0, *np.cumsum(lengths, dtype=np.int64).tolist()]
    return offsets, offsets[-1]


def arrays(offsets: list[int], *columns: tuple[list, type]) -> list[np.ndarray]:
    return [np.asarray(offsets, dtype=np.int64)] + [np.asarray(c, dtype=t) for c, t in columns]


# --- score_tokens ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data(), batch=ragged_batches())
def test_score_tokens_matches_reference(data: st.DataObject, batch: tuple[list[int], int]) -> None:
    offsets, n = batch
    vocab = data.draw(st.integers(1, 6))
    table = data.draw(st.lists(st.floats(-20, 0, width=32), min_size=vocab, max_size=vocab))
    counts = data.draw(st.lists(st.floats(0, 1e4, width=32), min_size=vocab, max_size=vocab))
    ids = data.draw(st.lists(st.integers(0, vocab + 2), min_size=n, max_size=n))  # some unknown ids
    flags = data.draw(st.lists(st.integers(0, 63), min_size=n, max_size=n))
    offs, ids_a, table_a, counts_a, flags_a = arrays(
        offsets, (ids, np.uint32), (table, np.float32), (counts, np.float32), (flags, np.uint8)
    )
    got = _core.score_tokens(ids_a, offs, table_a, counts_a, flags_a)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_allclose(got, reference_score(ids, offsets, table, counts, flags), rtol=1e-5, atol=1e-5)


def test_score_tokens_long_turns_match_reference() -> None:
    """Turns around the kernel's 64-token switch from scanning to hashing, with many repeats."""
    rng = np.random.default_rng(11)
    lengths = [0, 1, 63, 64, 65, 200, 1000]
    offsets = [0, *np.cumsum(lengths).tolist()]
    n = offsets[-1]
    table = rng.uniform(-15, -1, size=50).tolist()
    counts = rng.integers(0, 100, size=50).astype(float).tolist()
    ids = rng.integers(0, 60, size=n).tolist()  # ids >= 50 are unknown words
    flags = rng.integers(0, 64, size=n).tolist()
    offs, ids_a, table_a, counts_a, flags_a = arrays(
        offsets, (ids, np.uint32), (table, np.float32), (counts, np.float32), (flags, np.uint8)
    )
    got = _core.score_tokens(ids_a, offs, table_a, counts_a, flags_a)
    np.testing.assert_allclose(got, reference_score(ids, offsets, table, counts, flags), rtol=1e-5, atol=1e-5)


def test_rare_and_salient_words_score_higher() -> None:
    table = np.array([-3.0, -12.0, -7.0], dtype=np.float32)  # "the", "Paris", "um"
    ids = np.array([0, 1, 2, 1], dtype=np.uint32)
    flags = np.array([FLAGS["stopword"], FLAGS["entity"], FLAGS["filler"], FLAGS["entity"]], dtype=np.uint8)
    scores = _core.score_tokens(ids, np.array([0, 4]), table, np.zeros(3, np.float32), flags)
    assert scores.tolist() == [0.0, 15.0, 1.0, 13.0]  # the second "Paris" pays the repeat penalty


def test_familiar_words_score_lower() -> None:
    table = np.full(2, -8.0, dtype=np.float32)
    counts = np.array([0.0, 100.0], dtype=np.float32)
    ids = np.array([0, 1], dtype=np.uint32)
    scores = _core.score_tokens(ids, np.array([0, 2]), table, counts, np.zeros(2, np.uint8))
    assert scores[0] > scores[1]


def test_score_tokens_empty_batch() -> None:
    table = np.zeros(1, np.float32)
    got = _core.score_tokens(np.zeros(0, np.uint32), np.array([0]), table, table, np.zeros(0, np.uint8))
    assert got.shape == (0,) and got.dtype == np.float32


def test_score_tokens_accepts_strided_arrays() -> None:
    ids = np.arange(20, dtype=np.uint32) % 7
    table = -np.arange(1, 11, dtype=np.float32)
    flags = (np.arange(20) % 64).astype(np.uint8)
    offsets = np.array([0, 4, 10], dtype=np.int64)
    strided = _core.score_tokens(ids[::2], offsets, table[::-1], np.zeros(20, np.float32)[::2], flags[::2])
    dense = _core.score_tokens(
        ids[::2].copy(), offsets, table[::-1].copy(), np.zeros(10, np.float32), flags[::2].copy()
    )
    np.testing.assert_array_equal(strided, dense)


def _score_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "token_ids": np.array([0, 1, 0], dtype=np.uint32),
        "offsets": np.array([0, 1, 3], dtype=np.int64),
        "background_logprob": np.array([-1.0, -5.0], dtype=np.float32),
        "running_counts": np.zeros(2, dtype=np.float32),
        "flags": np.zeros(3, dtype=np.uint8),
    }
    return {**args, **overrides}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"token_ids": np.array([0, 1, 0], dtype=np.int64)},
            "token_ids must be a 1-D numpy array of dtype uint32",
        ),
        ({"token_ids": [0, 1, 0]}, "token_ids must be .* got an object of type list"),
        ({"offsets": np.array([0, 1, 3], dtype=np.int32)}, "offsets must be .* int64"),
        ({"offsets": np.array([[0, 1, 3]])}, "offsets must be a 1-D"),
        ({"offsets": np.zeros(0, dtype=np.int64)}, "offsets must have"),
        ({"offsets": np.array([1, 3])}, "offsets must start at 0"),
        ({"offsets": np.array([0, 4])}, "offsets must .* end at the number of tokens 3"),
        ({"offsets": np.array([0, 2, 1, 3])}, "offsets must be non-decreasing"),
        ({"offsets": np.array([0, -1, 3])}, "offsets must be non-decreasing"),
        ({"background_logprob": np.zeros(2)}, "background_logprob must be .* float32"),
        ({"background_logprob": np.zeros(0, np.float32)}, "background_logprob must not be empty"),
        ({"background_logprob": np.array([0, np.nan], np.float32)}, "background_logprob must be finite"),
        ({"background_logprob": np.array([0, -np.inf], np.float32)}, "background_logprob must be finite"),
        ({"running_counts": np.zeros(3, np.float32)}, "running_counts has length 3"),
        ({"running_counts": np.array([0, np.inf], np.float32)}, "running_counts must be finite"),
        ({"running_counts": np.array([0, -1], np.float32)}, "running_counts must be >= 0"),
        ({"flags": np.zeros(2, np.uint8)}, "flags has length 2"),
        ({"flags": np.zeros(3, np.int8)}, "flags must be .* uint8"),
        ({"flags": np.array([0, 64, 0], np.uint8)}, "flags may only use bits"),
    ],
)
def test_score_tokens_rejects_bad_input(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(KernelInputError, match=message):
        _core.score_tokens(**_score_args(**overrides))


# --- prune_tokens ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    batch=ragged_batches(max_len=12),
    ratio=st.one_of(st.floats(0.01, 1.0), st.sampled_from([0.1, 0.3, 0.5, 0.6, 0.7, 1.0])),
)
def test_prune_tokens_matches_reference(
    data: st.DataObject, batch: tuple[list[int], int], ratio: float
) -> None:
    offsets, n = batch
    scores = data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, -3.0, 7.0]), min_size=n, max_size=n))  # ties
    force = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    bridges = data.draw(st.none() | st.lists(st.booleans(), min_size=n, max_size=n))
    min_words = data.draw(st.integers(0, 8))
    offs, scores_a, force_a = arrays(offsets, (scores, np.float32), (force, np.bool_))
    bridges_a = None if bridges is None else np.asarray(bridges, dtype=np.bool_)
    got = _core.prune_tokens(scores_a, offs, ratio, force_a, min_words=min_words, bridges=bridges_a)
    assert got.dtype == np.bool_ and got.shape == (n,)
    assert got.tolist() == reference_prune(scores, offsets, ratio, force, min_words, bridges)
    if min_words == 1 and bridges is None:  # the defaults
        assert _core.prune_tokens(scores_a, offs, ratio, force_a).tolist() == got.tolist()


def test_prune_keeps_the_best_words_in_order() -> None:
    scores = np.array([0.5, 9.0, 1.0, 8.0, 2.0, 2.0, 2.0, 0.0], dtype=np.float32)
    keep = _core.prune_tokens(scores, np.array([0, 4, 8]), 0.5, np.zeros(8, bool))
    assert keep.tolist() == [False, True, False, True, True, True, False, False]  # tie -> earlier


def test_prune_ratio_one_keeps_everything() -> None:
    scores = np.random.default_rng(1).normal(size=50).astype(np.float32)
    keep = _core.prune_tokens(scores, np.array([0, 20, 20, 50]), 1.0, np.zeros(50, bool))
    assert keep.all()


def test_prune_keeps_at_least_one_word_per_nonempty_turn() -> None:
    scores = np.ones(6, dtype=np.float32)
    keep = _core.prune_tokens(scores, np.array([0, 1, 3, 6]), 0.01, np.zeros(6, bool))
    assert keep.tolist() == [True, True, False, True, False, False]


def test_prune_forced_words_come_on_top_of_the_ratio() -> None:
    force = np.array([True, False, True, True, False, False, False], dtype=bool)
    scores = np.array([0, 9, 0, 0, 1, 8, 2], np.float32)
    keep = _core.prune_tokens(scores, np.array([0, 7]), 0.5, force)
    assert keep.tolist() == [True, True, True, True, False, True, False]  # 2 of the 4 others


def test_prune_min_words_keeps_short_turns_whole() -> None:
    scores = np.array([3, 1, 2, 0, 5, 4, 3, 2, 1, 0], np.float32)
    offsets, force = np.array([0, 3, 10]), np.zeros(10, bool)
    keep = _core.prune_tokens(scores, offsets, 0.2, force, min_words=4)
    assert keep.tolist() == [True] * 3 + [False, True, True, True, True, False, False]
    force[4] = True
    keep = _core.prune_tokens(scores, offsets, 0.2, force, min_words=4)
    assert keep[3:].tolist() == [False, True, True, True, True, False, False]  # the forced word counts


def test_prune_bridges_join_kept_words_within_a_turn() -> None:
    # "job [with] them" is bridged; a gap of two words and a turn boundary are not.
    scores = np.array([9, 0, 9, 0, 0, 9, 0, 9], np.float32)
    keep = _core.prune_tokens(scores, np.array([0, 3, 8]), 0.4, np.zeros(8, bool), bridges=np.ones(8, bool))
    assert keep.tolist() == [True, True, True, False, False, True, True, True]


def test_prune_empty_batch() -> None:
    keep = _core.prune_tokens(np.zeros(0, np.float32), np.array([0]), 0.5, np.zeros(0, bool))
    assert keep.shape == (0,) and keep.dtype == np.bool_


def _prune_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "scores": np.array([1.0, 2.0, 3.0], dtype=np.float32),
        "offsets": np.array([0, 3], dtype=np.int64),
        "ratio": 0.5,
        "force_keep": np.zeros(3, dtype=bool),
    }
    return {**args, **overrides}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"scores": np.array([1.0, 2.0, 3.0])},
            "scores must be a 1-D numpy array of dtype float32, got .*float64",
        ),
        ({"scores": np.array([1.0, np.nan, 3.0], np.float32)}, "scores must be finite"),
        ({"scores": np.array([1.0, np.inf, 3.0], np.float32)}, "scores must be finite"),
        ({"bridges": np.zeros(2, bool)}, "bridges has length 2"),
        ({"bridges": np.zeros(3, np.uint8)}, "bridges must be .* bool"),
        ({"force_keep": np.zeros(3, np.uint8)}, "force_keep must be .* bool"),
        ({"force_keep": np.zeros(4, bool)}, "force_keep has length 4"),
        ({"offsets": np.array([0, 2])}, "offsets must .* end at the number of tokens 3"),
        ({"offsets": np.array([0, 5, 3])}, "offsets must be non-decreasing"),
        ({"ratio": 0.0}, r"ratio must be in \(0, 1\]"),
        ({"ratio": -0.5}, r"ratio must be in \(0, 1\]"),
        ({"ratio": 1.01}, r"ratio must be in \(0, 1\]"),
        ({"ratio": float("nan")}, r"ratio must be in \(0, 1\]"),
        ({"min_words": -1}, "min_words must be >= 0, got -1"),
    ],
)
def test_prune_tokens_rejects_bad_input(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(KernelInputError, match=message):
        _core.prune_tokens(**_prune_args(**overrides))


def test_kernel_input_error_is_a_value_error() -> None:
    assert issubclass(KernelInputError, ValueError)
    assert sorted(FLAGS.values()) == [1, 2, 4, 8, 16, 32]
