"""PostgreSQL + pgvector against SQLite + usearch, side by side: search latency at growing sizes, add
throughput with several writer processes, flush throughput with several workers.

A standalone script (not a timed test). PostgreSQL: `--url` (a database whose user may create schemas),
else a local server started with `pgserver` (PostgreSQL 16.2, pgvector 0.6.2) in a temporary directory,
its durability settings left at their defaults. Each run uses a fresh schema (PostgreSQL) or directory.

    .venv/bin/python benches/bench_postgres.py search --sizes 10000 100000
    .venv/bin/python benches/bench_postgres.py add --writers 1 4 8
    .venv/bin/python benches/bench_postgres.py flush --workers 1 2 4

search: n units of 384-d vectors in one scope (100 units a topic at cosine 0.6 from its centre, as
bench_consolidation's `topics`), written by `store.add` in batches of 1000; then 300 queries (a unit's
vector plus noise) through `store.search` (limit 10) and 300 one-word `keyword_search`es; p50 and p99 in
ms, and the recall@10 of vector search against the exact top 10.
add: each writer process calls `store.pending_add` (one 384-d message, as `Memory.add` buffers it) for
`--seconds`; messages per second over all writers.
flush: 40 scopes of 60 messages (the tests' 32-d hashing embedder, the offline LLM), then W processes
each running `Worker.run_once` until the buffer is empty; messages per second and the ratio to 1 worker.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np
from lightmem.store import MemoryStore
from lightmem.store import open_store as open_location
from lightmem.types import ExtractedUnit, Scope

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from crash_worker import sentence
from fakes import HashEmbedder
from pg_server import PostgresServer, running_server

DIM = 384
SCOPE = Scope(user_id="bench")
WORDS = "marathon garden violin bakery pharmacist museum concert shelter keyboard tomatoes".split()


def open_store(location: str, dim: int = DIM) -> MemoryStore:
    return open_location(location, dim)


@contextmanager
def locations(url: str) -> Iterator[Callable[[], dict[str, str]]]:
    """A function giving a fresh location of each backend."""
    with running_server() if not url else _external(url) as (server, reason):
        if server is None:
            raise SystemExit(f"no PostgreSQL: {reason}")
        made: list[str] = []

        def fresh() -> dict[str, str]:
            directory = tempfile.mkdtemp(prefix="lightmem-bench-")
            made.append(directory)
            return {"sqlite": directory, "postgres": server.fresh_url()}

        try:
            yield fresh
        finally:
            for directory in made:
                shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _external(url: str) -> Iterator[tuple[PostgresServer, str]]:
    yield PostgresServer(url), ""


def topic_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.normal(size=(max(1, n // 100), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(size=(n, DIM)).astype(np.float32)
    noise -= (noise * centres[np.arange(n) % len(centres)]).sum(1, keepdims=True) * centres[
        np.arange(n) % len(centres)
    ]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    vectors = 0.6 * centres[np.arange(n) % len(centres)] + 0.8 * noise
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_search(fresh: Callable[[], dict[str, str]], sizes: list[int]) -> None:
    print("| units | backend | fill (s) | search p50 / p99 ms | recall@10 | keyword p50 / p99 ms |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        rng = np.random.default_rng(n)
        vectors = topic_vectors(n, rng)
        texts = [
            f"unit {i} about {WORDS[i % len(WORDS)]} and {WORDS[(i * 7) % len(WORDS)]}" for i in range(n)
        ]
        picks = rng.integers(0, n, 300)
        queries = vectors[picks] + 0.05 * rng.normal(size=(300, DIM)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
        for backend, location in fresh().items():
            store = open_store(location)
            start = time.perf_counter()
            ids: list[str] = []
            for lo in range(0, n, 1000):
                units = [ExtractedUnit(t, (f"s{lo + j}",)) for j, t in enumerate(texts[lo : lo + 1000])]
                ids += [item.id for item in store.add(SCOPE, units, vectors[lo : lo + 1000])]
            fill = time.perf_counter() - start
            position = {memory_id: i for i, memory_id in enumerate(ids)}
            times, found = [], 0
            store.search(queries[0], SCOPE, 10)  # warm up
            for q, truth in zip(queries, exact):
                t0 = time.perf_counter()
                hits = store.search(q, SCOPE, 10)
                times.append(time.perf_counter() - t0)
                found += len({position[h.id] for h in hits} & set(truth.tolist()))
            keyword_times = []
            for i in range(300):
                t0 = time.perf_counter()
                store.keyword_search([WORDS[i % len(WORDS)]], SCOPE, 10)
                keyword_times.append(time.perf_counter() - t0)
            store.close()
            p50, p99 = percentiles(times)
            k50, k99 = percentiles(keyword_times)
            recall = found / (10 * len(queries))
            cells = [f"{n:,}", backend, f"{fill:.1f}", f"{p50:.2f} / {p99:.2f}", f"{recall:.3f}"]
            print("| " + " | ".join([*cells, f"{k50:.2f} / {k99:.2f}"]) + " |", flush=True)


def _writer(location: str, seconds: float, seed: int, counts: Any) -> None:
    store = open_store(location)
    rng = np.random.default_rng(seed)
    text_rng = random.Random(seed)
    scope = Scope(user_id=f"user{seed}")
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        vector = rng.normal(size=(1, DIM)).astype(np.float32)
        store.pending_add(
            scope, [{"id": f"{seed}-{done}", "role": "user", "content": sentence(text_rng)}], [10], vector
        )
        done += 1
    counts[seed] = done
    store.close()


def bench_add(fresh: Callable[[], dict[str, str]], writers: list[int], seconds: float) -> None:
    print("| writers | backend | messages/s | per writer |")
    print("|---|---|---|---|")
    for count in writers:
        for backend, location in fresh().items():
            open_store(location).close()  # the schema, before the writers race for it
            with multiprocessing.Manager() as manager:
                counts = manager.dict()
                procs = [
                    multiprocessing.Process(target=_writer, args=(location, seconds, k, counts))
                    for k in range(count)
                ]
                for p in procs:
                    p.start()
                for p in procs:
                    p.join()
                total = sum(counts.values())
            print(
                f"| {count} | {backend} | {total / seconds:,.0f} | {total / seconds / count:,.0f} |",
                flush=True,
            )


def _flusher(location: str) -> None:
    from lightmem.memory import Memory
    from lightmem.worker import Worker

    with Memory(location, embedder=HashEmbedder()) as memory:
        worker = Worker(memory, idle_s=0.0, consolidate=False)
        while memory._store.pending_count():
            worker.run_once()


def bench_flush(fresh: Callable[[], dict[str, str]], workers: list[int]) -> None:
    from lightmem.memory import Memory

    scopes, per_scope = 40, 60
    print("| workers | backend | messages/s | ratio to 1 worker |")
    print("|---|---|---|---|")
    first: dict[str, float] = {}
    for count in workers:
        for backend, location in fresh().items():
            rng = random.Random(count)
            with Memory(
                location, embedder=HashEmbedder(), buffer_token_threshold=10**9, consolidate="off"
            ) as agent:
                for s in range(scopes):
                    messages = [{"role": "user", "content": sentence(rng)} for _ in range(per_scope)]
                    agent.add(messages, user_id=f"user{s}")
            start = time.perf_counter()
            procs = [multiprocessing.Process(target=_flusher, args=(location,)) for _ in range(count)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            rate = scopes * per_scope / (time.perf_counter() - start)
            first.setdefault(backend, rate)
            print(f"| {count} | {backend} | {rate:,.0f} | {rate / first[backend]:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["search", "add", "flush"])
    parser.add_argument("--url", default="", help="a PostgreSQL database (default: a local pgserver)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"# {args.what}, load average before: {os.getloadavg()[0]:.1f}")
    with locations(args.url) as fresh:
        if args.what == "search":
            bench_search(fresh, args.sizes)
        elif args.what == "add":
            bench_add(fresh, args.writers, args.seconds)
        else:
            bench_flush(fresh, args.workers)
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
