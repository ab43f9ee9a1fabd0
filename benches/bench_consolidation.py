"""Sleep-time consolidation at growing store sizes: time, LLM calls, and duplicate detection quality.

A standalone script (not a timed test). For each size n it fills a fresh store through `store.add` with
base units and planted cases, all added after the units they refer to. Base vectors are `--vectors
topics` (default: units around topic centres, 100 units a topic at cosine 0.6 from their centre, so about
0.36 from each other: below the conflict threshold, but with the neighbourhood structure of real
embeddings) or `random` (uniform on the sphere: no structure at all, the worst case of an HNSW index,
whose cost per query then grows with the index). Base texts are "unit <i>" and four distinct words
(repeated words could make a near miss's word bigrams 80% those of its original: a duplicate by the
MinHash rule). Planted cases:

* duplicates (5% of n): copies of a unit at cosine ~0.98, with the same text or the text plus a full
  stop: consolidation must delete them without an LLM call;
* near misses (2%): a unit's twin at cosine ~0.98 whose text differs in one detail (its last word, or
  " at 7pm" appended): not duplicates, they must reach the LLM and survive;
* conflicts (2%): "entity k lives in A" and, later, "entity k moved to B" at cosine ~0.85: the rule LLM
  below deletes the stale one.

Each unit has its own source id. Then one `consolidate` pass runs over everything (all units are new),
and the script prints its time, time per unit, LLM calls, the recall/precision of the planted
duplicates, whether the kept units took over the duplicates' source ids, and the median latency of a
store search by another thread, idle and while the pass runs. Run:

    .venv/bin/python benches/bench_consolidation.py --sizes 1000 10000 --repeat 3 [--vectors random]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from lightmem.config import LightMemConfig
from lightmem.embedding import OnnxEmbedder
from lightmem.llm import Completion, UsageCounter, estimate_tokens
from lightmem.prompts import AnswerFormat, parse_consolidate_prompt
from lightmem.sleep import ConsolidationReport, consolidate
from lightmem.store import SQLiteStore
from lightmem.types import ExtractedUnit, Scope
from usearch.index import Index

SCOPE = Scope(user_id="bench")
DIM = 384
ADD_BATCH = 1000
_MOVED = re.compile(r"^entity (\d+) moved to ")
_LIVES = re.compile(r"^entity (\d+) lives in ")
_TURNS = itertools.count()
_WORDS = "apple river stone cloud violin garden mirror candle harbor forest lantern meadow".split()


class RuleLLM:
    """Deterministic consolidation answers: an "entity k lives in" unit is deleted when its cluster also
    holds a newer "entity k moved to" unit; every other unit is kept."""

    def __init__(self) -> None:
        self._usage = UsageCounter()

    @property
    def usage(self) -> UsageCounter:
        return self._usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        clusters = parse_consolidate_prompt(messages[-1]["content"])
        decisions = [d for cluster in clusters for d in self._decide(cluster)]
        text = json.dumps({"changes": decisions})
        completion = Completion(
            text, estimate_tokens(*(m["content"] for m in messages)), estimate_tokens(text)
        )
        self._usage.add(completion)
        return completion

    @staticmethod
    def _decide(memories: list[tuple[int, str]]) -> list[dict[str, Any]]:
        moved = {m.group(1) for m in (_MOVED.match(text) for _, text in memories) if m}
        return [
            {"memory": number, "action": "delete", "reason": "moved"}
            for number, text in memories
            if (lives := _LIVES.match(text)) and lives.group(1) in moved
        ]


TOPIC_SIZE = 100
"""Base units per topic (`--vectors topics`)."""
TOPIC_SIMILARITY = 0.6
"""Cosine similarity of a base unit to its topic centre (`--vectors topics`)."""


@dataclass
class Planted:
    duplicates: dict[str, str]
    """Id of each planted duplicate -> id of the unit it copies."""
    near_misses: list[str]
    stale: list[str]


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def topic_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """n unit vectors, each at cosine `TOPIC_SIMILARITY` from one of n / `TOPIC_SIZE` random centres."""
    centres = unit_vectors(rng, max(1, n // TOPIC_SIZE))
    return near(rng, centres[rng.integers(0, len(centres), n)], TOPIC_SIMILARITY)


VECTORS = {"topics": topic_vectors, "random": unit_vectors}


def near(rng: np.random.Generator, vectors: np.ndarray, similarity: float) -> np.ndarray:
    """Unit vectors at cosine `similarity` from each row of `vectors`."""
    noise = unit_vectors(rng, len(vectors))
    noise -= (noise * vectors).sum(axis=1, keepdims=True) * vectors
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (similarity * vectors + np.sqrt(1 - similarity**2) * noise).astype(np.float32)


def add(store: SQLiteStore, texts: list[str], vectors: np.ndarray) -> list[str]:
    """Store units, each with a source id of its own."""
    ids = []
    for start in range(0, len(texts), ADD_BATCH):
        units = [ExtractedUnit(t, source=(f"D1:{next(_TURNS)}",)) for t in texts[start : start + ADD_BATCH]]
        ids += [item.id for item in store.add(SCOPE, units, vectors[start : start + ADD_BATCH])]
    return ids


def fill(store: SQLiteStore, n: int, seed: int, vectors: str) -> Planted:
    """n units in all: base units, then the planted duplicates, near misses and conflicts."""
    rng = np.random.default_rng(seed)
    n_dup, n_miss, n_conflict = n // 20, n // 50, n // 50
    n_base = n - n_dup - n_miss - 2 * n_conflict
    base_texts = [f"unit {i} " + " ".join(rng.choice(_WORDS, 4, replace=False)) for i in range(n_base)]
    base = VECTORS[vectors](rng, n_base)
    base_ids = add(store, base_texts, base)
    dup_of = rng.choice(n_base, n_dup + n_miss, replace=False)
    originals, missed = dup_of[:n_dup], dup_of[n_dup:]
    dup_texts = [base_texts[i] + ("" if k % 2 else ".") for k, i in enumerate(originals)]
    duplicates = add(store, dup_texts, near(rng, base[originals], 0.98))
    miss_texts = [
        base_texts[i] + " at 7pm" if k % 2 else _other_last_word(base_texts[i]) for k, i in enumerate(missed)
    ]
    near_misses = add(store, miss_texts, near(rng, base[missed], 0.98))
    old = VECTORS[vectors](rng, n_conflict)
    stale = add(store, [f"entity {k} lives in Paris" for k in range(n_conflict)], old)
    add(store, [f"entity {k} moved to Berlin" for k in range(n_conflict)], near(rng, old, 0.85))
    return Planted(dict(zip(duplicates, (base_ids[i] for i in originals))), near_misses, stale)


def _other_last_word(text: str) -> str:
    head, last = text.rsplit(" ", 1)
    return f"{head} {_WORDS[(_WORDS.index(last) + 1) % len(_WORDS)]}"


def run(n: int, seed: int, vectors: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory, SQLiteStore(Path(directory) / "m", dim=DIM) as store:
        start = time.perf_counter()
        planted = fill(store, n, seed, vectors)
        sources = {mid: store.get(mid).source for mid in planted.duplicates}  # type: ignore[union-attr]
        fill_s = time.perf_counter() - start
        idle = search_latencies(store, threading.Event(), 200)
        running = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            during = pool.submit(search_latencies, store, running)
            try:
                report = consolidate(store, RuleLLM(), OnnxEmbedder(), LightMemConfig())
            finally:
                running.set()
        return {
            "fill_s": fill_s,
            **measure(store, planted, report, sources),
            "search_ms_idle": 1000 * statistics.median(idle),
            "search_ms_during": 1000 * statistics.median(during.result()),
        }


def search_latencies(store: SQLiteStore, stop: threading.Event, count: int = 1_000_000) -> list[float]:
    """Latencies of searches with random queries, `count` of them or until `stop` is set."""
    rng = np.random.default_rng(99)
    latencies: list[float] = []
    while len(latencies) < count and not stop.is_set():
        query = unit_vectors(rng, 1)[0]
        start = time.perf_counter()
        store.search(query, SCOPE, limit=10)
        latencies.append(time.perf_counter() - start)
        time.sleep(0.005)  # an agent between two turns, not a load generator
    return latencies


def measure(
    store: SQLiteStore, planted: Planted, report: ConsolidationReport, sources: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    found = sum(store.get(mid) is None for mid in planted.duplicates)
    kept = {mid: store.get(original) for mid, original in planted.duplicates.items()}
    handed = sum(
        item is not None and set(sources[mid]) <= set(item.source)
        for mid, item in kept.items()
        if store.get(mid) is None
    )
    wrongly = sum(store.get(mid) is None for mid in planted.near_misses)
    resolved = sum(store.get(mid) is None for mid in planted.stale)
    return {
        "seconds": report.seconds,
        "ms_per_unit": 1000 * report.seconds / report.units_examined,
        "llm_calls": report.llm_calls,
        "clusters": report.clusters_found,
        "dup_recall": found / len(planted.duplicates),
        "dup_precision": found / max(report.duplicates_merged, 1),
        "dup_sources_kept": handed / max(found, 1),
        "near_misses_kept": 1 - wrongly / len(planted.near_misses),
        "conflicts_resolved": resolved / len(planted.stale),
        "index_ok": float(store.check_index()),
    }


def index_run(n: int, dtype: str, seed: int, queries: int = 2000) -> dict[str, float]:
    """Bulk insertion of n random unit vectors into a usearch index configured as the store's (cosine,
    vectors of `dtype`), in the store's batches of `ADD_BATCH`, and the recall@10 of searches as the store
    does them (40 candidates = limit 10 * oversample 4, ranked by their exact similarity) against an
    exact scan: for random queries, and for queries at cosine 0.9 from a stored vector (also: how often
    that one ranks first)."""
    rng = np.random.default_rng(seed)
    vectors = unit_vectors(rng, n)
    index = Index(ndim=DIM, metric="cos", dtype=dtype)
    start = time.perf_counter()
    for first in range(0, n, ADD_BATCH):
        keys = np.arange(first, min(first + ADD_BATCH, n), dtype=np.uint64)
        index.add(keys, vectors[first : first + ADD_BATCH])
    add_s = time.perf_counter() - start
    sources = rng.choice(n, queries, replace=False)
    figures = {"add_s": add_s, "add_ms_per_vector": 1000 * add_s / n}
    for name, query in (("random", unit_vectors(rng, queries)), ("near", near(rng, vectors[sources], 0.9))):
        start = time.perf_counter()
        candidates = np.asarray(index.search(query, 40).keys, dtype=np.int64)
        figures[f"search_ms_{name}"] = 1000 * (time.perf_counter() - start) / queries
        exact = np.einsum("qkd,qd->qk", vectors[candidates], query)
        found = np.take_along_axis(candidates, np.argsort(-exact, axis=1)[:, :10], axis=1)
        truth = np.argsort(-(query @ vectors.T), axis=1)[:, :10]
        figures[f"recall10_{name}"] = float(
            np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
        )
    figures["near_first"] = float(np.mean(found[:, 0] == sources))
    return figures


def main_index(n: int, dtypes: list[str], repeat: int) -> None:
    """Print the medians of `index_run` for each dtype, the dtypes interleaved in each round."""
    runs: dict[str, list[dict[str, float]]] = {d: [] for d in dtypes}
    for seed in range(repeat):
        for dtype in dtypes:
            runs[dtype].append(index_run(n, dtype, seed))
    columns = list(runs[dtypes[0]][0])
    print("| n | dtype | " + " | ".join(columns) + " |")
    for dtype, rows in runs.items():
        medians = [statistics.median(r[c] for r in rows) for c in columns]
        print(f"| {n} | {dtype} | " + " | ".join(f"{m:.4g}" for m in medians) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=1, help="fresh stores per size (medians are shown)")
    parser.add_argument("--vectors", choices=sorted(VECTORS), default="topics", help="base unit vectors")
    parser.add_argument(
        "--index",
        nargs="+",
        metavar="DTYPE",
        help="instead: time bulk adds of the largest --sizes random vectors into usearch indexes of "
        "these scalar types (f32, i8, ...), and their search recall",
    )
    args = parser.parse_args()
    machine = (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"# {machine}, python {platform.python_version()}, {'random' if args.index else args.vectors} vectors"
    )
    if args.index:
        main_index(max(args.sizes), args.index, args.repeat)
        return
    columns = ["n", "fill_s", "seconds", "ms_per_unit", "llm_calls", "clusters", "dup_recall",
               "dup_precision", "dup_sources_kept", "near_misses_kept", "conflicts_resolved", "index_ok",
               "search_ms_idle", "search_ms_during"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    for n in args.sizes:
        runs = [run(n, seed, args.vectors) for seed in range(args.repeat)]
        medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print("| " + " | ".join([str(n), *(f"{medians[c]:.4g}" for c in columns[1:])]) + " |", flush=True)


if __name__ == "__main__":
    main()
