"""Crash safety: a writer process killed with SIGKILL at random points loses no acknowledged message.

`crash_worker.py` prints a message id once `Memory.add` has returned for it. After each kill the store is
reopened: every printed id must be in the short-term buffer or in the `source` of exactly one unit, the
vector index must agree with the store (or be rebuilt, with a log line), and the next writer carries on.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import threading
import time
from contextlib import closing

import pytest
from crash_worker import USER, message_id_counts, spawn
from fakes import HashEmbedder
from lightmem.memory import Memory
from lightmem.store import open_store
from stores import StoreKind

KILLS = 15
TIME_BUDGET_S = 90.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def read_lines(process: subprocess.Popen[str]) -> tuple[list[str], threading.Thread]:
    """The lines the process prints, collected by a thread as they come."""
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout

    def collect() -> None:
        lines.extend(line.strip() for line in stdout)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    return lines, reader


def check_store(kind: StoreKind, location: str, acknowledged: list[str]) -> None:
    pending, units = message_id_counts(location, HashEmbedder().dim)
    lost = [m for m in acknowledged if m not in pending and m not in units]
    assert not lost, f"acknowledged messages lost: {lost}"
    twice = [m for m, n in (pending + units).items() if n > 1]
    assert not twice, f"messages stored more than once: {twice}"
    with closing(open_store(location, dim=HashEmbedder().dim)) as store:
        assert kind.check(store)


def test_sigkill_at_random_points_loses_no_acknowledged_message(
    store_kind: StoreKind, store_location: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = store_location
    rng = random.Random(6)
    acknowledged: list[str] = []
    kills = 0
    start = time.monotonic()
    caplog.set_level(logging.WARNING, logger="lightmem")
    for cycle in range(KILLS):
        worker = spawn(path, f"k{cycle}-", 100_000, seed=cycle)
        lines, reader = read_lines(worker)
        time.sleep(rng.uniform(0.4, 3.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        reader.join(timeout=10)
        _, stderr = worker.communicate()
        assert worker.returncode == -signal.SIGKILL, f"the worker failed before the kill:\n{stderr}"
        kills += 1
        acknowledged += [line for line in lines if line != "done"]
        check_store(store_kind, path, acknowledged)
        assert time.monotonic() - start < TIME_BUDGET_S, f"only {kills} kills in {TIME_BUDGET_S} s"

    final = spawn(path, "final-", 60, seed=99)
    stdout, stderr = final.communicate(timeout=60)
    assert final.returncode == 0, stderr
    lines = stdout.split()
    assert lines[-1] == "done"
    acknowledged += lines[:-1]
    check_store(store_kind, path, acknowledged)
    pending, _ = message_id_counts(path, HashEmbedder().dim)
    assert not pending  # the last writer flushed everything, the leftovers of the killed ones included

    with Memory(path, embedder=HashEmbedder()) as memory:
        assert memory.search("Maya marathon", user_id=USER, limit=3)
    rebuilds = caplog.text.count("rebuilding the vector index")
    files = os.listdir(path) if os.path.isdir(path) else []  # a store of files: those a kill left behind
    leftovers = sorted(name for name in files if name.endswith(".tmp"))
    print(  # shown with pytest -s: the figures of the report
        f"kills survived: {kills}; acknowledged messages: {len(acknowledged)}; index rebuilds on reopen: "
        f"{rebuilds}; temporary files left by kills: {len(leftovers)}; {time.monotonic() - start:.1f} s"
    )
    assert kills == KILLS
