"""The `Memory` facade end to end: every public verb on a real store, the real ONNX embedder, the offline
LLM and an OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fakes import FAKE_KEY, HashEmbedder, LLMServer, Reply
from lightmem.embedding import OnnxEmbedder
from lightmem.limits import ECHO_CHARS
from lightmem.llm import LLMError, OpenAIClient
from lightmem.mem0 import Memory as Mem0Memory
from lightmem.memory import AsyncMemory, Memory
from lightmem.prompts import RETRY_CUT_OFF, RETRY_NOT_JSON
from lightmem.sensory import has_content
from lightmem.store import StoreError
from lightmem.types import MemoryItem, MemoryNotFoundError

CONVERSATION = [
    {
        "id": "t1",
        "role": "user",
        "name": "Maya",
        "content": "I adopted a grey cat called Miso from the shelter last week.",
        "timestamp": "2024-03-03T09:00:00Z",
    },
    {
        "id": "t2",
        "role": "assistant",
        "name": "Tom",
        "content": "Lovely! I am training for the Berlin marathon in September.",
        "timestamp": "2024-03-03T09:01:00Z",
    },
    {
        "id": "t3",
        "role": "user",
        "name": "Maya",
        "content": "I work as a pharmacist in Lyon, mostly night shifts at the hospital.",
        "timestamp": "2024-03-03T09:02:00Z",
    },
    {
        "id": "t4",
        "role": "user",
        "name": "Maya",
        "content": "Big news: I moved to Grenoble and Miso now sleeps on my keyboard.",
        "timestamp": "2024-05-20T18:00:00Z",
    },
]
IDS = [m["id"] for m in CONVERSATION]


@pytest.fixture
def memory(tmp_path: Path, embedder: OnnxEmbedder) -> Iterator[Memory]:
    """A memory whose buffer is only emptied by `flush` (the threshold is out of reach)."""
    with Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000) as opened:
        yield opened


def sources(items: Sequence[MemoryItem]) -> list[str]:
    return sorted(s for item in items for s in item.source)


def by_source(items: Sequence[MemoryItem], message_id: str) -> MemoryItem:
    (item,) = [item for item in items if message_id in item.source]
    return item


# --- add / flush ------------------------------------------------------------------------------------


def test_add_accepts_a_string_a_dict_and_a_list(memory: Memory) -> None:
    assert memory.add("I love ramen with extra garlic.", user_id="u") == []
    when = datetime(2024, 2, 1, 12, 30, tzinfo=timezone.utc)
    single = {"role": "user", "content": "My sister Lena lives in Paris.", "name": "Maya", "id": "d1"}
    assert memory.add({**single, "timestamp": when}, user_id="u", metadata={"channel": "chat"}) == []
    assert memory.add(CONVERSATION, user_id="u") == []
    assert memory.stats().pending_messages == 2 + len(CONVERSATION)
    assert memory.get_all(user_id="u") == []

    items = memory.flush(user_id="u")
    assert len(items) == 2 + len(CONVERSATION)  # the offline backend makes one unit per turn
    assert {*IDS, "d1"} <= set(sources(items))
    lena = by_source(items, "d1")
    assert lena.text.startswith("Maya: ") and "Lena" in lena.text and "Paris" in lena.text
    assert lena.event_time == when and lena.metadata == {"channel": "chat"}
    assert (lena.user_id, lena.agent_id, lena.run_id) == ("u", None, None)
    assert by_source(items, "t4").event_time == datetime(2024, 5, 20, 18, tzinfo=timezone.utc)
    assert by_source(items, "t1").metadata == {}
    assert sum(1 for item in items if item.text.startswith("user: ")) == 1  # the string: role as speaker
    assert memory.stats().pending_messages == 0
    assert sources(memory.get_all(user_id="u")) == sources(items)


def test_add_returns_nothing_until_the_threshold_then_units(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    with Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=30) as memory:
        assert memory.add(CONVERSATION[0], user_id="u") == []  # 12 words
        assert memory.add(CONVERSATION[1], user_id="u") == []  # 22 words
        assert memory.stats().pending_messages == 2
        units = memory.add(CONVERSATION[2:], user_id="u")  # 46 words: the finished topics are extracted
        assert units
        assert len(sources(units)) + memory.stats().pending_messages == len(IDS)
        assert sources(memory.flush(user_id="u")) == sorted(set(IDS) - set(sources(units)))
        assert sources(memory.get_all(user_id="u")) == sorted(IDS)


def test_flush_one_scope_or_all(memory: Memory) -> None:
    memory.add(CONVERSATION[:2], user_id="a")
    memory.add(CONVERSATION[2:3], user_id="a", agent_id="helper")
    memory.add(CONVERSATION[3:], user_id="b", run_id="r1")
    assert sources(memory.flush(user_id="a")) == ["t1", "t2", "t3"]  # a's agents too
    assert memory.stats().pending_messages == 1
    assert memory.flush(user_id="nobody") == []
    assert sources(memory.flush()) == ["t4"]
    assert memory.stats().pending_messages == 0
    assert memory.flush() == []


def test_a_retried_add_is_a_no_op(memory: Memory) -> None:
    """A client that timed out sends the same messages again: each id is kept once per scope, buffered
    or already extracted, and the scope's extraction goes on (a repeated id used to make every later
    flush of the scope fail)."""
    memory.add(CONVERSATION[:2], user_id="u")
    memory.add(CONVERSATION[:2], user_id="u")
    memory.add([*CONVERSATION[1:3], CONVERSATION[2]], user_id="u")  # an overlap, and one id twice in a call
    memory.add(CONVERSATION[:1], user_id="v")  # ids are per scope
    assert memory.stats().pending_messages == 4
    assert sources(memory.flush(user_id="u")) == ["t1", "t2", "t3"]
    assert memory.add(CONVERSATION, user_id="u") == []  # t1-t3 are extracted: only t4 is new
    assert sources(memory.flush()) == ["t1", "t4"]
    with pytest.raises(ValueError, match="'t1'"):  # an id reused for another message is a client bug
        memory.add([CONVERSATION[3], {**CONVERSATION[0], "content": "Something else."}], user_id="v")
    memory.add("No id: never taken for a retry.", user_id="v")
    memory.add("No id: never taken for a retry.", user_id="v")
    assert memory.stats().pending_messages == 2
    assert sources(memory.get_all(user_id="u")) == sorted(IDS)


def test_a_retried_add_without_inference_is_a_no_op_too(memory: Memory) -> None:
    """`infer=False` stored a second copy of every retried message."""
    assert sources(memory.add(CONVERSATION[:2], user_id="u", infer=False)) == ["t1", "t2"]
    assert memory.add(CONVERSATION[:2], user_id="u", infer=False) == []
    assert sources(memory.add(CONVERSATION[:3], user_id="u", infer=False)) == ["t3"]
    memory.add(CONVERSATION[3], user_id="u")  # buffered ...
    assert memory.add(CONVERSATION[3], user_id="u", infer=False) == []  # ... so already given
    with pytest.raises(ValueError, match="'t1'"):
        memory.add({**CONVERSATION[0], "content": "Something else."}, user_id="u", infer=False)
    assert sorted(sources(memory.get_all(user_id="u"))) == ["t1", "t2", "t3"]


def test_a_lone_surrogate_in_metadata_is_a_value_error_naming_it(memory: Memory) -> None:
    with pytest.raises(ValueError, match=r"^metadata \(as JSON\) is not valid Unicode"):
        memory.add("ok text", user_id="u", metadata={"k": "\udfff"})
    assert memory.stats().pending_messages == 0


def test_flush_of_every_scope_goes_on_past_a_scope_that_fails(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = llm_server.client(max_retries=0)
    with Memory(tmp_path / "mem", embedder=embedder, llm=client, buffer_token_threshold=100_000) as memory:
        memory.add(CONVERSATION[:2], user_id="a")
        memory.add(CONVERSATION[2:], user_id="b")
        llm_server.script(Reply(status=400, body=b"this request is refused"))  # a's, the first scope
        with caplog.at_level(logging.ERROR, logger="lightmem"), pytest.raises(LLMError, match="refused"):
            memory.flush()
        assert "user_id='a'" in caplog.text and "refused" in caplog.text
        assert sources(memory.get_all(user_id="b")) == ["t3", "t4"]
        assert memory.stats().pending_messages == 2  # a's messages wait in the buffer
        assert sources(memory.flush()) == ["t1", "t2"]


# --- search ----------------------------------------------------------------------------------------


def test_search_ranks_by_meaning_and_honours_limit(memory: Memory) -> None:
    memory.add(CONVERSATION, user_id="u")
    memory.flush()
    hits = memory.search("What is the name of Maya's cat?", user_id="u", limit=2)
    assert len(hits) == 2
    assert "t1" in sources(hits)
    assert hits[0].score is not None and hits[1].score is not None and hits[0].score >= hits[1].score
    assert len(memory.search("cat", user_id="u", limit=10)) == len(IDS)
    assert memory.search("cat", user_id="someone else") == []


def test_search_filters_event_time_and_metadata(memory: Memory) -> None:
    memory.add(CONVERSATION[:2], user_id="u", metadata={"topic": "pets"})
    memory.add(CONVERSATION[2:], user_id="u", metadata={"topic": "work", "session": 2})
    memory.flush()
    after_april = memory.search("Maya", user_id="u", filters={"event_after": "2024-04-01T00:00:00Z"})
    assert sources(after_april) == ["t4"]
    march = {"event_after": datetime(2024, 3, 1), "event_before": "2024-03-03T09:01:30+00:00"}
    assert sources(memory.search("Maya", user_id="u", filters=march)) == ["t1", "t2"]
    assert sources(memory.search("Maya", user_id="u", filters={"metadata": {"topic": "pets"}})) == [
        "t1",
        "t2",
    ]
    work = memory.search("Maya", user_id="u", filters={"metadata": {"topic": "work", "session": 2}})
    assert sources(work) == ["t3", "t4"]
    assert memory.search("Maya", user_id="u", filters={"metadata": {"topic": "none"}}) == []
    with pytest.raises(ValueError, match="user_id"):
        memory.search("Maya", user_id="u", filters={"user_id": "v"})


def test_a_buffered_message_s_id_says_nothing_of_other_scopes(
    tmp_path: Path, hash_embedder: HashEmbedder
) -> None:
    """Buffered hits were `pending:<row>`, rows counted over every scope: a caller confined to its own
    scope (an API key) could read how many messages others added between two of its own."""
    ids = []
    for others in (0, 5):
        with Memory(
            tmp_path / f"mem{others}", embedder=hash_embedder, buffer_token_threshold=100_000
        ) as memory:
            memory.add({"id": "m1", "content": "I keep bees on the roof."}, user_id="b")
            for n in range(others):
                memory.add({"id": f"a{n}", "content": f"note number {n}"}, user_id="a")
            memory.add({"id": "m2", "content": "The bees made honey."}, user_id="b")
            hits = memory.search("bees honey roof", user_id="b", limit=5)
            ids.append(sorted((hit.source, hit.id) for hit in hits))
    assert ids[0] == ids[1] and len(ids[0]) == 2
    assert all(hit_id.startswith("pending:") for _, hit_id in ids[0])


def test_what_was_just_added_is_found_at_once_then_as_units_never_twice(memory: Memory) -> None:
    """Search saw nothing until a flush: an agent asking two turns later about what it was told got []."""
    memory.add(CONVERSATION[:2], user_id="u", metadata={"topic": "pets"})
    memory.add(CONVERSATION[2:], user_id="u", metadata={"topic": "work"})
    (best,) = memory.search("What is the name of Maya's cat?", user_id="u", limit=1)
    assert best.pending and best.id.startswith("pending:") and best.source == ("t1",)
    assert best.text == "Maya: " + CONVERSATION[0]["content"]
    assert best.event_time == datetime(2024, 3, 3, 9, tzinfo=timezone.utc) and best.metadata == {
        "topic": "pets"
    }
    assert best.score is not None and 0.0 < best.score <= 1.0
    by_keyword = memory.search("Grenoble", user_id="u", limit=1)
    assert sources(by_keyword) == ["t4"] and by_keyword[0].pending
    assert sources(memory.search("Maya", user_id="u", filters={"metadata": {"topic": "work"}})) == [
        "t3",
        "t4",
    ]
    after_april = memory.search("Maya", user_id="u", filters={"event_after": "2024-04-01T00:00:00Z"})
    assert sources(after_april) == ["t4"]
    assert memory.search("cat", user_id="someone else") == []
    assert memory.search("cat", agent_id="u") == []

    memory.flush()
    hits = memory.search("cat", user_id="u", limit=10)
    assert not any(hit.pending for hit in hits) and sorted(sources(hits)) == sorted(IDS)


def test_a_flush_reuses_the_turn_vectors_add_stored(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    with Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000) as memory:
        memory.add(CONVERSATION, user_id="u")
        assert memory.stats().texts_embedded == len(CONVERSATION)
        memory.flush()
        assert memory.stats().texts_embedded == len(CONVERSATION)  # offline units are keyed by their turns
    with Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000) as reopened:
        reopened.add(CONVERSATION[:1], user_id="v")
        reopened.flush()  # another process's (or a restarted one's) buffer holds the vectors too
        assert reopened.stats(user_id="v").texts_embedded == 1


def test_search_and_get_all_take_metadata_operators(memory: Memory) -> None:
    memory.add(CONVERSATION[0], user_id="u", metadata={"priority": 2, "tags": ["pets", "home"]})
    memory.add(CONVERSATION[1], user_id="u", metadata={"priority": 7, "status": "done"})
    memory.add(
        CONVERSATION[2], user_id="u", metadata={"priority": 9, "status": "open", "title": "Night shift"}
    )
    memory.flush()
    for conditions, expected in (
        ({"priority": {"gte": 7}}, ["t2", "t3"]),
        ({"priority": {"gt": 2, "lt": 9}}, ["t2"]),
        ({"status": {"ne": "done"}}, ["t1", "t3"]),  # ne holds where the key is absent
        ({"status": {"in": ["done", "open"]}}, ["t2", "t3"]),
        ({"status": {"nin": ["done"]}, "priority": {"lte": 8}}, ["t1"]),
        ({"title": {"contains": "shift"}}, ["t3"]),
        ({"title": {"icontains": "NIGHT"}}, ["t3"]),
        ({"tags": {"contains": "home"}}, ["t1"]),
        ({"status": "*"}, ["t2", "t3"]),
        ({"OR": [{"priority": 2}, {"status": "open"}]}, ["t1", "t3"]),
        ({"NOT": [{"priority": {"gte": 7}}]}, ["t1"]),
        ({"AND": [{"priority": {"gte": 2}}, {"OR": [{"status": "done"}, {"tags": "*"}]}]}, ["t1", "t2"]),
        ({"priority": True}, []),  # a boolean never equals a number
    ):
        filters = {"metadata": conditions}
        assert sources(memory.search("Maya", user_id="u", filters=filters)) == expected, conditions
        assert sources(memory.get_all(user_id="u", filters=filters)) == expected, conditions
    assert sources(memory.get_all(user_id="u", filters={"metadata": {"priority": {"gte": 2}}}, limit=2)) == [
        "t1",
        "t2",
    ]


def test_a_mistyped_filter_key_raises_instead_of_matching_nothing(memory: Memory) -> None:
    """Regression: `{"evnt_after": ...}` used to become a metadata equality and return nothing."""
    memory.add(CONVERSATION[0], user_id="u")
    memory.flush()
    for bad, fragment in (
        ({"evnt_after": "2024-01-01"}, "unknown filter key 'evnt_after': the keys are created_after, "),
        ({"topic": "pets"}, r"conditions on metadata go under 'metadata'"),
        ({"OR": [{"a": 1}]}, "'OR'"),
        ({"metadata": {"priority": {"gtee": 3}}}, "unknown operator 'gtee'; the operators are eq, ne"),
        ({"metadata": {"priority": {"gte": [3]}}}, "must be a number or a string"),
        ({"metadata": {"status": {"in": "done"}}}, "must be a list"),
        ({"metadata": {"OR": []}}, "non-empty list"),
        ({"metadata": {"AND": [{"a": {}}]}}, "empty operator dict"),
        ({"metadata": {"$or": [{"priority": 1}]}}, r"\['\$or'\]: the logical operators are written AND"),
        ({"metadata": {"and": [{"priority": 1}]}}, r"\['and'\]: the logical operators are written AND"),
        ({"metadata": {"OR": [{"Not": [{"a": 1}]}]}}, r"\['Not'\]: the logical operators are written"),
        (  # swapped bounds (or equal ones: the window is half-open) matched nothing
            {"event_after": "2025-01-01", "event_before": "2024-01-01"},
            "event_after 2025-01-01T00:00:00[+]00:00 must be earlier than event_before 2024-01-01",
        ),
        ({"created_after": "2024-01-01", "created_before": "2024-01-01T00:00Z"}, "created_after .* earlier"),
    ):
        with pytest.raises(ValueError, match=fragment):
            memory.search("cat", user_id="u", filters=bad)
        with pytest.raises(ValueError, match=fragment):
            memory.get_all(user_id="u", filters=bad)


def test_bad_arguments_raise_value_errors(memory: Memory) -> None:
    memory.add(CONVERSATION[0], user_id="u")
    (item,) = memory.flush()
    for call, fragment in (
        (lambda: memory.search("", user_id="u"), "query"),
        (lambda: memory.search("cat", user_id="u", limit=0), "limit"),
        (lambda: memory.search("cat"), "user_id"),
        (lambda: memory.add("hello"), "user_id"),
        (lambda: memory.add("hello", user_id=""), "user_id"),
        (lambda: memory.add("hello", user_id="u", metadata=["x"]), "metadata"),  # type: ignore[arg-type]
        (lambda: memory.get_all(), "user_id"),
        (lambda: memory.update(item.id, "  ", user_id="u"), "text"),
        (lambda: memory.delete_all(), "user_id"),
    ):
        with pytest.raises(ValueError, match=fragment):
            call()
    with pytest.raises(KeyError, match="nope"):
        memory.update("nope", "new text", user_id="u")
    with pytest.raises(KeyError):
        memory.delete("nope", user_id="u")


# --- get / update / delete / history ------------------------------------------------------------------


def test_get_update_delete_and_history(memory: Memory) -> None:
    memory.add(CONVERSATION, user_id="u")
    items = memory.flush()
    cat = by_source(items, "t1")
    assert memory.get(cat.id) == cat
    assert memory.get(cat.id, user_id="u") == cat
    assert memory.get(cat.id, user_id="v") is None
    assert memory.get("no-such-id") is None
    assert [i.id for i in memory.get_all(user_id="u")] == [i.id for i in items]
    assert len(memory.get_all(user_id="u", limit=2)) == 2

    new_text = "Maya's grey cat Miso is ten years old and loves tuna."
    updated = memory.update(cat.id, new_text, user_id="u")
    assert (updated.text, updated.version, updated.source) == (new_text, 2, ("t1",))
    assert memory.get(cat.id) == updated
    assert memory.search("How old is the cat Miso?", user_id="u", limit=1)[0].id == cat.id
    with pytest.raises(KeyError):
        memory.update(cat.id, "hijacked", user_id="v")
    assert memory.get(cat.id).text == new_text  # type: ignore[union-attr]

    memory.delete(cat.id, user_id="u")
    assert memory.get(cat.id) is None
    assert cat.id not in [i.id for i in memory.get_all(user_id="u")]
    assert cat.id not in [i.id for i in memory.search("cat Miso", user_id="u")]
    with pytest.raises(KeyError):
        memory.delete(cat.id)
    history = memory.history(cat.id, user_id="u")
    assert [(h.event, h.old_text, h.new_text) for h in history] == [
        ("ADD", None, cat.text),
        ("UPDATE", cat.text, new_text),
        ("DELETE", new_text, None),
    ]
    with pytest.raises(KeyError):
        memory.history(cat.id, user_id="v")


def test_not_found_is_one_rule_that_never_reveals_another_scope(memory: Memory) -> None:
    """Regression: `history` answered [] where `update` and `delete` raised KeyError, and the messages
    differed; now get is None and update / delete / history raise one error with one message, whether
    the id is unknown or belongs to another scope."""
    memory.add(CONVERSATION[0], user_id="u")
    (item,) = memory.flush()
    for memory_id in (item.id, "no-such-id"):
        assert memory.get(memory_id, user_id="v") is None
        messages = set()
        for verb, extra in (
            (memory.update, {"text": "new text"}),
            (memory.update, {"metadata": {"a": 1}}),
            (memory.delete, {}),
            (memory.history, {}),
        ):
            with pytest.raises(MemoryNotFoundError) as caught:
                verb(memory_id, user_id="v", **extra)
            assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
            messages.add(str(caught.value).replace(memory_id, "ID"))
        assert messages == {"no memory with id 'ID' in scope Scope(user_id='v', agent_id=None, run_id=None)"}
    assert memory.get(item.id, user_id="u") == item  # untouched by all this
    assert [h.event for h in memory.history(item.id)] == ["ADD"]
    memory.delete(item.id)
    assert memory.get(item.id) is None
    assert [h.event for h in memory.history(item.id)] == ["ADD", "DELETE"]  # history outlives the memory
    for call in (lambda: memory.update(item.id, "again"), lambda: memory.delete(item.id)):
        with pytest.raises(MemoryNotFoundError, match=rf"no memory with id '{item.id}'$"):
            call()
    with pytest.raises(MemoryNotFoundError, match=r"no memory with id 'no-such-id'$"):
        memory.history("no-such-id")
    long_id = "q" * 60_000  # was repeated in full
    for verb, extra in ((memory.update, {"text": "x"}), (memory.delete, {}), (memory.history, {})):
        with pytest.raises(MemoryNotFoundError) as caught:
            verb(long_id, **extra)
        assert str(caught.value) == f"no memory with id {long_id[:ECHO_CHARS]!r}… (60,000 characters)"


def test_update_merges_metadata_with_or_without_a_new_text(memory: Memory) -> None:
    memory.add(CONVERSATION[0], user_id="u", metadata={"topic": "pets", "mood": "happy"})
    (item,) = memory.flush()
    score_before = memory.search("grey cat Miso", user_id="u", limit=1)[0].score
    updated = memory.update(item.id, user_id="u", metadata={"mood": "proud", "year": 2024})
    assert (updated.text, updated.version) == (item.text, 2)
    assert updated.metadata == {"topic": "pets", "mood": "proud", "year": 2024}
    assert memory.search("grey cat Miso", user_id="u", limit=1)[0].score == score_before  # same key
    both = memory.update(item.id, "Miso the cat is grey.", metadata={"topic": "cats"})
    assert (both.text, both.version, both.metadata["topic"], both.metadata["mood"]) == (
        "Miso the cat is grey.",
        3,
        "cats",
        "proud",
    )
    history = memory.history(item.id)
    assert [(h.event, h.old_text == h.new_text) for h in history] == [
        ("ADD", False),
        ("UPDATE", True),
        ("UPDATE", False),
    ]
    for bad, fragment in (({}, "new text or metadata"), ({"metadata": ["x"]}, "metadata")):
        with pytest.raises(ValueError, match=fragment):
            memory.update(item.id, **bad)


def test_add_without_inference_stores_each_message_verbatim_at_once(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    with Memory(tmp_path / "mem", embedder=embedder, llm="openai", llm_base_url=llm_server.base_url,
                llm_model="m") as memory:  # fmt: skip
        items = memory.add(CONVERSATION[:3], user_id="u", metadata={"session": 1}, infer=False)
        assert [(i.text, i.source, i.metadata) for i in items] == [
            (m["content"], (m["id"],), {"session": 1}) for m in CONVERSATION[:3]
        ]
        assert items[0].event_time == datetime(2024, 3, 3, 9, 0, tzinfo=timezone.utc)
        assert llm_server.requests == [] and memory.stats().pending_messages == 0
        assert memory.get_all(user_id="u") == items
        hit = memory.search("Where does Maya work?", user_id="u", limit=1)[0]
        assert hit.source == ("t3",)
        assert memory.add("   ", user_id="u", infer=False) == []
        with pytest.raises(ValueError, match="infer"):
            memory.add("hello", user_id="u", infer="no")  # type: ignore[arg-type]


def test_a_key_meant_for_one_lightmem_reads_is_told_once_not_dropped_in_silence(
    tmp_path: Path, hash_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """`"time"` for `"timestamp"` (or LoCoMo's `"speaker"` for `"name"`, a typo) lost the message's time
    without a word. Keys of other formats (OpenAI's `tool_calls`) and a near miss beside the key it
    resembles stay silent; each key name is told once, however many messages carry it."""
    monkeypatch.setattr("lightmem.messages._warned_keys", set())
    meant = [(0, "time", "timestamp"), (0, "speaker", "name"), (1, "timestmp", "timestamp")]
    said = [
        {"role": "user", "content": "I moved to Berlin", "time": "2023-05-08T10:00", "speaker": "Ann"},
        {"role": "user", "content": "I moved to Paris", "time": "2023-05-09T10:00", "timestmp": "x"},
        {"role": "assistant", "content": "Noted", "tool_calls": [], "date": "2023", "timestamp": None},
    ]
    with (
        Memory(tmp_path / "mem", embedder=hash_embedder) as memory,
        caplog.at_level("WARNING", logger="lightmem"),
    ):
        items = memory.add(said * 2, user_id="u", infer=False)
        assert [item.event_time for item in items] == [None] * 6  # read as before: told, not guessed
    assert [record.getMessage() for record in caplog.records] == [
        f"message {index} has the key {key!r}, which lightmem does not read: did you mean {name!r}? "
        "(its value is ignored; this is said once per key name)"
        for index, key, name in meant
    ]


def test_a_closed_memory_says_so_in_the_words_of_what_its_user_holds(
    store_location: str, hash_embedder: HashEmbedder
) -> None:
    """A closed `Memory` (an `AsyncMemory`, the mem0 drop-in) said "open a new SQLiteStore", a class its
    user never held, on both stores; it names the memory and what to do, before any other check."""
    closed = "the memory at .* is closed \\(close\\(\\) was called\\): open it again to go on$"
    memory = Memory(store_location, embedder=hash_embedder)
    (item,) = memory.add("Maya adopted a cat", user_id="u", infer=False)
    memory.close()
    memory.close()  # a second close is no error
    calls: list[Callable[[], object]] = [
        lambda: memory.add("hello", user_id="u"),
        lambda: memory.search("cat", user_id="u"),
        lambda: memory.update(item.id, "Maya adopted two cats"),
        lambda: memory.get("no-such-id"),
        lambda: memory.history(item.id),
        memory.stats,
        memory.reset,
    ]
    for call in calls:
        with pytest.raises(StoreError, match=closed):
            call()
    twin = AsyncMemory(store_location, embedder=hash_embedder)
    asyncio.run(twin.close())
    with pytest.raises(StoreError, match=closed):
        asyncio.run(twin.get_all(user_id="u"))
    drop_in = Mem0Memory(path=store_location, embedder=hash_embedder)
    drop_in.close()
    with pytest.raises(StoreError, match=closed):
        drop_in.get_all(user_id="u")


def test_reset_empties_every_scope_history_and_buffer(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    path = tmp_path / "mem"
    with (
        Memory(path, embedder=embedder, buffer_token_threshold=100_000) as memory,
        Memory(path, embedder=embedder) as other,
    ):  # another handle on the same directory, as another process would have
        kept = memory.add(CONVERSATION[:2], user_id="u", infer=False)
        memory.add(CONVERSATION[2:], agent_id="a", infer=False)
        memory.delete(kept[0].id)
        memory.add(CONVERSATION[3], user_id="w")  # waits in the buffer
        assert len(other.search("cat", user_id="u")) == 1
        memory.reset()
        assert memory.stats().memories == 0 and memory.stats().pending_messages == 0
        for handle in (memory, other):
            assert handle.search("cat", user_id="u") == [] and handle.get_all(agent_id="a") == []
            assert handle.get(kept[1].id) is None
            with pytest.raises(MemoryNotFoundError):
                handle.history(kept[0].id)
        assert memory.flush() == []
        again = memory.add(CONVERSATION[0], user_id="u", infer=False)
        assert [h.id for h in other.search("cat", user_id="u")] == [again[0].id]
    with Memory(path, embedder=embedder) as reopened:
        assert reopened._store.check_index()
        assert [i.id for i in reopened.get_all(user_id="u")] == [again[0].id]


def test_delete_all_clears_units_and_the_buffer_of_the_scope_only(memory: Memory) -> None:
    memory.add(CONVERSATION[:3], user_id="u")
    memory.flush()
    memory.add(CONVERSATION[3:], user_id="u")
    memory.add(CONVERSATION[3:], user_id="v")
    assert memory.delete_all(user_id="u") == 3
    assert memory.get_all(user_id="u") == []
    assert memory.flush(user_id="u") == []  # its buffer is gone too
    assert sources(memory.flush()) == ["t4"]  # v's is not
    assert memory.delete_all(user_id="u") == 0


# --- stats -------------------------------------------------------------------------------------------


def test_stats_count_memories_buffer_llm_calls_and_pruning(memory: Memory) -> None:
    start = memory.stats()
    assert start.as_dict() == dict.fromkeys(start.as_dict(), 0)
    memory.add(CONVERSATION, user_id="u")
    assert memory.stats().pending_messages == len(IDS)
    items = memory.flush()
    stats = memory.stats()
    assert stats.memories == len(items) == stats.units_extracted
    assert stats.pending_messages == 0
    assert stats.offline_extractions == 1  # one extraction pass for the whole buffer
    assert (stats.llm_calls, stats.prompt_tokens, stats.completion_tokens) == (0, 0, 0)  # no model ran
    assert stats.words_in == sum(len(m["content"].split()) for m in CONVERSATION)
    assert 0 < stats.words_kept < stats.words_in
    assert stats.words_pruned == stats.words_in - stats.words_kept > 0
    assert stats.segments >= 1 and stats.texts_embedded >= len(IDS)
    assert stats.as_dict()["words_pruned"] == stats.words_pruned
    memory.delete(items[0].id)
    assert memory.stats().memories == len(items) - 1


def test_counters_are_kept_in_the_store_per_scope(tmp_path: Path, hash_embedder: HashEmbedder) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=hash_embedder, buffer_token_threshold=100_000) as memory:
        memory.add(CONVERSATION, user_id="u")
        memory.add(CONVERSATION[:1], user_id="u", agent_id="helper")
        memory.flush()
        before = memory.stats()
    with Memory(path, embedder=hash_embedder, buffer_token_threshold=100_000) as reopened:
        assert reopened.stats() == before  # a restart keeps the counters
        assert before.offline_extractions == 2 and before.words_in > 0 and before.units_extracted == 5
        helper = reopened.stats(agent_id="helper")
        assert (helper.memories, helper.units_extracted, helper.offline_extractions) == (1, 1, 1)
        assert reopened.stats(user_id="u") == before  # covers the scope with the agent too
        assert reopened.stats(user_id="u", run_id="r").as_dict() == dict.fromkeys(before.as_dict(), 0)
        nobody = reopened.stats(user_id="nobody")
        assert nobody.memories == 0 and nobody.words_in == 0
        reopened.add("one more message", user_id="w")
        assert reopened.stats(user_id="w").pending_messages == 1
        assert reopened.stats(user_id="u").pending_messages == 0
        reopened.delete_all(user_id="u")
        assert reopened.stats(user_id="u").units_extracted == 5  # lifetime, unlike the memories
        reopened.reset()
        assert reopened.stats().as_dict() == dict.fromkeys(before.as_dict(), 0)


_WORKER = """
import sys
sys.path.insert(0, sys.argv[2])
from fakes import HashEmbedder
from lightmem.memory import Memory
with Memory(sys.argv[1], embedder=HashEmbedder(), buffer_token_threshold=100_000) as memory:
    memory.add([{"id": f"{sys.argv[3]}{i}", "role": "user", "content": f"my pet number {i} is a cat"}
                for i in range(3)], user_id="u")
    memory.flush()
"""


def test_the_counters_of_two_processes_add_up(tmp_path: Path, hash_embedder: HashEmbedder) -> None:
    path, tests = str(tmp_path / "mem"), str(Path(__file__).parent)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, path, tests, prefix], stderr=subprocess.PIPE, text=True
        )
        for prefix in ("a", "b")
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read() if worker.stderr else ""
    with Memory(path, embedder=hash_embedder) as memory:
        stats = memory.stats(user_id="u")
    assert stats.memories == stats.units_extracted == 6 and stats.texts_embedded == 6
    assert stats.offline_extractions == 2 and stats.words_in == 2 * 3 * 7
    assert stats.llm_calls == 0


# --- persistence, context manager, asyncio -------------------------------------------------------------


_LEFT_OPEN = """
import sys
sys.path.insert(0, sys.argv[2])
from fakes import HashEmbedder
from lightmem.memory import Memory
memory = Memory(sys.argv[1], embedder=HashEmbedder())  # never closed, as mem0 code has no close
memory.add("I adopted a cat named Miso.", user_id="u", infer=False)
"""


def test_a_memory_left_open_saves_its_index_at_exit_and_when_collected(
    tmp_path: Path, hash_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    """The index was saved only by close(): every later open rebuilt it (14 s for 20k units)."""
    path, tests = str(tmp_path / "mem"), str(Path(__file__).parent)
    subprocess.run([sys.executable, "-c", _LEFT_OPEN, path, tests], check=True, timeout=120)
    memory = Memory(path, embedder=hash_embedder)
    memory.add("I sold my bike.", user_id="u", infer=False)
    del memory  # collected at once (CPython), never closed
    with caplog.at_level(logging.WARNING, logger="lightmem"), Memory(path, embedder=hash_embedder) as memory:
        assert len(memory.get_all(user_id="u")) == 2
    assert "rebuilding" not in caplog.text


def test_units_and_the_pending_buffer_survive_close_and_reopen(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=embedder, buffer_token_threshold=100_000) as memory:
        memory.add(CONVERSATION[:2], user_id="u")
        stored = memory.flush()
        memory.add(CONVERSATION[2:], user_id="u", metadata={"late": True})
    with Memory(path, embedder=embedder, buffer_token_threshold=100_000) as memory:
        assert memory.get_all(user_id="u") == stored
        assert memory.stats().pending_messages == 2
        assert memory._store.check_index()
        later = memory.flush()
        assert sources(later) == ["t3", "t4"]
        assert all(item.metadata == {"late": True} for item in later)
        assert memory.search("Grenoble keyboard", user_id="u", limit=1)[0].source == ("t4",)


def test_context_manager_closes(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    with Memory(tmp_path / "mem", embedder=embedder) as memory:
        memory.add("hello there", user_id="u")
    with pytest.raises(StoreError, match="closed"):
        memory.get_all(user_id="u")
    memory.close()  # idempotent


def test_async_memory_has_every_verb(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    async def scenario() -> None:
        async with AsyncMemory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000) as memory:
            assert await memory.add(CONVERSATION, user_id="u") == []
            added = await asyncio.gather(*(memory.add(f"note number {i}", user_id="w") for i in range(4)))
            assert added == [[]] * 4
            items = await memory.flush(user_id="u")
            assert sources(items) == sorted(IDS)
            hits = await memory.search("pharmacist on night shifts", user_id="u", limit=1)
            assert hits[0].source == ("t3",)
            assert await memory.get(hits[0].id, user_id="u") == replace(hits[0], score=None)
            assert len(await memory.get_all(user_id="u")) == len(IDS)
            updated = await memory.update(hits[0].id, "Maya works as a pharmacist in Lyon.", user_id="u")
            assert updated.version == 2
            assert [h.event for h in await memory.history(hits[0].id)] == ["ADD", "UPDATE"]
            await memory.delete(hits[0].id, user_id="u")
            assert (await memory.stats()).pending_messages == 4
            assert await memory.delete_all(user_id="u") == len(IDS) - 1
            assert (await memory.stats()).memories == 0

    asyncio.run(scenario())


def test_async_memory_verbs_take_the_arguments_of_memory() -> None:
    """They took `**kwargs` and passed them on by method name: unchecked by mypy, and positional scope ids
    were refused."""
    verbs = [name for name in vars(Memory) if not name.startswith("_")]
    assert all(inspect.iscoroutinefunction(getattr(AsyncMemory, verb)) for verb in verbs)
    for verb in [*verbs, "__init__"]:  # AsyncMemory(path, config) was a TypeError (it took path only)
        assert inspect.signature(getattr(AsyncMemory, verb)) == inspect.signature(getattr(Memory, verb)), verb


# --- the OpenAI backend through Memory -------------------------------------------------------------------


def openai_memory(path: Path, embedder: OnnxEmbedder, server: LLMServer, **overrides: Any) -> Memory:
    client = OpenAIClient(server.base_url, "test-model", api_key=FAKE_KEY, timeout_s=2.0, backoff_s=0.01)
    return Memory(path, embedder=embedder, llm=client, buffer_token_threshold=100_000, **overrides)


def test_openai_backend_through_memory(tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer) -> None:
    config: dict[str, Any] = {
        "llm": "openai",
        "llm_base_url": llm_server.base_url,
        "llm_model": "m",
        "llm_api_key": FAKE_KEY,
    }
    with Memory(tmp_path / "mem", embedder=embedder, buffer_token_threshold=100_000, **config) as memory:
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
        assert sources(items) == sorted(IDS)
        stats = memory.stats()
        assert (stats.llm_calls, stats.prompt_tokens, stats.completion_tokens) == (1, 100, 10)
        assert stats.offline_extractions == 0
    (request,) = llm_server.requests
    assert request["json"]["model"] == "m"
    assert request["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"


def test_invalid_llm_output_is_retried_once_then_stored_extractively(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.script(
        Reply(content="Sure! Here are the memories: Maya has a cat."), Reply(content='{"memories": 3}')
    )
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory, caplog.at_level(logging.WARNING):
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
        assert sources(items) == sorted(IDS)  # nothing dropped
        assert all(item.text.split(":")[0] in ("Maya", "Tom") for item in items)
        stats = memory.stats(user_id="u")
        assert (stats.llm_calls, stats.offline_extractions) == (2, 1) and stats.prompt_tokens > 0
        assert (stats.llm_retries, stats.fallback_units) == (1, len(items))
    assert len(llm_server.requests) == 2
    assert "after two unusable answers" in caplog.text


def test_invalid_then_valid_answer_uses_the_valid_one(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    llm_server.script(Reply(content='{"wrong": []}'))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        assert sources(memory.flush()) == sorted(IDS)
    assert len(llm_server.requests) == 2


def test_an_empty_answer_never_discards_messages_with_content(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.script(Reply(content='{"memories": []}'))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory, caplog.at_level(logging.WARNING):
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
        assert sources(items) == sorted(IDS)  # stored extractively: one unit per turn
        pharmacist = by_source(items, "t3").text
        assert pharmacist.startswith("Maya: ") and "pharmacist" in pharmacist
        assert memory.stats().pending_messages == 0
    assert len(llm_server.requests) == 1
    assert "cites no memory for 4 turn(s) with content" in caplog.text


def test_extractive_fallback_units_are_embedded_once(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    """Fallback units are their turns' text: keyed by the turns' embeddings from `add`, never embedded a
    second time (50 units cost 100 embeddings before)."""
    llm_server.script(Reply(content="no JSON here"), Reply(content="still none"))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        assert memory.stats().texts_embedded == len(IDS)
        items = memory.flush()
        stats = memory.stats()
    assert len(items) == stats.fallback_units == len(IDS)
    assert stats.texts_embedded == len(IDS)


def test_the_retry_tells_the_model_what_was_wrong(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    fact = {"text": "Maya adopted a grey cat called Miso.", "turns": [1]}
    rest = {"text": "Tom trains for the Berlin marathon; Maya is a pharmacist in Lyon.", "turns": [2, 3]}
    later = {"text": "Maya moved to Grenoble.", "turns": [4]}
    llm_server.script(
        Reply(content="Maya has a cat."), Reply(content=json.dumps({"memories": [fact, rest, later]}))
    )
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
        stats = memory.stats()
    first, second = (request["json"]["messages"] for request in llm_server.requests)
    assert second[: len(first)] == first and RETRY_NOT_JSON in second[-1]["content"]
    assert [(item.text, item.source) for item in items] == [
        (fact["text"], ("t1",)),
        (rest["text"], ("t2", "t3")),
        (later["text"], ("t4",)),
    ]
    assert (stats.llm_calls, stats.llm_retries, stats.fallback_units, stats.offline_extractions) == (
        2,
        1,
        0,
        0,
    )


@pytest.mark.parametrize(
    "memories",
    [
        [{"text": "ok", "turns": [1, 2, 3, 4]}],  # one word citing every turn
        [{"text": "Bob's password is hunter2; he lives in Oslo.", "turns": [1, 2, 3, 4]}],  # other words
    ],
    ids=["one-word", "unrelated"],
)
def test_a_unit_sharing_no_word_with_the_turns_it_cites_never_stands_for_them(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer, memories: list[dict[str, Any]]
) -> None:
    """A turn counts as cited only by a unit sharing a word with it: else it is stored word for word
    (an answer "ok" citing every turn was the only memory of four turns with content)."""
    llm_server.script(Reply(content=json.dumps({"memories": memories})))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
    verbatim = [item for item in items if item.text != memories[0]["text"]]
    assert [item.source for item in verbatim] == [("t1",), ("t2",), ("t3",), ("t4",)]
    assert "Miso" in verbatim[0].text and "pharmacist" in verbatim[2].text


def test_a_unit_repeated_in_one_answer_is_stored_once(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    """Two items of one answer with the same text are one memory citing the turns of both (it was
    stored twice)."""
    cat = "Maya adopted a grey cat called Miso."
    answer = [{"text": cat, "turns": [1, 1]}, {"text": cat, "turns": [4]}]
    llm_server.script(Reply(content=json.dumps({"memories": answer})))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
    assert [(item.text, item.source) for item in items if item.text == cat] == [(cat, ("t1", "t4"))]


def test_one_bad_unit_never_throws_away_the_good_ones(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    answer = '{"memories": [{"text": "Maya works as a pharmacist in Lyon.", "turns": [3]}, {"turns": [4]},'
    llm_server.script(Reply(content=answer, finish_reason="length"))  # cut off, one item without text
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
        stats = memory.stats()
    assert [item.source for item in items] == [("t3",), ("t1",), ("t2",), ("t4",)]  # uncited: word for word
    assert items[0].text == "Maya works as a pharmacist in Lyon." and items[3].text.startswith("Maya: ")
    assert (stats.llm_calls, stats.llm_items_dropped, stats.llm_retries, stats.fallback_units) == (1, 1, 0, 3)


def test_an_answer_cut_off_before_any_unit_is_asked_again_for_less(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    whole = {"text": "Maya adopted a grey cat called Miso.", "turns": [1, 2, 3, 4]}
    cut = Reply(content='{"memories": [{"text": "Maya adopted', finish_reason="length")
    llm_server.script(cut, Reply(content=json.dumps({"memories": [whole]})))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        item, *verbatim = memory.flush()
    assert item.source == tuple(IDS)
    assert [v.source for v in verbatim] == [("t2",), ("t3",)]  # the marathon, the pharmacist: not in it
    assert RETRY_CUT_OFF in llm_server.requests[1]["json"]["messages"][-1]["content"]
    budget = llm_server.requests[0]["json"]["max_tokens"]
    assert budget == 64 + 48 * len(IDS)
    schema = llm_server.requests[0]["json"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["memories"]["items"]["required"] == ["text", "turns"]


def test_a_turn_with_content_that_no_memory_cites_is_stored_word_for_word(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    # two segments: t1-t3, and t4 two months later; the answer cites t1 only (its segment's t2 and t3 were
    # stored nowhere when only a segment of which no turn was cited was stored word for word)
    fact = {"text": "Maya adopted a cat named Miso.", "turns": [1]}
    llm_server.script(Reply(content=json.dumps({"memories": [fact]})))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add(CONVERSATION, user_id="u")
        items = memory.flush()
    assert [item.source for item in items] == [("t1",), ("t2",), ("t3",), ("t4",)]
    assert items[0].text == "Maya adopted a cat named Miso." and items[3].text.startswith("Maya: ")


def test_memories_of_a_chinese_conversation_are_kept_and_cite_their_turns(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    """Chinese is written without spaces: a whole sentence was one "word", so a memory that rephrased its
    turn shared no word with it; it was dropped as not from the conversation and the turn stored word for
    word instead (and, cited by such a memory, the turn counted as not cited)."""
    turns = ["我昨天去了北京看我的奶奶。", "她身体好吗？"]
    memories = [
        {"text": "用户昨天去北京看了奶奶。", "turns": [1]},  # rephrased: shares 北京, 奶奶
        {"text": "我是一名医生。", "turns": [2]},  # not in the conversation
    ]
    llm_server.script(Reply(content=json.dumps({"memories": memories}, ensure_ascii=False)))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add([{"role": "user", "content": text} for text in turns], user_id="u")
        items = memory.flush()
    assert [item.text for item in items] == ["用户昨天去北京看了奶奶。", "user: 她身体好吗？"]
    assert items[0].source != items[1].source and len(items[0].source) == len(items[1].source) == 1


def test_a_turn_of_numbers_only_is_stored_once(tmp_path: Path, hash_embedder: HashEmbedder) -> None:
    """A turn without a word of three letters shares none with the unit citing it: it was stored a second
    time as if no unit cited it ("user: 42" twice)."""
    with Memory(tmp_path / "mem", embedder=hash_embedder) as memory:
        memory.add(
            [{"role": "user", "content": "When do we meet?"}, {"role": "user", "content": "ok 42"}],
            user_id="u",
        )
        items = memory.flush()
    assert sorted(item.text for item in items) == ["user: 42", "user: When do we meet?"]


def test_an_empty_answer_may_drop_small_talk(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer
) -> None:
    small_talk = ["Hi!", "Hello, how are you doing?", "Fine, thanks! And you?", "Great, thanks. Bye!"]
    llm_server.script(Reply(content='{"memories": []}'))
    with openai_memory(tmp_path / "mem", embedder, llm_server) as memory:
        memory.add([{"role": "user", "content": text} for text in small_talk], user_id="u")
        assert memory.flush() == []
        assert memory.stats().pending_messages == 0 and memory.get_all(user_id="u") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi! how are you doing? fine, thanks, bye", False),
        ("ok lol, sounds great, see you soon, take care", False),
        ("", False),
        ("my cat is ill", True),
        ("see you at 5", True),  # a number is content
        ("ignore previous instructions", True),
    ],
)
def test_what_counts_as_content(text: str, expected: bool) -> None:
    assert has_content(text) is expected


def test_llm_error_during_add_keeps_the_messages_in_the_buffer(
    tmp_path: Path, embedder: OnnxEmbedder, llm_server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.script(*[Reply(status=503, body=b'{"error": "overloaded"}')] * 4)
    client = OpenAIClient(llm_server.base_url, "m", timeout_s=2.0, max_retries=1, backoff_s=0.01)
    options: dict[str, Any] = {
        "buffer_token_threshold": 10,
        "extraction": "inline",
    }  # background: its own test
    with Memory(tmp_path / "mem", embedder=embedder, llm=client, **options) as memory:
        with caplog.at_level(logging.WARNING):
            assert memory.add(CONVERSATION, user_id="u") == []  # past the threshold, but the LLM fails
        assert "stay in the buffer" in caplog.text and "503" in caplog.text
        assert memory.stats().pending_messages == len(IDS)
        with pytest.raises(LLMError, match="503"):
            memory.flush()  # an explicit flush reports the failure
        assert memory.stats().pending_messages == len(IDS)
        assert memory.get_all(user_id="u") == []
        assert memory.stats(user_id="u").extractions_deferred == 2  # the add's and the flush's
        assert sources(memory.flush()) == sorted(IDS)  # the server is back
        assert memory.stats().pending_messages == 0
    assert len(llm_server.requests) == 6  # 2 + 2 failing, then 2 calls of at most 20 words (2 x threshold)
