"""The Rust near-duplicate clustering kernels against numpy / pure-Python versions of the same
computations, at realistic sizes: a 100k-row kNN graph with k = 16 (`cluster_knn`) and 10k short texts
(`minhash_signatures`). Each numpy version is vectorised where numpy allows it and is checked against
the kernel before it is timed.

    python benches/bench_dedup.py            # medians of both side by side, and the speed-up
    python -m pytest benches/bench_dedup.py  # the same cases under pytest-benchmark

Build the extension with `maturin develop --release` first.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import statistics
import time
from typing import Any, Callable

import numpy as np
from kernel_cases import VOCABULARY, Case, kernel_tests
from lightmem import _core

KNN_ROWS = 100_000
K = 16
TEXTS = 10_000
NUM_PERM = 64
SHINGLE = 3
KNN_THRESHOLD = 0.9
MERSENNE_61 = np.uint64((1 << 61) - 1)


# --- inputs ---------------------------------------------------------------------------------------


def knn_graph(n: int = KNN_ROWS, k: int = K, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A kNN graph with the structure usearch returns for sentence embeddings, synthesised
    (an exact or HNSW graph of 100k x 384 vectors takes minutes on two cores): rows fall in topics of
    1-6 near-duplicates, listed first with cosine 0.85-0.99, then random rows with descending cosine
    0.7-0.3; 2% of the rows have fewer than k neighbours (-1 padding)."""
    rng = np.random.default_rng(seed)
    topic = np.repeat(np.arange(n), rng.integers(1, 7, n))[:n]
    rng.shuffle(topic)
    members: dict[int, list[int]] = {}
    for row, t in enumerate(topic.tolist()):
        members.setdefault(t, []).append(row)
    neighbors = rng.integers(0, n, (n, k))
    similarities = np.sort(rng.uniform(0.3, 0.7, (n, k)), axis=1)[:, ::-1]
    for group in members.values():
        for row in group:
            mates = [m for m in group if m != row][:k]
            neighbors[row, : len(mates)] = mates
            similarities[row, : len(mates)] = rng.uniform(0.85, 0.99, len(mates))
    short = rng.random(n) < 0.02
    neighbors[short, k // 2 :] = -1
    return neighbors.astype(np.int64), similarities.astype(np.float32)


def short_texts(count: int = TEXTS, seed: int = 2) -> list[str]:
    """Turn-like sentences of 6-24 words; a quarter are edited copies of earlier ones."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(count):
        if texts and rng.random() < 0.25:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
        else:
            words = [rng.choice(VOCABULARY) for _ in range(rng.randint(6, 24))]
        texts.append(" ".join(words).capitalize() + ".")
    return texts


# --- numpy / Python versions ----------------------------------------------------------------------


def numpy_components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected components labelled by their smallest row: hooking of roots to the smaller label
    along every edge (`np.minimum.at`), then pointer jumping, until no label changes."""
    labels = np.arange(n)
    while True:
        lu, lv = labels[u], labels[v]
        low = np.minimum(lu, lv)
        hooked = labels.copy()
        np.minimum.at(hooked, lu, low)
        np.minimum.at(hooked, lv, low)
        while True:
            jumped = hooked[hooked]
            if np.array_equal(jumped, hooked):
                break
            hooked = jumped
        if np.array_equal(hooked, labels):
            return labels
        labels = hooked


def numpy_cluster_knn(neighbors: np.ndarray, similarities: np.ndarray, threshold: float) -> np.ndarray:
    n, k = neighbors.shape
    rows = np.repeat(np.arange(n), k)
    cols = neighbors.ravel()
    keep = (cols >= 0) & (cols != rows) & (similarities.ravel() >= np.float32(threshold))
    return numpy_components(n, rows[keep], cols[keep])


_WORD = re.compile(r"[^\W_]+")


def python_minhash(
    texts: list[str], num_perm: int = NUM_PERM, shingle: int = SHINGLE, seed: int = 0
) -> np.ndarray:
    """MinHash as datasketch computes it: words by regex, shingles hashed with blake2b in Python, then
    all (shingle, permutation) values `(a * h + b) mod (2^61 - 1)` (uint64 arithmetic) in one numpy
    expression and the minimum per text with `np.minimum.reduceat`."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, MERSENNE_61, num_perm, dtype=np.uint64)
    b = rng.integers(0, MERSENNE_61, num_perm, dtype=np.uint64)
    hashes: list[int] = []
    counts = np.zeros(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        width = min(shingle, len(words))
        for i in range(len(words) - width + 1 if words else 0):
            digest = hashlib.blake2b(" ".join(words[i : i + width]).encode(), digest_size=8).digest()
            hashes.append(int.from_bytes(digest, "little"))
            counts[row] += 1
    signatures = np.full((len(texts), num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    if hashes:
        values = (np.array(hashes, dtype=np.uint64)[:, None] * a + b) % MERSENNE_61
        starts = np.cumsum(counts) - counts
        signatures[counts > 0] = np.minimum.reduceat(values, starts[counts > 0], axis=0)
    return signatures


# --- the cases --------------------------------------------------------------------------------------


def _same(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(a, b)


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    """The hash functions differ (blake2b vs seeded FNV-1a), so only the layout can agree."""
    assert a.shape == b.shape and a.dtype == b.dtype


def _cases() -> dict[str, Case]:
    """name -> (Rust call, numpy call, check that both agree), inputs built once."""
    neighbors, similarities = knn_graph()
    texts = short_texts()
    cases: dict[str, Case] = {
        "cluster_knn": (
            lambda: _core.cluster_knn(neighbors, similarities, KNN_THRESHOLD),
            lambda: numpy_cluster_knn(neighbors, similarities, KNN_THRESHOLD),
            _same,
        )
    }
    cases["minhash_signatures"] = (
        lambda: _core.minhash_signatures(texts, num_perm=NUM_PERM, shingle=SHINGLE),
        lambda: python_minhash(texts),
        _same_shape,
    )
    return cases


CASES = _cases()


test_numpy_version_agrees, test_kernel = kernel_tests(CASES, rounds=5)


def _seconds(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    """Check every numpy version against the kernel, then print both medians and the speed-up. The two
    are timed alternately, so that both see the same load on a shared machine."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each (default 7)")
    args = parser.parse_args()
    print(f"{'kernel':<28} {'rust ms':>9} {'numpy ms':>9} {'speed-up':>9}   (median of {args.repeats} runs)")
    for name, (rust, numpy_version, check) in CASES.items():
        check(rust(), numpy_version())  # also warms both up
        times = [(_seconds(rust), _seconds(numpy_version)) for _ in range(args.repeats)]
        rust_s, numpy_s = (statistics.median(column) for column in zip(*times))
        print(f"{name:<28} {rust_s * 1e3:>9.2f} {numpy_s * 1e3:>9.2f} {numpy_s / rust_s:>8.1f}x")


if __name__ == "__main__":
    main()
