"""Claims (`MemoryStore.claim`) on both store kinds: one holder per (job, exact scope) among threads and
processes, released when the holder ends or is killed; and the flushes of two memories sharing a store
never extract the same messages twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Union

import pytest
from fakes import HashEmbedder
from lightmem.llm import Completion, OfflineLLM, UsageCounter
from lightmem.memory import Memory
from lightmem.prompts import AnswerFormat
from lightmem.store import MemoryStore
from lightmem.store import open_store as open_location
from lightmem.types import Scope

DIM = HashEmbedder().dim
ALICE = Scope(user_id="alice")

_HOLDER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_claims import open_store
from lightmem.types import Scope
store = open_store({location!r})
with store.claim("flush", Scope(user_id="alice")) as held:
    print(held, flush=True)
    time.sleep(60)
"""


def open_store(location: str) -> MemoryStore:
    """The store at `location`: a directory or a PostgreSQL URL."""
    return open_location(location, DIM)


@pytest.fixture
def location(store_location: str) -> str:
    """A fresh store location of each kind (the PostgreSQL one on the session's server)."""
    return store_location


def test_one_holder_per_job_and_scope(location: str) -> None:
    first, second = open_store(location), open_store(location)
    try:
        with first.claim("flush", ALICE) as held:
            assert held
            with second.claim("flush", ALICE) as other, first.claim("flush", ALICE) as again:
                assert not other and not again  # another store, or another thread of the same one
            with (
                second.claim("consolidate", ALICE) as job,
                second.claim("flush", Scope("alice", "a1")) as scope,
            ):
                assert job and scope  # other jobs and other exact scopes are free
        with second.claim("flush", ALICE) as held_now:
            assert held_now
        with pytest.raises(ValueError, match="job must be one of"):
            first.claim("sleep", ALICE).__enter__()
    finally:
        first.close()
        second.close()


def test_a_waiting_claim_gets_it_when_the_holder_ends(location: str) -> None:
    first, second = open_store(location), open_store(location)
    try:
        got_at: list[float] = []
        with first.claim("flush", ALICE):
            waiter = threading.Thread(target=lambda: _wait_for_claim(second, got_at))
            waiter.start()
            time.sleep(0.3)
            released_at = time.monotonic()
        waiter.join(timeout=10)
        assert got_at and got_at[0] >= released_at
    finally:
        first.close()
        second.close()


def _wait_for_claim(store: MemoryStore, got_at: list[float]) -> None:
    with store.claim("flush", ALICE, wait=True) as held:
        assert held
        got_at.append(time.monotonic())


def test_a_killed_holder_releases_its_claim(location: str) -> None:
    tests = str(Path(__file__).parent)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.format(tests=tests, location=location)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        store = open_store(location)
        with store.claim("flush", ALICE) as held:
            assert not held
        holder.kill()
        holder.wait(timeout=10)
        with store.claim("flush", ALICE, wait=True) as held:
            assert held
        store.close()
    finally:
        holder.kill()


class SlowLLM:
    """The offline backend, each call taking `delay_s` and counted."""

    def __init__(self, delay_s: float) -> None:
        self._inner = OfflineLLM()
        self._delay_s = delay_s
        self.calls = 0

    @property
    def usage(self) -> UsageCounter:
        return self._inner.usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        self.calls += 1
        time.sleep(self._delay_s)
        return self._inner.complete(messages, json_output=json_output, answer_format=answer_format)


def test_two_memories_never_extract_the_same_messages(location: str) -> None:
    """Two replicas flushing one scope at once: the second waits for the first's claim and finds the
    buffer empty (before claims, both sent the messages to the LLM and one extraction was thrown away)."""
    slow, other = SlowLLM(0.5), SlowLLM(0.0)
    options: dict[str, Any] = {"embedder": HashEmbedder(), "buffer_token_threshold": 100_000}
    with Memory(location, llm=slow, **options) as first, Memory(location, llm=other, **options) as second:
        first.add(
            [{"role": "user", "content": f"I adopted a cat named Miso {i}"} for i in range(3)], user_id="a"
        )
        flushed: list[Union[int, str]] = []
        thread = threading.Thread(target=lambda: flushed.append(len(first.flush(user_id="a"))))
        thread.start()
        time.sleep(0.2)  # the first flush is in its LLM call
        assert second.flush(user_id="a") == []
        thread.join(timeout=30)
        assert other.calls == 0 and slow.calls >= 1 and flushed and flushed[0] > 0
        assert second.stats(user_id="a").pending_messages == 0


_FLUSHER = """
import sys
sys.path.insert(0, {tests!r})
from fakes import HashEmbedder
from test_claims import SlowLLM
from lightmem.memory import Memory

class Announcing(SlowLLM):
    def complete(self, *args, **kwargs):
        if self.calls == 0:  # the first extraction call waits for the test's go
            print("extracting", flush=True)
            sys.stdin.readline()
        return super().complete(*args, **kwargs)

with Memory({location!r}, llm=Announcing(0.0), embedder=HashEmbedder(), buffer_token_threshold=100_000) as m:
    m.add([{{"role": "user", "content": f"I adopted a cat named Miso {{i}}"}} for i in range(3)], user_id="a")
    print(len(m.flush(user_id="a")), flush=True)
"""


@pytest.mark.parametrize("verb", ["delete_all", "reset"])
def test_a_delete_all_or_reset_during_another_process_flush_leaves_nothing(location: str, verb: str) -> None:
    """`delete_all` and `reset` take no claim, and need not: a flush stores its units in the transaction that
    removes their messages from the buffer, which fails (nothing stored) once they are gone, so a flush
    extracting meanwhile in another process cannot bring the deleted messages back as memories."""
    tests = str(Path(__file__).parent)
    flusher = subprocess.Popen(
        [sys.executable, "-c", _FLUSHER.format(tests=tests, location=location)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flusher.stdin is not None and flusher.stdout is not None
        assert flusher.stdout.readline().strip() == "extracting"
        with Memory(location, embedder=HashEmbedder()) as memory:
            assert memory.stats(user_id="a").pending_messages == 3
            if verb == "reset":
                memory.reset()
            else:
                assert memory.delete_all(user_id="a") == 0  # nothing extracted yet: the buffer goes
            flusher.stdin.write("go\n")
            flusher.stdin.flush()
            assert flusher.stdout.readline().strip() == "0"  # its extraction was dropped
            assert flusher.wait(timeout=30) == 0
            assert memory.get_all(user_id="a") == [] and memory.stats(user_id="a").pending_messages == 0
    finally:
        flusher.kill()
