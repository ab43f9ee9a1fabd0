"""One `Memory.add` call of n messages, then `flush`: time at growing n, and time per message, which stays
flat when the path is linear (one add of 10k messages once took 12.8 s and of 100k did not finish).

A standalone script (not a timed test). Each size runs in a fresh store (a temporary directory) with the
offline LLM backend and the default config. The messages have ids and no timestamps (as a client
importing a history may send them), alternate user and assistant, and are 8 to 12 words drawn from the
crash tests' vocabulary (`tests/crash_worker.py`). `--embedder hash` (default): the tests' 32-d hashing
embedder, so that the time is lightmem's own; `onnx`: the real model (its time grows linearly too, and
dominates). Per size it prints the time of the add and of the flush, microseconds per message, that
figure relative to the smallest size's, where the time went (the pending buffer, extraction, storing
the units and, within it, inserting into the vector index) and the load average before and after.

    .venv/bin/python benches/bench_bulk_add.py --sizes 1000 10000 100000 [--embedder onnx]
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from lightmem.embedding import Embedder, OnnxEmbedder
from lightmem.memory import Memory
from lightmem.short_term import ShortTermMemory
from lightmem.store import SQLiteStore
from lightmem.store.vector_index import VectorIndex

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from crash_worker import sentence
from fakes import HashEmbedder

PHASES = {
    "buffer": (SQLiteStore, "pending_add"),
    "extract": (ShortTermMemory, "extract"),
    "store": (SQLiteStore, "add"),
    "index": (VectorIndex, "apply"),
}
"""Methods timed (cumulatively) while the add and the flush run."""


def timed(spent: Counter[str]) -> None:
    """Wrap the methods of `PHASES` so that their time adds up in `spent`."""
    for phase, (owner, name) in PHASES.items():
        setattr(owner, name, _timer(getattr(owner, name), phase, spent))


def _timer(method: Callable[..., Any], phase: str, spent: Counter[str]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[phase] += time.perf_counter() - start

    return wrapper


def messages(count: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    roles = ("user", "assistant")
    return [{"id": f"m{i}", "role": roles[i % 2], "content": sentence(rng)} for i in range(count)]


def run(count: int, embedder: Embedder, spent: Counter[str]) -> tuple[float, float, int]:
    """Seconds of the add and of the flush, and the memories stored."""
    batch = messages(count)
    spent.clear()
    with tempfile.TemporaryDirectory() as directory, Memory(directory, embedder=embedder) as memory:
        start = time.perf_counter()
        memory.add(batch, user_id="u")
        added = time.perf_counter()
        memory.flush()
        flushed = time.perf_counter()
        return added - start, flushed - added, memory.stats().memories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--embedder", choices=("hash", "onnx"), default="hash")
    args = parser.parse_args()
    embedder: Embedder = HashEmbedder() if args.embedder == "hash" else OnnxEmbedder()
    spent: Counter[str] = Counter()
    timed(spent)
    print(f"embedder: {args.embedder}, {os.cpu_count()} cores")
    columns = ["messages", "add (s)", "flush (s)", "µs / message", "ratio", *PHASES, "memories", "load"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    base = None
    for count in args.sizes:
        load_before = os.getloadavg()[0]
        add_s, flush_s, memories = run(count, embedder, spent)
        per_message = (add_s + flush_s) / count * 1e6
        base = base or per_message
        phases = " | ".join(f"{spent[phase]:.2f}" for phase in PHASES)
        load = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
        print(
            f"| {count:,} | {add_s:.2f} | {flush_s:.2f} | {per_message:.0f} | {per_message / base:.2f} | "
            f"{phases} | {memories:,} | {load} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
