"""Background extraction (`LightMemConfig.extraction`, `lightmem.background_extraction`): with an LLM, `add`
buffers and returns while a thread of the memory extracts, against a real OpenAI-compatible server on
127.0.0.1 (`LLMServer`) whose answers take as long as a slow local model's would (scaled down)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from crash_worker import message_id_counts
from fakes import HashEmbedder, LLMServer, Reply
from lightmem import AsyncMemory, Memory, background_extraction, retry_schedule
from lightmem import memory as memory_module

TURNS = [
    {"id": "m1", "role": "user", "name": "Ann", "content": "I moved to Lyon last May for a new job."},
    {"id": "m2", "role": "assistant", "content": "Congratulations! How do you like the city so far?"},
    {"id": "m3", "role": "user", "name": "Ann", "content": "I love the food markets and the old town."},
    {"id": "m4", "role": "user", "name": "Ann", "content": "My sister Lena visits me in Lyon every June."},
]
IDS = [m["id"] for m in TURNS]
WORDS = sum(len(str(m["content"]).split()) for m in TURNS)
DELAY_S = 1.5
"""How long the scripted model takes to answer (a CPU-served one takes 30 s to minutes)."""


def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.02)


def open_memory(path: Path | str, llm: LLMServer, **options: object) -> Memory:
    """A memory extracting with `llm`, its defaults otherwise (an LLM: background extraction)."""
    client = llm.client(timeout_s=10.0, max_retries=0)
    return Memory(path, embedder=HashEmbedder(), llm=client, buffer_token_threshold=10, **options)


def each_once(path: Path | str) -> None:
    """Every message of TURNS is in the buffer or in the source of a live unit, and in one place only."""
    pending, units = message_id_counts(path, HashEmbedder().dim, users=("u",))
    assert sorted((pending + units).elements()) == sorted(IDS)


def test_an_add_past_the_threshold_returns_before_the_llm_answers(tmp_path: Path) -> None:
    """With an LLM, the add that filled the buffer ran the extraction and waited for the model's answer
    (30 s to minutes on a CPU): agents, `lightmem serve` and `lightmem mcp` stalled on it."""
    with LLMServer(delay_s=DELAY_S) as llm, open_memory(tmp_path / "mem", llm) as memory:
        start = time.monotonic()
        assert memory.add(TURNS, user_id="u") == []
        assert time.monotonic() - start < DELAY_S / 2
        hits = memory.search("moved to Lyon", user_id="u")
        assert any(hit.pending and hit.source == ("m1",) for hit in hits)  # found at once
        stats = memory.stats(user_id="u")
        assert (stats.pending_messages, stats.pending_words) == (len(IDS), WORDS)
        wait_for(lambda: memory.get_all(user_id="u"))  # the units, once the model has answered
        assert len(llm.requests) == 1 and memory.stats(user_id="u").llm_calls == 1
        each_once(tmp_path / "mem")
        assert memory.stats(user_id="u").pending_words < WORDS
        assert memory.flush(user_id="u") is not None  # flush still extracts in the caller
        assert memory.stats(user_id="u").pending_messages == 0


def test_the_offline_backend_extracts_inline_by_default(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder=HashEmbedder(), buffer_token_threshold=10) as memory:
        assert memory.add(TURNS, user_id="u")  # milliseconds: the add returns its units, as scripts expect


def test_async_memory_returns_before_the_llm_answers(tmp_path: Path) -> None:
    async def scenario(llm: LLMServer) -> None:
        client = llm.client(timeout_s=10.0)
        options = {"embedder": HashEmbedder(), "llm": client, "buffer_token_threshold": 10}
        async with AsyncMemory(tmp_path / "mem", **options) as memory:
            start = time.monotonic()
            assert await memory.add(TURNS, user_id="u") == []
            assert time.monotonic() - start < DELAY_S / 2
            while not await memory.get_all(user_id="u"):
                await asyncio.sleep(0.02)

    with LLMServer(delay_s=DELAY_S) as llm:
        asyncio.run(scenario(llm))


def test_close_during_an_extraction_waits_for_it_and_loses_nothing(store_location: str) -> None:
    with LLMServer(delay_s=1.0) as llm:
        memory = open_memory(store_location, llm)
        memory.add(TURNS, user_id="u")
        wait_for(lambda: llm.requests)  # the model is working on it
        memory.close()
        units = message_id_counts(store_location, HashEmbedder().dim, users=("u",))[1]
        assert units, "close waited for the extraction in progress, whose units are stored"
        each_once(store_location)


def test_close_that_cannot_wait_for_the_llm_leaves_the_messages_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(memory_module, "CLOSE_WAIT_S", 0.2)
    with LLMServer(delay_s=1.0) as llm, caplog.at_level(logging.WARNING):
        memory = open_memory(tmp_path / "mem", llm)
        memory.add(TURNS, user_id="u")
        wait_for(lambda: llm.requests)
        start = time.monotonic()
        memory.close()
        assert time.monotonic() - start < 0.8
        wait_for(lambda: "stopped at close" in caplog.text)  # the answer came after the store closed
        pending, units = message_id_counts(tmp_path / "mem", HashEmbedder().dim, users=("u",))
        assert sorted(pending) == sorted(IDS) and not units
    with Memory(tmp_path / "mem", embedder=HashEmbedder(), buffer_token_threshold=10) as reopened:
        assert len(reopened.flush(user_id="u")) > 0  # the next process extracts them
    each_once(tmp_path / "mem")


def test_a_memory_reopened_while_the_closed_ones_extraction_waits_for_the_llm_extracts_once_it_ends(
    store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reopened memory's thread found the scope claimed (the closed memory's thread still waited for
    the model) and dropped it without a word: its full buffer stayed unextracted until some later add."""
    monkeypatch.setattr(memory_module, "CLOSE_WAIT_S", 0.1)
    monkeypatch.setattr(background_extraction, "CLAIMED_RETRY_S", 0.1)
    with LLMServer(delay_s=1.0) as llm:
        closed = open_memory(store_location, llm)
        closed.add(TURNS[:3], user_id="u")
        wait_for(lambda: llm.requests)
        closed.close()  # its thread waits on: the answer finds the store closed, the messages stay
        with open_memory(store_location, llm) as reopened:
            reopened.add(TURNS[3], user_id="u")  # the buffer is full
            wait_for(lambda: reopened.stats(user_id="u").pending_messages == 0, timeout=5.0)
            assert len(reopened.get_all(user_id="u")) > 0 and len(llm.requests) == 2
    each_once(store_location)


def test_an_llm_that_is_down_is_retried_with_a_growing_backoff_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two scopes wait while the server answers 503: one request per backoff (doubling, for every scope
    of the memory), never a loop; the messages stay buffered and searchable, then are extracted once."""
    monkeypatch.setattr(retry_schedule, "RETRY_FIRST_S", 0.2)
    down = Reply(status=503, body=b'{"error": "loading model"}')
    with LLMServer() as llm, caplog.at_level(logging.WARNING), open_memory(tmp_path / "mem", llm) as memory:
        llm.script(down, down, down)
        memory.add(TURNS, user_id="u")
        memory.add([{**m, "id": f"v-{m['id']}"} for m in TURNS], user_id="v")
        wait_for(lambda: len(llm.requests) >= 3)
        assert memory.stats().pending_messages == 2 * len(IDS)  # nothing extracted, nothing lost
        assert ("v-m4",) in [hit.source for hit in memory.search("my sister Lena", user_id="v")]
        wait_for(lambda: memory.stats().pending_words < 2 * WORDS and len(llm.requests) == 5)
        wait_for(lambda: memory.get_all(user_id="u") and memory.get_all(user_id="v"))
        time.sleep(0.3)
        assert len(llm.requests) == 5  # 3 failures, one success per scope, nothing more
        gaps = [b["time"] - a["time"] for a, b in zip(llm.requests, llm.requests[1:])]
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps  # 0.2 s doubling, x [0.5, 1]
        assert memory.stats().extractions_deferred == 3
        assert caplog.text.count("retried in") == 3 and "503" in caplog.text
        each_once(tmp_path / "mem")


@contextmanager
def extracting(store_location: str, caplog: pytest.LogCaptureFixture) -> Iterator[tuple[LLMServer, Memory]]:
    """A memory whose thread is extracting `TURNS` of user "u" with a model that answers in 1 s."""
    with (
        LLMServer(delay_s=1.0) as llm,
        caplog.at_level(logging.INFO),
        open_memory(store_location, llm) as memory,
    ):
        memory.add(TURNS, user_id="u")
        wait_for(lambda: llm.requests)  # the model is extracting them
        yield llm, memory


def test_delete_all_during_an_extraction_leaves_no_memory_of_the_deleted_messages(
    store_location: str, caplog: pytest.LogCaptureFixture
) -> None:
    with extracting(store_location, caplog) as (llm, memory):
        start = time.monotonic()
        assert memory.delete_all(user_id="u") == 0
        assert time.monotonic() - start < 0.5  # no wait for the extraction
        wait_for(lambda: "left the buffer meanwhile" in caplog.text)  # its answer came, and was dropped
        assert memory.get_all(user_id="u") == [] and memory.search("Lyon", user_id="u") == []
        assert memory.stats(user_id="u").pending_messages == 0
        llm.delay_s = 0.0
        memory.add(TURNS, user_id="u")  # the scope forgot the ids: the same messages are new again
        wait_for(lambda: memory.get_all(user_id="u"))
        each_once(store_location)


def test_reset_during_an_extraction_does_not_wait_for_it_and_leaves_an_empty_memory(
    store_location: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`reset` waited for the extraction in progress (it took the flush lock), as long as the model took
    to answer: minutes with a CPU-served one (up to `llm_timeout_s`)."""
    with extracting(store_location, caplog) as (_, memory):
        start = time.monotonic()
        memory.reset()
        assert time.monotonic() - start < 0.5
        wait_for(lambda: "left the buffer meanwhile" in caplog.text)  # its answer came, and was dropped
        assert memory.get_all(user_id="u") == [] and memory.search("Lyon", user_id="u") == []
        counts = {name: n for name, n in memory.stats().as_dict().items() if n}
        assert counts == {"llm_calls": 1, "prompt_tokens": 100, "completion_tokens": 10}  # spent after it


def test_the_extraction_setting_is_checked_and_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"extraction .*LIGHTMEM_EXTRACTION.*'background'.*'bg'"):
        Memory(tmp_path / "mem", embedder=HashEmbedder(), extraction="bg")
    monkeypatch.setenv("LIGHTMEM_EXTRACTION", "background")
    with LLMServer(delay_s=DELAY_S) as llm:
        with Memory(tmp_path / "mem", embedder=HashEmbedder(), buffer_token_threshold=10) as memory:
            assert memory.config.extraction == "background"
            assert memory.add(TURNS, user_id="u") == []  # offline backend, background all the same
            wait_for(lambda: memory.get_all(user_id="u"))
        monkeypatch.setenv("LIGHTMEM_EXTRACTION", "inline")
        with open_memory(tmp_path / "other", llm) as memory:
            start = time.monotonic()
            assert memory.add(TURNS, user_id="u")  # inline with an LLM: the add waits for it
            assert time.monotonic() - start >= DELAY_S


def _in_a_forked_child(memory: Memory, results: Any, done: Any) -> None:
    """Fill a scope's buffer (the child's own thread extracts it), then flush another (not waiting on the
    flush lock the parent's thread held at the fork); report, then live until the parent is done."""
    memory.add([{**m, "id": f"c-{m['id']}"} for m in TURNS], user_id="c")
    end = time.monotonic() + 3.0
    while not memory.get_all(user_id="c") and time.monotonic() < end:
        time.sleep(0.02)
    memory.add([{**m, "id": f"d-{m['id']}"} for m in TURNS[:1]], user_id="d")
    flushed: list[int] = []
    flush = threading.Thread(target=lambda: flushed.append(len(memory.flush(user_id="d"))), daemon=True)
    flush.start()
    flush.join(3.0)
    results.put((len(memory.get_all(user_id="c")), flushed))
    done.wait(10.0)


@pytest.mark.skipif(sys.platform != "linux", reason="fork with threads: Linux's default start method")
def test_a_process_forked_during_an_extraction_neither_hangs_nor_blocks_its_parent(
    store_location: str,
) -> None:
    """A child forked (multiprocessing's default on Linux) while the memory's thread waited for the model
    inherited that moment's state for ever: its `flush` hung on the flush lock the thread held, its full
    buffers were never extracted (the parent's thread object said one was running), and its copy of
    the claim's file kept the parent from flushing the scope until the child exited. On PostgreSQL the
    child used the parent's connections, their queries mixed (errors in both), and it shared the parent's
    claims session."""
    with LLMServer(delay_s=0.5) as llm, open_memory(store_location, llm) as memory:
        memory.add(TURNS, user_id="u")
        wait_for(lambda: llm.requests)  # the thread holds the flush lock and the claim of u
        context = multiprocessing.get_context("fork")
        results, done = context.Queue(), context.Event()
        child = context.Process(target=_in_a_forked_child, args=(memory, results, done))
        child.start()
        try:
            wait_for(lambda: memory.get_all(user_id="u"))
            memory.add([{**m, "id": f"p-{m['id']}"} for m in TURNS], user_id="u", infer=False)
            memory.add({"id": "p-5", "role": "user", "content": "Lena is a nurse in Grenoble."}, user_id="u")
            start = time.monotonic()
            memory.flush(user_id="u")  # waits for the claim of u, which the child must not hold
            assert time.monotonic() - start < 2.0
            units, flushed = results.get(timeout=10.0)
            assert units > 0 and len(flushed) == 1  # the child's flush of d ended
        finally:
            done.set()
            child.join(10.0)
        assert child.exitcode == 0
        pending, cited = message_id_counts(store_location, HashEmbedder().dim, users=("u", "c", "d"))
        assert not pending and "d-m1" in cited and max(cited.values()) == 1
