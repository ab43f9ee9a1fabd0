"""A process that writes to a memory until it is killed, for the crash and multi-process tests.

    python tests/crash_worker.py DIR --prefix p --start 0 --count 200 [--onnx] [--seed 1]

Adds `count` messages with ids `<prefix><n>` to the scope user_id=USER, printing each id on stdout
(flushed) once `add` has returned, i.e. once the message is acknowledged. Between adds it flushes,
searches, consolidates (when `Memory.consolidate` exists) and closes and reopens the memory (which saves
the vector index), so that a kill can land in any of these. Prints "done" at the end.

Without --onnx it embeds with `fakes.HashEmbedder`, which needs no model, so that a killed and restarted
process is back in a second.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

USER = "crash"
THRESHOLD_WORDS = 40
_WORDS = (
    "Maya Tom Lena Paris Lyon Berlin marathon wedding dog cat Miso ramen garlic pharmacist night shift "
    "guitar lessons flight Tuesday birthday sister brother garden tomatoes bicycle museum painting train "
    "Grenoble keyboard shelter coffee bakery violin concert hiking Alps snow winter summer beach"
).split()


def sentence(rng: random.Random) -> str:
    """A message of 8 to 12 words."""
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 12))) + "."


def run(path: str, prefix: str, start: int, count: int, onnx: bool, seed: int) -> None:
    """Add the messages, with flushes, searches, consolidations and reopenings in between."""
    from fakes import HashEmbedder
    from lightmem.embedding import OnnxEmbedder
    from lightmem.memory import Memory

    rng = random.Random(seed)
    embedder = OnnxEmbedder() if onnx else HashEmbedder()
    memory = Memory(path, embedder=embedder, buffer_token_threshold=THRESHOLD_WORDS)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for n in range(start, start + count):
        message = {
            "id": f"{prefix}{n}",
            "role": "user" if n % 2 else "assistant",
            "name": rng.choice(("Maya", "Tom")),
            "content": sentence(rng),
            "timestamp": (base + timedelta(minutes=n)).isoformat(),
        }
        memory.add(message, user_id=USER)
        print(message["id"], flush=True)
        if n % 7 == 6:
            memory.flush(user_id=USER)
        if n % 5 == 4:
            memory.search(sentence(rng), user_id=USER, limit=3)
        consolidate = getattr(memory, "consolidate", None)
        if consolidate is not None and n % 13 == 12:
            consolidate()
        if n % 25 == 24:
            memory.close()
            memory = Memory(path, embedder=embedder, buffer_token_threshold=THRESHOLD_WORDS)
    memory.flush()
    memory.close()
    print("done", flush=True)


def spawn(
    path: str | Path, prefix: str, count: int, seed: int, *, onnx: bool = False
) -> subprocess.Popen[str]:
    """This script in a new process, its stdout and stderr piped."""
    options = ["--prefix", prefix, "--count", str(count), "--seed", str(seed), *(["--onnx"] if onnx else [])]
    return subprocess.Popen(
        [sys.executable, __file__, str(path), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def message_id_counts(
    location: str | Path, dim: int, users: Sequence[str] = (USER,)
) -> tuple[Counter[str], Counter[str]]:
    """How often each message id of `users` occurs in the short-term buffer and in the sources of live
    units, read through a store of its own (of vectors of dimension `dim`). With the offline backend
    every message is extracted into one unit and consolidation deletes only duplicates, whose sources
    the unit kept takes over: each message acknowledged and flushed is cited by exactly one live unit."""
    from lightmem.store import open_store
    from lightmem.types import Scope

    with closing(open_store(str(location), dim)) as store:
        scopes = [Scope(user_id=user) for user in users]
        pending = Counter(message["id"] for scope in scopes for _, message in store.pending_list(scope))
        units = [unit for scope in scopes for unit in store.get_all(scope)]
    return pending, Counter(s for unit in units for s in unit.source)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--prefix", default="m")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--onnx", action="store_true", help="use the real ONNX embedder")
    args = parser.parse_args(argv)
    run(args.path, args.prefix, args.start, args.count, args.onnx, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
