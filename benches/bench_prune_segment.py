"""The Rust token-scoring, pruning and topic-segmentation kernels against numpy versions of the same
computations, at realistic sizes: 10k turns of ~20 words (scoring, pruning) and 10k turn embeddings of
dimension 384 (segmentation). Each numpy version is vectorised where numpy allows it and is checked to
give the kernel's result before it is timed.

    python benches/bench_prune_segment.py            # medians of both side by side, and the speed-up
    python -m pytest benches/bench_prune_segment.py  # the same cases under pytest-benchmark

And the whole pruner, `SensoryMemory.compress` (rules, scoring, pruning, joining), on every turn of
LoCoMo conversations, each conversation through one sensory memory session by session (as `Memory`
feeds it); with `--against DIR`, alternately with the lightmem package found in DIR (a copy of an
older `python/` with its built `_core`), each pass in a fresh process:

    python benches/bench_prune_segment.py --compress [FILES...] [--against DIR] [--repeats 7]

Build the extension with `maturin develop --release` first.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from kernel_cases import Case, kernel_tests
from lightmem import _core

TURNS = 10_000
WORDS_PER_TURN = 20
VOCAB = 30_000  # the shipped background table has ~29k words
DIM = 384
RATIO = 0.6
SEGMENT_OPTIONS: dict[str, Any] = {"window": 2, "threshold": 0.5, "min_len": 2, "max_len": 16, "max_gap": 4.0}

Arrays = tuple[np.ndarray, ...]


# --- inputs ---------------------------------------------------------------------------------------


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def scoring_inputs(seed: int = 0) -> Arrays:
    """Word ids drawn from a Zipf law over a Zipf background table (ids >= VOCAB are unknown words),
    running counts from an earlier sample, and realistic flag frequencies."""
    rng = np.random.default_rng(seed)
    offsets = _offsets(rng.poisson(WORDS_PER_TURN, TURNS).clip(1))
    ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
    table = np.log(ranks**-1.07 / np.sum(ranks**-1.07)).astype(np.float32)
    ids = np.minimum(rng.zipf(1.3, offsets[-1]) - 1, VOCAB + 3_000).astype(np.uint32)
    earlier = np.minimum(rng.zipf(1.3, 100_000) - 1, VOCAB - 1)
    counts = np.bincount(earlier, minlength=VOCAB).astype(np.float32)
    choices = np.array(
        [0, _core.FLAG_STOPWORD, _core.FLAG_FILLER]
        + [_core.FLAG_FORCE_KEEP | f for f in (_core.FLAG_ENTITY, _core.FLAG_NUMBER, _core.FLAG_DATE)],
        dtype=np.uint8,
    )
    flags = rng.choice(choices, size=offsets[-1], p=[0.6, 0.25, 0.03, 0.06, 0.04, 0.02])
    return ids, offsets, table, counts, flags


def pruning_inputs(seed: int = 1) -> Arrays:
    """Word scores, 30% forced words (as the rules force on LoCoMo), 20% bridges."""
    rng = np.random.default_rng(seed)
    offsets = _offsets(rng.poisson(WORDS_PER_TURN, TURNS).clip(1))
    n = int(offsets[-1])
    return rng.random(n).astype(np.float32), offsets, rng.random(n) < 0.3, rng.random(n) < 0.2


def segmentation_inputs(seed: int = 2) -> Arrays:
    """Turn embeddings in topic runs of 3-20 turns (centre + noise), pauses with a session break
    (24 h) every ~100 turns."""
    rng = np.random.default_rng(seed)
    runs = rng.integers(3, 21, size=TURNS)
    runs = runs[: np.searchsorted(np.cumsum(runs), TURNS) + 1]
    centres = rng.normal(size=(len(runs), DIM))
    x = np.repeat(centres, runs, axis=0)[:TURNS] + 0.7 * rng.normal(size=(TURNS, DIM))
    gaps = rng.exponential(0.02, size=TURNS - 1)
    gaps[rng.random(TURNS - 1) < 0.01] = 24.0
    return x.astype(np.float32), gaps.astype(np.float32)


# --- numpy versions -------------------------------------------------------------------------------


def _turn_of_token(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def _flag_adjustment_table() -> np.ndarray:
    """The score change of every flags byte 0..63, for one gather per token."""
    f = np.arange(64)
    salient = sum(((f & bit) != 0).astype(np.float32) for bit in (2, 4, 8))
    return (3.0 * salient - 6.0 * ((f & 16) != 0) - 3.0 * ((f & 32) != 0)).astype(np.float32)


_ADJUSTMENT = _flag_adjustment_table()


def numpy_score_tokens(
    ids: np.ndarray, offsets: np.ndarray, table: np.ndarray, counts: np.ndarray, flags: np.ndarray
) -> np.ndarray:
    known = ids < len(table)
    safe = np.where(known, ids, 0)
    logprob = np.where(known, table[safe], table.min())
    count = np.where(known, counts[safe], np.float32(0.0))
    adjust = _ADJUSTMENT[flags]
    # A repeat is an id seen earlier in the same turn: sort stably by (turn, id), compare neighbours.
    key = (_turn_of_token(offsets).astype(np.int64) << 32) | ids
    order = np.argsort(key, kind="stable")
    repeat = np.zeros(len(ids), dtype=bool)
    repeat[order[1:]] = key[order[1:]] == key[order[:-1]]
    score = -logprob - np.float32(0.5) * np.log1p(count) + adjust
    return score - np.float32(2.0) * repeat


def numpy_prune_tokens(
    scores: np.ndarray, offsets: np.ndarray, ratio: float, force_keep: np.ndarray, bridges: np.ndarray
) -> np.ndarray:
    turn = _turn_of_token(offsets)
    n_words = np.diff(offsets)
    n_forced = np.bincount(turn, weights=force_keep, minlength=len(offsets) - 1).astype(np.int64)
    n_free = n_words - n_forced
    # Every forced word, and ceil(ratio * n_free) of the others (at least one word per turn).
    wanted = np.minimum(np.maximum(np.ceil(ratio * n_free - 1e-9), 1 - n_forced), n_free)
    budget = n_forced + wanted
    # Rank the words of each turn: forced first, then by score (descending), then by position.
    order = np.lexsort((np.arange(len(scores)), -scores, ~force_keep, turn))
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(len(scores)) - offsets[:-1][turn[order]]
    keep = force_keep | (rank < budget[turn])
    # A bridge between two kept words of its turn is kept.
    inside = np.zeros(len(scores), dtype=bool)
    inside[1:-1] = (turn[:-2] == turn[1:-1]) & (turn[2:] == turn[1:-1])
    bridged = np.zeros(len(scores), dtype=bool)
    bridged[1:-1] = keep[:-2] & keep[2:]
    return keep | (bridges & inside & bridged)


def numpy_gap_scores(x: np.ndarray, window: int) -> np.ndarray:
    """Mean cosine across each gap as (sum of the unit rows before) . (sum of the unit rows after) / pairs,
    the kernel's formula, in f64. Zero rows pad both ends, so that the window sums form one array whose
    entry g holds the window before gap g and entry g + window the window after it."""
    n, d = x.shape
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    padded = np.zeros((n + 2 * window, d))
    inv_norms = np.divide(1.0, norms, out=np.zeros(n), where=norms > 0)
    np.multiply(x, inv_norms[:, None], out=padded[window:-window])
    sums = padded[: n + window].copy()
    for k in range(1, window):
        sums += padded[k : n + window + k]
    before, after = sums[1:n], sums[1 + window : n + window]
    gaps = np.arange(1, n)
    pairs = (gaps - np.maximum(gaps - window, 0)) * (np.minimum(gaps + window, n) - gaps)
    mean = np.einsum("ij,ij->i", before, after) / pairs
    return np.floor(mean * 2.0**32 + 0.5).astype(np.int64)


def numpy_depths(s: np.ndarray) -> np.ndarray:
    g = len(s)
    index = np.arange(g)
    rises_into = np.ones(g, dtype=bool)  # a left climb stops at j when s[j - 1] < s[j]
    rises_into[1:] = s[:-1] < s[1:]
    left_peak = s[np.maximum.accumulate(np.where(rises_into, index, 0))]
    falls_out = np.ones(g, dtype=bool)  # a right climb stops at j when s[j + 1] < s[j]
    falls_out[:-1] = s[1:] < s[:-1]
    right_peak = s[np.minimum.accumulate(np.where(falls_out, index, g)[::-1])[::-1]]
    changes = np.append(np.concatenate([[False], s[1:] != s[:-1]]), True)
    next_change = np.minimum.accumulate(np.where(changes, np.arange(g + 1), g)[::-1])[::-1][1:]
    rises_after = (next_change == g) | (s[np.minimum(next_change, g - 1)] > s)
    falls_before = np.ones(g, dtype=bool)
    falls_before[1:] = s[:-1] > s[1:]
    return np.where(falls_before & rises_after, (left_peak - s) + (right_peak - s), 0)


def numpy_topic_boundaries(
    x: np.ndarray,
    time_gaps: np.ndarray,
    window: int,
    threshold: float,
    min_len: int,
    max_len: int,
    max_gap: float,
) -> np.ndarray:
    n = len(x)
    scores = numpy_gap_scores(x, window)
    depth = numpy_depths(scores)
    g, s1 = len(depth), int(depth.sum())
    s2 = sum(int(d) * int(d) for d in depth[depth > 0])
    spread = threshold * math.sqrt(float(g * s2 - s1 * s1))
    candidates = np.flatnonzero((depth > 0) & ((g * depth - s1).astype(np.float64) > spread))
    candidates = candidates[np.lexsort((candidates, -depth[candidates]))]

    accepted = sorted({0, n, *(np.flatnonzero(time_gaps.astype(np.float64) > max_gap) + 1).tolist()})
    for pos in (candidates + 1).tolist():
        i = bisect.bisect_left(accepted, pos)
        if pos - accepted[i - 1] >= min_len and accepted[i] - pos >= min_len:
            accepted.insert(i, pos)
    pending = list(zip(accepted, accepted[1:]))
    while pending:
        a, b = pending.pop()
        if b - a > max_len:
            margin = min(min_len, (b - a) // 2)
            positions = np.arange(a + margin, b - margin + 1)
            p = int(
                positions[np.lexsort((positions, np.abs(2 * positions - a - b), scores[positions - 1]))[0]]
            )
            bisect.insort(accepted, p)
            pending += [(a, p), (p, b)]
    return np.asarray(accepted[1:-1], dtype=np.int64)


# --- the cases --------------------------------------------------------------------------------------


def _cases() -> dict[str, Case]:
    """name -> (Rust call, numpy call, check that both agree), inputs built once."""
    ids, offsets, table, counts, flags = scoring_inputs()
    scores, word_offsets, force, bridges = pruning_inputs()
    x, gaps = segmentation_inputs()

    def close(a: np.ndarray, b: np.ndarray) -> None:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    return {
        "score_tokens": (
            lambda: _core.score_tokens(ids, offsets, table, counts, flags),
            lambda: numpy_score_tokens(ids, offsets, table, counts, flags),
            close,
        ),
        "prune_tokens": (
            lambda: _core.prune_tokens(scores, word_offsets, RATIO, force, bridges=bridges),
            lambda: numpy_prune_tokens(scores, word_offsets, RATIO, force, bridges),
            np.testing.assert_array_equal,
        ),
        "topic_boundaries": (
            lambda: _core.topic_boundaries(x, gaps, **SEGMENT_OPTIONS),
            lambda: numpy_topic_boundaries(x, gaps, **SEGMENT_OPTIONS),
            np.testing.assert_array_equal,
        ),
    }


CASES = _cases()


test_numpy_version_agrees, test_kernel = kernel_tests(CASES)


def _timed(call: Callable[[], Any]) -> tuple[float, float]:
    """Wall time and CPU time of the calling thread (where both implementations run) for one call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    call()
    return time.perf_counter() - wall, time.thread_time() - cpu


def main(repeats: int = 21) -> None:
    """Check every numpy version against the kernel, then time both, alternating so that both see the
    same load, and print the medians and speed-ups of wall time and of thread CPU time (the steadier
    figure on a shared machine)."""
    print(f"median of {repeats} runs, ms       wall: rust    numpy  speed-up    cpu: rust    numpy  speed-up")
    for name, (rust, numpy_version, check) in CASES.items():
        check(rust(), numpy_version())
        runs = [(*_timed(rust), *_timed(numpy_version)) for _ in range(repeats)]
        rust_wall, rust_cpu, numpy_wall, numpy_cpu = (
            statistics.median(column) * 1e3 for column in zip(*runs)
        )
        print(
            f"{name:<24} {rust_wall:>14.2f} {numpy_wall:>8.2f} {numpy_wall / rust_wall:>8.1f}x"
            f" {rust_cpu:>13.2f} {numpy_cpu:>8.2f} {numpy_cpu / rust_cpu:>8.1f}x"
        )


# --- the whole pruner -------------------------------------------------------------------------------


def compress_once(paths: list[str], ratio: float) -> dict[str, float]:
    """One pass of `SensoryMemory.compress` over every session of the files (after a warm-up on the
    first session): words in, words kept, wall and thread CPU seconds."""
    from lightmem.config import LightMemConfig
    from lightmem.conversations import load_conversations
    from lightmem.messages import normalize_messages
    from lightmem.sensory import SensoryMemory

    conversations = [
        [normalize_messages(session) for session in conversation.sessions]
        for path in paths
        for conversation in load_conversations(path)
    ]
    config = LightMemConfig(compression_ratio=ratio)
    SensoryMemory(config).compress(conversations[0][0])
    words_in = words_kept = 0
    wall, cpu = time.perf_counter(), time.thread_time()
    for sessions in conversations:
        sensory = SensoryMemory(config)
        for messages in sessions:
            for turn in sensory.compress(messages):
                words_in += turn.words_in
                words_kept += turn.words_kept
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return {"words_in": words_in, "words_kept": words_kept, "wall": wall, "cpu": cpu}


def compare_compress(paths: list[str], ratio: float, against: str | None, repeats: int) -> None:
    """`compress_once` in fresh processes, alternating between this lightmem and the one in `against`,
    and the medians of each, with the load average before and after."""
    versions = {"this": None} if against is None else {"before": against, "this": None}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in versions}
    load_before = os.getloadavg()
    for _ in range(repeats):
        for name, pythonpath in versions.items():
            env = dict(os.environ)
            if pythonpath is not None:
                env["PYTHONPATH"] = pythonpath
            command = [sys.executable, __file__, "--compress-once", f"--ratio={ratio}", *paths]
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out))
    load_after = os.getloadavg()
    print(f"SensoryMemory.compress at ratio {ratio}, median of {repeats} passes, each in a fresh process")
    before, after = (f"{load[0]:.2f} {load[1]:.2f}" for load in (load_before, load_after))
    print(f"load average (1 and 5 min) before: {before}, after: {after}")
    print("| lightmem | words in | kept / in | wall s | CPU s | words/s (CPU) |")
    print("|---|---|---|---|---|---|")
    for name, passes in runs.items():
        wall = statistics.median(p["wall"] for p in passes)
        cpu = statistics.median(p["cpu"] for p in passes)
        words_in, kept = passes[0]["words_in"], passes[0]["words_kept"]
        rate = words_in / cpu
        print(f"| {name} | {words_in:,.0f} | {kept / words_in:.3f} | {wall:.3f} | {cpu:.3f} | {rate:,.0f} |")


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="LoCoMo files (default ../shared/data/locomo/*.json)")
    parser.add_argument("--compress", action="store_true", help="time SensoryMemory.compress instead")
    parser.add_argument("--compress-once", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--against", help="a directory holding another lightmem package to compare with")
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if not (args.compress or args.compress_once):
        main()
        return
    default = Path("../shared/data/locomo")
    paths = args.paths or sorted(str(p) for p in default.glob("*.json"))
    if not paths:
        parser.error(f"no LoCoMo files given and none in {default}")
    if args.compress_once:
        print(json.dumps(compress_once(paths, args.ratio)))
    else:
        compare_compress(paths, args.ratio, args.against, args.repeats)


if __name__ == "__main__":
    _cli()
