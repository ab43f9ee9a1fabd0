"""`lightmem worker` as real processes on a PostgreSQL store: several workers share the flushes and
consolidations of many scopes with no double extraction, one killed with SIGKILL loses nothing, and
SIGTERM ends a worker after its current job."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from crash_worker import sentence
from fakes import HashEmbedder, LLMServer, Reply
from lightmem import retry_schedule
from lightmem.embedding import OnnxEmbedder
from lightmem.memory import Memory
from lightmem.store.postgres.store import PostgresStore
from lightmem.types import Scope
from lightmem.worker import Worker

SCOPES = [Scope(user_id=f"user{i}") for i in range(8)]
PER_SCOPE = 5

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def start_worker(url: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "lightmem.cli", "--path", url, "--json", "-v", "worker"]
    options = ["--idle", "0.5", "--poll", "0.1"]
    return subprocess.Popen([*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def add_messages(url: str, embedder: OnnxEmbedder) -> list[str]:
    """PER_SCOPE messages in each scope, buffered only (the agents leave every flush to the workers)."""
    rng = random.Random(3)
    ids = []
    with Memory(url, embedder=embedder, buffer_token_threshold=10**6) as agent:
        for scope in SCOPES:
            for n in range(PER_SCOPE):
                message = {"id": f"{scope.user_id}-{n}", "role": "user", "content": sentence(rng)}
                assert agent.add(message, user_id=scope.user_id) == []
                ids.append(f"{scope.user_id}:{message['id']}")
    return ids


def wait_until_done(url: str, dim: int, timeout_s: float) -> None:
    """Until nothing is buffered and every unit is consolidated."""
    deadline = time.monotonic() + timeout_s
    with PostgresStore(url, dim) as store:
        while store.pending_count() or store.unconsolidated(limit=1):
            assert time.monotonic() < deadline, "the workers did not finish the work"
            time.sleep(0.2)


def cited(url: str, dim: int) -> Counter[str]:
    """How many live units cite each (scope, message id)."""
    with PostgresStore(url, dim) as store:
        return Counter(f"{s.user_id}:{m}" for s in SCOPES for item in store.get_all(s) for m in item.source)


def test_workers_share_the_work_and_a_killed_one_loses_nothing(
    postgres_url: str, embedder: OnnxEmbedder
) -> None:
    ids = add_messages(postgres_url, embedder)
    workers = [start_worker(postgres_url) for _ in range(3)]
    try:
        time.sleep(4.0)  # the workers load the model, and start on the scopes idle for 0.5 s
        workers[0].kill()
        wait_until_done(postgres_url, embedder.dim, timeout_s=90)
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30) for worker in workers[1:]]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (stdout, stderr) in zip(workers[1:], outputs):
        assert worker.returncode == 0, stderr
        assert "left the buffer meanwhile" not in stderr  # no extraction was done twice
        assert set(json.loads(stdout)) == {"flushes", "units", "consolidations", "errors"}
        assert json.loads(stdout)["errors"] == 0
    print("worker stats:", [json.loads(stdout) for stdout, _ in outputs])  # shown with pytest -s
    counts = cited(postgres_url, embedder.dim)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}


def test_stop_ends_the_loop_after_the_current_job(postgres_url: str, embedder: OnnxEmbedder) -> None:
    add_messages(postgres_url, embedder)
    with Memory(postgres_url, embedder=embedder) as memory:
        worker = Worker(memory, idle_s=0.0, poll_s=0.05)
        assert worker.run_once()  # flushes every scope
        assert memory.stats().pending_messages == 0
        worker.stop()
        assert worker.run() == worker.stats  # returns at once
        assert worker.stats.flushes == len(SCOPES) and worker.stats.errors == 0
    with pytest.raises(ValueError, match="idle_s"):
        Worker(memory, idle_s=-1)


def test_a_worker_on_a_directory_flushes_then_consolidates_then_rests(tmp_path: Path) -> None:
    """Through `Memory.jobs`: an idle buffer is flushed, its new units consolidated, then nothing is due."""
    with Memory(tmp_path / "mem", embedder=HashEmbedder(), buffer_token_threshold=10**6) as memory:
        turns = [{"role": "user", "content": f"I adopted a cat named Miso {i}"} for i in range(3)]
        memory.add(turns, user_id="a")
        worker = Worker(memory, idle_s=0.0, poll_s=0.0)
        assert worker.run_once() and memory.stats(user_id="a").pending_messages == 0
        assert worker.stats.flushes == 1 and worker.stats.units > 0 and worker.stats.consolidations == 0
        assert worker.run_once() and worker.stats.consolidations == 1  # the new units
        assert not worker.run_once() and worker.stats.consolidations == 1  # nothing left: no pass
        assert worker.stats.errors == 0


def test_a_worker_rests_after_the_model_answered_twice_with_nothing_usable(tmp_path: Path) -> None:
    """Clusters the model answered twice with nothing usable stayed unconsolidated, so the worker found
    them again at every poll, asked the same requests and paid for the same answers, without end."""
    unusable = Reply(content="Sure! These memories look fine to me.")
    with (
        LLMServer(default=unusable) as server,
        Memory(tmp_path / "mem", embedder=HashEmbedder(), llm=server.client()) as memory,
    ):
        turns = [{"role": "user", "content": f"I adopted a cat named Miso {i}"} for i in range(3)]
        memory.add(turns, user_id="a", infer=False)
        worker = Worker(memory, idle_s=0.0, poll_s=0.0)
        assert worker.run_once() and worker.stats.consolidations == 1 and len(server.requests) == 2
        assert not worker.run_once() and not worker.run_once()  # nothing left to do: it rests
    assert worker.stats.consolidations == 1 and len(server.requests) == 2 and worker.stats.errors == 0


def test_a_failed_flush_waits_for_a_growing_backoff_not_for_the_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker facing a dead LLM server tried every due scope again at every poll (1 s by default): a
    failing request per poll and scope, each with a traceback in the log, for as long as it was down."""
    monkeypatch.setattr(retry_schedule, "RETRY_FIRST_S", 0.2)
    with (
        LLMServer(Reply(status=503, body=b'{"error": "loading model"}')) as llm,
        Memory(tmp_path / "mem", embedder=HashEmbedder(), llm=llm.client(max_retries=0)) as memory,
    ):
        turns = [{"role": "user", "content": f"I adopted a cat named Miso {i}"} for i in range(3)]
        memory.add(turns, user_id="a")
        worker = Worker(memory, idle_s=0.0, poll_s=0.01, consolidate=False)
        thread = threading.Thread(target=worker.run)
        thread.start()
        time.sleep(1.0)
        worker.stop()
        thread.join(timeout=10)
        # attempts at 0 s, then after 0.1-0.2, 0.2-0.4, 0.4-0.8 s more: 2 to 4 within the second
        assert 2 <= len(llm.requests) <= 4 and worker.stats.errors == len(llm.requests)
        assert memory.stats(user_id="a").pending_messages == 3


def test_a_consolidation_the_llm_failed_waits_for_a_growing_backoff_not_for_the_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the LLM was down, a pass deferred its clusters yet counted as work done (`scopes >
    scopes_failed`), so the worker started the next pass at once: a failing request per pass, in a loop
    (held back only by the client's own retries), for as long as the server was down."""
    monkeypatch.setattr(retry_schedule, "RETRY_FIRST_S", 0.2)
    down = Reply(status=503, body=b'{"error": "loading model"}')
    with (
        LLMServer() as llm,
        Memory(tmp_path / "mem", embedder=HashEmbedder(), llm=llm.client(max_retries=0)) as memory,
    ):
        llm.script(down, down, down)
        turns = [{"role": "user", "content": f"I adopted a cat named Miso {i}"} for i in range(3)]
        memory.add(turns, user_id="a", infer=False)
        worker = Worker(memory, idle_s=0.0, poll_s=0.01)
        thread = threading.Thread(target=worker.run)
        thread.start()
        deadline = time.monotonic() + 5.0
        while len(llm.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        worker.stop()
        thread.join(timeout=10)
        # three failures, then after 0.1-0.2, 0.2-0.4 and 0.4-0.8 s the answer: one pass each, no loop
        assert len(llm.requests) == 4 and worker.stats.consolidations == 4
        gaps = [b["time"] - a["time"] for a, b in zip(llm.requests, llm.requests[1:])]
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps
        assert memory.jobs.consolidate(threading.Event()) is None  # every unit consolidated at last
