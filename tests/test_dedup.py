"""The near-duplicate clustering kernels of `lightmem._core` (rust/src/cluster.rs, minhash.rs) against
naive oracles written here: components by breadth-first search and a pure-Python MinHash that must
agree bit for bit."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from lightmem._core import (
    MINHASH_EMPTY,
    KernelInputError,
    cluster_knn,
    minhash_signatures,
    minhash_similarity,
)

U64 = (1 << 64) - 1
MERSENNE_61 = (1 << 61) - 1
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- oracles -------------------------------------------------------------------------------------


def components_oracle(n: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Connected components by breadth-first search from each row in order: label = smallest index."""
    adjacent: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        adjacent[i].append(j)
        adjacent[j].append(i)
    labels = [-1] * n
    for start in range(n):
        if labels[start] >= 0:
            continue
        labels[start] = start
        queue = deque([start])
        while queue:
            for j in adjacent[queue.popleft()]:
                if labels[j] < 0:
                    labels[j] = start
                    queue.append(j)
    return labels


def signature_similarity_oracle(a: Sequence[int], b: Sequence[int]) -> np.float32:
    """Fraction of positions with the same value other than the empty marker."""
    equal = sum(1 for x, y in zip(a, b) if x == y and x != U64)
    return np.float32(equal) / np.float32(len(a))


def knn_oracle(
    neighbors: np.ndarray,
    similarities: np.ndarray,
    threshold: float,
    signatures: Optional[np.ndarray] = None,
    min_jaccard: float = 1.0,
) -> list[int]:
    """Components of the kNN edges that reach `threshold` (or `min_jaccard`), compared in float32."""
    edges = []
    for i, row in enumerate(neighbors.tolist()):
        for c, j in enumerate(row):
            if j < 0 or j == i:
                continue
            joins = similarities[i, c] >= np.float32(threshold)
            if signatures is not None:
                sim = signature_similarity_oracle(signatures[i].tolist(), signatures[j].tolist())
                joins = joins or sim >= np.float32(min_jaccard)
            if joins:
                edges.append((i, j))
    return components_oracle(len(neighbors), edges)


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return z ^ (z >> 31)


def words_oracle(text: str) -> list[str]:
    """Maximal runs of `str.isalnum` characters, lowercased."""
    words, current = [], []
    for char in text + " ":
        if char.isalnum():
            current.append(char)
        elif current:
            words.append("".join(current).lower())
            current = []
    return words


def minhash_oracle(text: str, num_perm: int = 64, shingle: int = 3, seed: int = 0) -> list[int]:
    """The MinHash signature as rust/src/minhash.rs documents it, with Python integers."""
    seed &= U64
    words = words_oracle(text)
    if not words:
        return [U64] * num_perm
    width = min(shingle, len(words))
    hashes = []
    for start in range(len(words) - width + 1):
        h = 0xCBF29CE484222325 ^ mix64(seed)
        for byte in b"\xff".join(w.encode() for w in words[start : start + width]):
            h = ((h ^ byte) * 0x100000001B3) & U64
        hashes.append(mix64(h) % MERSENNE_61)
    state, signature = seed, []
    for _ in range(num_perm):
        state = (state + 0x9E3779B97F4A7C15) & U64
        a = 1 + mix64(state) % (MERSENNE_61 - 1)
        state = (state + 0x9E3779B97F4A7C15) & U64
        b = mix64(state) % MERSENNE_61
        signature.append(min((a * x + b) % MERSENNE_61 for x in hashes))
    return signature


def shingles(text: str, shingle: int) -> set[tuple[str, ...]]:
    words = words_oracle(text)
    width = min(shingle, len(words))
    return {tuple(words[i : i + width]) for i in range(len(words) - width + 1)} if words else set()


# --- strategies ----------------------------------------------------------------------------------


@st.composite
def knn_graphs(draw: st.DrawFn, with_signatures: bool = False) -> tuple[np.ndarray, ...]:
    """A random kNN graph: -1 padding, self-edges, repeated neighbours, similarities on a coarse grid
    (so that ties with the threshold happen), and optionally signatures over a tiny alphabet."""
    n = draw(st.integers(0, 25))
    k = draw(st.integers(1, 5))
    neighbors = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(-1, max(n - 1, -1))))
    similarities = draw(
        hnp.arrays(np.float32, (n, k), elements=st.sampled_from([-1.0, -0.5, 0.0, 0.5, 0.75, 1.0]))
    )
    if not with_signatures:
        return neighbors, similarities
    p = draw(st.integers(1, 4))
    signatures = draw(hnp.arrays(np.uint64, (n, p), elements=st.sampled_from([0, 1, 2, U64])))
    return neighbors, similarities, signatures


# Characters on which Python's `str.isalnum` and Rust's `char::is_alphanumeric` agree: letters,
# numbers, separators, punctuation and math symbols (not combining marks nor other symbols).
TEXT_CHARS = st.characters(
    categories=["Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Zs", "Po", "Pd", "Sm"]
)
TEXTS = st.one_of(
    st.text(TEXT_CHARS, max_size=40),
    st.lists(
        st.sampled_from(["the", "The", "CAT", "sat", "on", "mat", "ΣΟΦΟΣ", "İstanbul", "42"]), max_size=12
    ).map(" ".join),
)


# --- cluster_knn ---------------------------------------------------------------------------------


@SETTINGS
@given(graph=knn_graphs(), threshold=st.sampled_from([-1.0, -0.25, 0.5, 0.75, 1.0]))
def test_cluster_knn_matches_oracle(graph: tuple[np.ndarray, np.ndarray], threshold: float) -> None:
    neighbors, similarities = graph
    labels = cluster_knn(neighbors, similarities, threshold)
    assert labels.dtype == np.int64 and labels.shape == (len(neighbors),)
    assert labels.tolist() == knn_oracle(neighbors, similarities, threshold)


@SETTINGS
@given(
    graph=knn_graphs(with_signatures=True),
    threshold=st.sampled_from([0.5, 1.0]),
    min_jaccard=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
)
def test_cluster_knn_with_signatures_matches_oracle(
    graph: tuple[np.ndarray, np.ndarray, np.ndarray], threshold: float, min_jaccard: float
) -> None:
    neighbors, similarities, signatures = graph
    labels = cluster_knn(neighbors, similarities, threshold, signatures=signatures, min_jaccard=min_jaccard)
    assert labels.tolist() == knn_oracle(neighbors, similarities, threshold, signatures, min_jaccard)


def test_cluster_knn_edge_cases() -> None:
    empty = cluster_knn(np.empty((0, 4), np.int64), np.empty((0, 4), np.float32), 0.5)
    assert empty.dtype == np.int64 and empty.shape == (0,)
    assert cluster_knn(np.array([[0]]), np.array([[1.0]], np.float32), 0.5).tolist() == [0]
    # Padding may hold anything, even NaN: it is no neighbour.
    neighbors = np.array([[-1, 2], [-1, -1], [0, 1], [4, -1], [3, 3]])
    similarities = np.array([[np.nan, 0.9], [np.inf, 0], [0.9, 0.1], [0.99, -np.inf], [0.2, 0.2]], np.float32)
    assert cluster_knn(neighbors, similarities, 0.8).tolist() == [0, 1, 0, 3, 3]
    assert cluster_knn(neighbors, similarities, -1.0).tolist() == [0, 0, 0, 3, 3]


def test_cluster_knn_labels_are_smallest_member_and_deterministic() -> None:
    rng = np.random.default_rng(5)
    neighbors = rng.integers(-1, 500, (500, 8))
    similarities = rng.uniform(-1, 1, (500, 8)).astype(np.float32)
    first = cluster_knn(neighbors, similarities, 0.8)
    assert np.array_equal(first, cluster_knn(neighbors.copy(), similarities.copy(), 0.8))
    assert all(first[first] == first) and all(first <= np.arange(500))
    assert first.tolist() == knn_oracle(neighbors, similarities, 0.8)


def test_cluster_knn_accepts_non_contiguous_arrays() -> None:
    rng = np.random.default_rng(6)
    neighbors = np.asfortranarray(rng.integers(-1, 60, (60, 6)))
    similarities = rng.uniform(-1, 1, (60, 12)).astype(np.float32)[:, ::2]
    expected = knn_oracle(neighbors, similarities, 0.5)
    assert cluster_knn(neighbors, similarities, 0.5).tolist() == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"neighbors": np.empty((3, 0), np.int64), "similarities": np.empty((3, 0), np.float32)}, "k >= 1"),
        ({"similarities": np.zeros((3, 1), np.float32)}, "similarities must have the shape"),
        ({"neighbors": np.array([[1, 3], [0, 0], [0, 0]])}, r"neighbors\[0, 1\] = 3"),
        ({"neighbors": np.array([[1, -2], [0, 0], [0, 0]])}, r"neighbors\[0, 1\] = -2"),
        ({"similarities": np.array([[0.5, np.nan]] * 3, np.float32)}, r"similarities\[0, 1\] = NaN"),
        ({"threshold": 1.5}, r"threshold must be in \[-1, 1\]"),
        ({"threshold": float("nan")}, "threshold"),
        ({"signatures": np.zeros((3, 4), np.uint64), "min_jaccard": 1.5}, "min_jaccard"),
        ({"signatures": np.zeros((2, 4), np.uint64)}, "signatures must have one row per row of neighbors"),
        ({"signatures": np.zeros((3, 0), np.uint64)}, "signatures must have at least one column"),
        ({"signatures": np.zeros((3, 4), np.int64)}, "signatures must be a 2-D numpy array of dtype uint64"),
        ({"neighbors": np.zeros((3, 2), np.int32)}, "neighbors must be a 2-D numpy array of dtype int64"),
        ({"similarities": np.zeros((3, 2))}, "similarities must be a 2-D numpy array of dtype float32"),
        ({"neighbors": np.zeros(3, np.int64)}, "neighbors must be a 2-D"),
    ],
)
def test_cluster_knn_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "neighbors": np.array([[1, 2], [0, 2], [0, 1]]),
        "similarities": np.full((3, 2), 0.5, np.float32),
        "threshold": 0.5,
    }
    with pytest.raises(KernelInputError, match=message):
        cluster_knn(**{**args, **kwargs})  # type: ignore[arg-type]


# --- MinHash -------------------------------------------------------------------------------------


@SETTINGS
@given(
    texts=st.lists(TEXTS, max_size=5),
    num_perm=st.integers(1, 16),
    shingle=st.integers(1, 4),
    seed=st.integers(-(2**63), 2**63 - 1),
)
def test_minhash_signatures_match_oracle_bit_for_bit(
    texts: list[str], num_perm: int, shingle: int, seed: int
) -> None:
    signatures = minhash_signatures(texts, num_perm=num_perm, shingle=shingle, seed=seed)
    assert signatures.dtype == np.uint64 and signatures.shape == (len(texts), num_perm)
    assert signatures.tolist() == [minhash_oracle(t, num_perm, shingle, seed) for t in texts]


def test_minhash_signatures_are_pinned() -> None:
    # Signatures may be stored: these values (also pinned in the Rust tests) must never change.
    signatures = minhash_signatures(["The quick brown fox", "", "fox"], num_perm=4, shingle=2, seed=7)
    assert signatures[0].tolist() == [
        868815746303703566,
        1379343897481358427,
        1266007877832340807,
        1364108000259182004,
    ]
    assert signatures[1].tolist() == [MINHASH_EMPTY] * 4 == [U64] * 4
    assert minhash_signatures([]).shape == (0, 64)


def test_minhash_words_and_prefixes() -> None:
    same = minhash_signatures(["Hello, WORLD... again!", "hello world again", "hello-world again"])
    assert (same == same[0]).all()
    text = ["hello world again"]
    assert not np.array_equal(minhash_signatures(text, seed=0), minhash_signatures(text, seed=1))
    short = minhash_signatures(["a b c d e"], num_perm=8)
    long = minhash_signatures(["a b c d e"], num_perm=32)
    assert np.array_equal(short, long[:, :8])


def overlapping_texts(rng: np.random.Generator, overlap: int, size: int = 60) -> tuple[str, str]:
    words = [f"w{i}" for i in rng.permutation(10_000)[: 2 * size - overlap]]
    return " ".join(words[:size]), " ".join(words[size - overlap :])


def test_minhash_similarity_estimates_jaccard() -> None:
    rng = np.random.default_rng(3)
    num_perm, errors = 256, []
    for overlap in range(0, 61, 5):
        a, b = overlapping_texts(rng, overlap)
        exact = len(shingles(a, 1) & shingles(b, 1)) / len(shingles(a, 1) | shingles(b, 1))
        signatures = minhash_signatures([a, b], num_perm=num_perm, shingle=1)
        estimate = float(minhash_similarity(signatures, np.array([[0, 1]]))[0])
        tolerance = 5 * max(np.sqrt(exact * (1 - exact) / num_perm), 1 / num_perm)
        assert abs(estimate - exact) <= tolerance, (overlap, exact, estimate)
        errors.append(estimate - exact)
    assert abs(np.mean(errors)) < 0.02  # no systematic bias


@SETTINGS
@given(texts=st.lists(TEXTS, min_size=1, max_size=6), data=st.data())
def test_minhash_similarity_matches_oracle(texts: list[str], data: st.DataObject) -> None:
    signatures = minhash_signatures(texts, num_perm=16)
    pairs = data.draw(
        hnp.arrays(np.int64, (data.draw(st.integers(0, 10)), 2), elements=st.integers(0, len(texts) - 1))
    )
    similarity = minhash_similarity(signatures, pairs)
    assert similarity.dtype == np.float32 and similarity.shape == (len(pairs),)
    expected = [
        signature_similarity_oracle(signatures[a].tolist(), signatures[b].tolist()) for a, b in pairs.tolist()
    ]
    assert similarity.tolist() == expected
    for (a, b), value in zip(pairs.tolist(), similarity.tolist()):
        if not words_oracle(texts[a]):
            assert value == 0.0  # a text without words is similar to nothing, itself included
        elif a == b or texts[a] == texts[b]:
            assert value == 1.0


def test_minhash_similarity_accepts_non_contiguous_arrays() -> None:
    signatures = minhash_signatures(["a b c", "a b d", "x y z"], num_perm=32)
    pairs = np.array([[0, 0, 1], [1, 2, 2]]).T  # Fortran order
    expected = minhash_similarity(signatures, np.ascontiguousarray(pairs))
    assert np.array_equal(minhash_similarity(np.asfortranarray(signatures), pairs), expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_perm": 0}, r"num_perm must be in \[1, 4096\]"),
        ({"num_perm": 4097}, r"num_perm must be in \[1, 4096\]"),
        ({"shingle": 0}, "shingle must be >= 1"),
        ({"shingle": -3}, "shingle must be >= 1"),
    ],
)
def test_minhash_signatures_rejects_bad_input(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(KernelInputError, match=message):
        minhash_signatures(["some text"], **kwargs)


@pytest.mark.parametrize(
    ("signatures", "pairs", "message"),
    [
        (np.zeros((2, 4), np.uint64), np.array([[0, 2]]), r"pairs\[0, 1\] = 2 is not a row index"),
        (np.zeros((2, 4), np.uint64), np.array([[-1, 0]]), r"pairs\[0, 0\] = -1 is not a row index"),
        (np.zeros((2, 4), np.uint64), np.array([[0, 1, 1]]), r"pairs must have shape \(q, 2\)"),
        (np.zeros((2, 0), np.uint64), np.array([[0, 1]]), "signatures must have at least one column"),
        (
            np.zeros((2, 4), np.int64),
            np.array([[0, 1]]),
            "signatures must be a 2-D numpy array of dtype uint64",
        ),
        (
            np.zeros((2, 4), np.uint64),
            np.array([[0.0, 1.0]]),
            "pairs must be a 2-D numpy array of dtype int64",
        ),
    ],
)
def test_minhash_similarity_rejects_bad_input(
    signatures: np.ndarray, pairs: np.ndarray, message: str
) -> None:
    with pytest.raises(KernelInputError, match=message):
        minhash_similarity(signatures, pairs)


def test_minhash_similarity_of_no_pairs_is_empty() -> None:
    empty = minhash_similarity(np.zeros((0, 8), np.uint64), np.empty((0, 2), np.int64))
    assert empty.dtype == np.float32 and empty.shape == (0,)
