"""Search latency as one scope grows: `Memory.search` (limit 10) of 300 LoCoMo questions, hybrid
(keyword_weight 1) and by meaning only (0), beside one query embedding timed in the same process, in a
store with 1k, 10k, 100k units in one scope (and 36 scopes of ~3k units); then `add` latency of one
message into the largest store, with the buffered messages indexed by FTS5 (as shipped) and not (its
triggers dropped on a copy).

    python benches/bench_search_scale.py [FILES...] [--sizes 1000,10000,100000,36x3000] [--questions 300]
        [--adds 200] [--cache DIR] [--store sqlite|postgres]

The units are the LoCoMo turn texts ("Name: what was said"), repeated as often as the size needs; each
distinct text is embedded once with the real model and every unit gets that vector plus small seeded
noise (renormalised), so vectors cluster by topic as real memories do. Stores are filled through
`store.add` in batches and kept in `--cache` (default: a directory under the system's temp dir) for
the next run. Each question is timed three ways in turn (embedding, hybrid, vector only) so that load
changes touch all columns alike; the load average is printed with the results.

`--store postgres`: the same stores in PostgreSQL + pgvector, one schema a size, on a `pgserver`
(PostgreSQL 16 with pgvector, as the tests start it) whose data directory is kept in the cache (with
fsync off: it is a cache); `add` is timed on SQLite only (it runs on a copy of the store directory).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager, nullcontext
from pathlib import Path
from typing import Optional

import numpy as np
from lightmem import Memory
from lightmem.conversations import Conversation, load_conversations
from lightmem.embedding import OnnxEmbedder
from lightmem.store import open_store
from lightmem.types import ExtractedUnit, Scope
from lightmem_bench.locomo import default_paths
from lightmem_bench.metrics import percentiles_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pg_server import PostgresServer

ADD_BATCH = 1000
NOISE = 0.02
"""Standard deviation of the noise added to each coordinate of a unit's vector (384-d: cosine about
0.93 to its text's vector)."""
SCOPES = 36
USER = "u0"


def turn_texts(conversations: Sequence[Conversation]) -> list[str]:
    """The distinct turn texts, "Name: content", in conversation order."""
    texts = (
        f"{m.get('name') or m['role']}: {m['content']}" for c in conversations for s in c.sessions for m in s
    )
    return list(dict.fromkeys(texts))


def text_vectors(embedder: OnnxEmbedder, texts: list[str], cache: Path) -> np.ndarray:
    """The vectors of `texts`, embedded once and kept in `cache`."""
    path = cache / f"turns-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    np.save(path, vectors)
    return vectors


@contextmanager
def postgres_server(directory: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server (pgserver) on the data directory `directory`, kept for the next run."""
    import pgserver

    handle = pgserver.get_server(directory, cleanup_mode="stop")
    server = PostgresServer(handle.get_uri(), handle)
    server.make_fast()
    try:
        yield server
    finally:
        server.stop()


def store_location(cache: Path, name: str, server: Optional[PostgresServer]) -> tuple[str, Path]:
    """Where the store `name` is (a directory, or a schema of `server`) and the file saying it is filled
    (its absence empties the store first)."""
    if server is not None:
        done = cache / f"postgres-{name}.filled"
        return server.schema_url(f"scale_{name}", fresh=not done.exists()), done
    directory = cache / f"store-{name}"
    if not (directory / "filled").exists() and directory.exists():
        shutil.rmtree(directory)
    return str(directory), directory / "filled"


def fill(
    location: str, done: Path, texts: list[str], vectors: np.ndarray, sizes: Sequence[int], seed: int
) -> None:
    """The store at `location` with `sizes[k]` units in scope user `u<k>`, unless `done` says it is."""
    if done.exists():
        return
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with open_store(location, dim=vectors.shape[1]) as store:
        for k, size in enumerate(sizes):
            scope = Scope(user_id=f"u{k}")
            for first in range(0, size, ADD_BATCH):
                picks = np.arange(first, min(size, first + ADD_BATCH)) % len(texts)
                noisy = vectors[picks] + rng.normal(0.0, NOISE, (len(picks), vectors.shape[1]))
                noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                units = [ExtractedUnit(texts[i], source=(f"t{first + j}",)) for j, i in enumerate(picks)]
                store.add(scope, units, noisy.astype(np.float32))
    done.touch()
    print(f"  filled {done.name}: {sum(sizes)} units in {time.perf_counter() - start:.0f} s")


def warm_keyword_index(memory: Memory) -> None:
    """Wait for the SQLite store's keyword index, which its first keyword search starts building in the
    background (FTS5 answers meanwhile): the figures are those of the searches after it."""
    keywords = getattr(memory._store, "_keywords", None)  # the SQLite store's only
    if keywords is not None:
        keywords.wait_built()


def time_searches(
    location: str, embedder: OnnxEmbedder, questions: Sequence[str], user: str
) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of one query embedding, a hybrid search and a vector-only search per question."""
    seconds: dict[str, list[float]] = {"embed": [], "hybrid": [], "vector": []}
    with Memory(location, keyword_weight=1.0) as hybrid, Memory(location, keyword_weight=0.0) as vector:
        for memory in (hybrid, vector):
            memory.search("warm up", user_id=user, limit=10)
        warm_keyword_index(hybrid)
        for question in questions:
            start = time.perf_counter()
            embedder.embed([question])
            seconds["embed"].append(time.perf_counter() - start)
            for name, memory in (("hybrid", hybrid), ("vector", vector)):
                start = time.perf_counter()
                memory.search(question, user_id=user, limit=10)
                seconds[name].append(time.perf_counter() - start)
    return {name: percentiles_ms(values) for name, values in seconds.items()}


def time_adds(location: str, texts: Sequence[str], adds: int, user: str) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of `Memory.add` of one message on two copies of the store at `location`: as it is
    ("in FTS5": FTS5's table takes each buffered message, for phrase searches; the keyword index
    reads the buffer's lines at each search) and with the buffer's FTS5 triggers dropped ("not in
    FTS5": what that indexing costs an add). The two take turns with the same messages, so load changes
    touch both alike."""
    seconds: dict[str, list[float]] = {"in FTS5": [], "not in FTS5": []}
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        memories = {}
        for kind in seconds:
            copy = Path(directory) / kind.replace(" ", "-")
            shutil.copytree(location, copy)
            if kind == "not in FTS5":
                with closing(sqlite3.connect(copy / "memory.db")) as conn, conn:
                    conn.execute("DROP TRIGGER pending_text_insert")
                    conn.execute("DROP TRIGGER pending_text_delete")
            memories[kind] = stack.enter_context(Memory(copy))
            memories[kind].search("warm up", user_id=user, limit=10)
            warm_keyword_index(memories[kind])
        for k in range(adds):
            message = {"role": "user", "content": texts[k % len(texts)], "id": f"add-{k}"}
            for kind, memory in memories.items():
                start = time.perf_counter()
                memory.add(message, user_id=user)
                seconds[kind].append(time.perf_counter() - start)
    return {kind: percentiles_ms(values) for kind, values in seconds.items()}


def parse_sizes(text: str) -> list[tuple[str, list[int]]]:
    """`1000,36x3000` -> [("1000", [1000]), ("36x3000", [3000] * 36)]."""
    sizes = []
    for part in text.split(","):
        count, _, size = part.strip().rpartition("x")
        sizes.append((part.strip(), [int(size)] * (int(count) if count else 1)))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="LoCoMo files (default: ../shared/data/locomo)")
    parser.add_argument(
        "--sizes", default="1000,10000,100000,36x3000", help="units a store (NxUNITS: N scopes)"
    )
    parser.add_argument("--questions", type=int, default=300, help="LoCoMo questions asked (default 300)")
    parser.add_argument("--adds", type=int, default=200, help="messages added to the largest store")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lightmem-search-scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    conversations = [c for path in args.files or default_paths() for c in load_conversations(path)]
    if not conversations:
        raise SystemExit("no LoCoMo files found in ../shared/data/locomo")
    texts = turn_texts(conversations)
    questions = [q.question for c in conversations for q in c.questions][::2][: args.questions]
    args.cache.mkdir(parents=True, exist_ok=True)
    embedder = OnnxEmbedder()
    vectors = text_vectors(embedder, texts, args.cache)
    print(f"{len(texts)} distinct turn texts, {len(questions)} questions; cache {args.cache}")
    with postgres_server(args.cache / "pgdata") if args.store == "postgres" else nullcontext() as server:
        run(args, embedder, texts, vectors, questions, server)


def run(
    args: argparse.Namespace,
    embedder: OnnxEmbedder,
    texts: list[str],
    vectors: np.ndarray,
    questions: Sequence[str],
    server: Optional[PostgresServer],
) -> None:
    """The table of search latencies (and add latency on SQLite), between the load averages."""
    print(f"store: {args.store}; load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        "| units in the scope | keyword_weight | search p50 | search p99 | one query embedding p50 "
        "| p50 ratio | p99 ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    largest: tuple[int, str] = (0, "")
    for name, sizes in parse_sizes(args.sizes):
        location, done = store_location(args.cache, name, server)
        fill(location, done, texts, vectors, sizes, args.seed)
        timed = time_searches(location, embedder, questions, USER)
        embed = timed["embed"]
        label = f"{sizes[0]:,}" + (f" (of {len(sizes)} scopes)" if len(sizes) > 1 else "")
        for weight, kind in (("1 (hybrid)", "hybrid"), ("0 (vector only)", "vector")):
            p = timed[kind]
            print(
                f"| {label} | {weight} | {p['p50']:.1f} ms | {p['p99']:.1f} ms | {embed['p50']:.1f} ms | "
                f"{p['p50'] / embed['p50']:.2f}x | {p['p99'] / embed['p50']:.2f}x |"
            )
        largest = max(largest, (sizes[0], location))
    if args.adds and largest[0] and server is None:
        added = time_adds(largest[1], texts, args.adds, USER)
        for kind, p in added.items():
            print(
                f"add of one message to the scope of {largest[0]:,} units, buffered messages {kind}: "
                f"p50 {p['p50']:.1f} ms, p99 {p['p99']:.1f} ms"
            )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
