"""The mem0 drop-in (`lightmem.mem0`): mem0 2.x's documented examples, written here in our own words,
run as a mem0 user would run them, only the import changed (and, for speed, the test's directory and the
session's embedder passed to the constructor); then what lightmem cannot do is refused by name."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FAKE_KEY, LLMServer
from lightmem.embedding import OnnxEmbedder
from lightmem.mem0 import AsyncMemory, Memory
from lightmem.types import MemoryNotFoundError

MEMORY_KEYS = ["id", "memory", "hash", "metadata", "score", "created_at", "updated_at", "user_id"]

FOOD = [
    {"role": "user", "content": "I'm planning to watch a movie tonight. Any recommendations?"},
    {"role": "assistant", "content": "How about thriller movies? They can be quite engaging."},
    {"role": "user", "content": "I'm not a big fan of thriller movies but I love sci-fi movies."},
]


@pytest.fixture
def m(tmp_path: Path, embedder: OnnxEmbedder) -> Iterator[Memory]:
    with Memory(path=str(tmp_path / "mem"), embedder=embedder) as memory:
        yield memory


def texts(results: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in results["results"]]


def test_the_readme_chat_loop_runs_and_returns_mem0_shapes(m: Memory) -> None:
    # mem0's README: retrieve with the scope inside filters, build a prompt, then add the exchange
    relevant = m.search(query="What should I eat?", filters={"user_id": "alex"}, top_k=3)
    assert relevant == {"results": []}
    memories_str = "\n".join(f"- {entry['memory']}" for entry in relevant["results"])
    messages = [
        {"role": "system", "content": f"You are a helpful AI.\nUser Memories:\n{memories_str}"},
        {"role": "user", "content": "I'm vegetarian and allergic to peanuts."},
        {"role": "assistant", "content": "Noted: vegetarian, no peanuts."},
    ]
    assert m.add(messages, user_id="alex") == {"results": []}  # in lightmem's buffer, see below


def test_the_chat_loop_does_not_store_its_system_prompt(m: Memory) -> None:
    # mem0's README loop puts the memories it found in the system prompt; lightmem stored that prompt as
    # a memory, so every turn stored the memories again (pruned: "I'm vegetarian peanuts") in a new one
    turns = [("I'm vegetarian and allergic to peanuts.", "Noted."), ("I moved to Oslo.", "Nice!")]
    for query, answer in turns:
        found = m.search(query=query, filters={"user_id": "alex"}, top_k=3)["results"]
        memories_str = "\n".join(f"- {entry['memory']}" for entry in found)
        messages = [
            {"role": "system", "content": f"You are a helpful AI.\nUser Memories:\n{memories_str}"},
            {"role": "user", "content": query},
            {"role": "assistant", "content": answer},
        ]
        m.add(messages, user_id="alex")
        m.native.flush(user_id="alex")
    stored = texts(m.get_all(filters={"user_id": "alex"}))
    assert len(stored) == 4 and not [text for text in stored if "helpful AI" in text]


def test_a_fact_just_added_with_inference_is_found_at_once(m: Memory) -> None:
    m.add("I'm vegetarian and allergic to peanuts.", user_id="alex")
    assert texts(m.search("What is alex allergic to?", filters={"user_id": "alex"}))


def test_the_memory_operations_examples(m: Memory) -> None:
    added = m.add(FOOD, user_id="alice", metadata={"category": "movie_recommendations"}, infer=False)
    assert [(r["memory"], r["event"], r["role"], r["actor_id"]) for r in added["results"]] == [
        (message["content"], "ADD", message["role"], None) for message in FOOD
    ]

    everything = m.get_all(filters={"user_id": "alice"})
    assert texts(everything) == [message["content"] for message in FOOD]
    first = everything["results"][0]
    assert list(first) == [key for key in MEMORY_KEYS if key != "score"]
    assert first["metadata"] == {"category": "movie_recommendations"} and first["user_id"] == "alice"
    assert first["created_at"] == first["updated_at"] and first["created_at"].endswith("+00:00")

    found = m.search("Does alice like science fiction?", filters={"user_id": "alice"})
    assert texts(found)[0] == FOOD[2]["content"]
    assert all(list(hit) == MEMORY_KEYS and 0.1 <= hit["score"] <= 1.0 for hit in found["results"])

    memory_id = added["results"][2]["id"]
    assert m.get(memory_id) == {**m.get_all(filters={"user_id": "alice"})["results"][2], "score": None}
    assert m.update(memory_id=memory_id, text="Loves sci-fi movies") == {
        "message": "Memory updated successfully!"
    }
    assert m.update(memory_id=memory_id, data="Loves sci-fi and space movies")["message"]  # mem0 1.x's name
    assert m.update(memory_id, metadata={"category": "movies", "rating": 5})["message"]
    got = m.get(memory_id)
    assert got is not None and got["memory"] == "Loves sci-fi and space movies"
    assert got["metadata"] == {"category": "movies", "rating": 5}

    assert m.delete(memory_id=memory_id) == {"message": "Memory deleted successfully!"}
    history = m.history(memory_id=memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"], h["is_deleted"]) for h in history] == [
        ("ADD", None, FOOD[2]["content"], False),
        ("UPDATE", FOOD[2]["content"], "Loves sci-fi movies", False),
        ("UPDATE", "Loves sci-fi movies", "Loves sci-fi and space movies", False),
        ("UPDATE", "Loves sci-fi and space movies", "Loves sci-fi and space movies", False),
        ("DELETE", "Loves sci-fi and space movies", None, True),
    ]
    assert {h["created_at"] for h in history} == {got["created_at"]} and history[-1]["memory_id"] == memory_id

    m.add("I live in Lisbon", user_id="bob", infer=False)
    assert m.delete_all(user_id="alice") == {"message": "Memories deleted successfully!"}
    assert m.get_all(filters={"user_id": "alice"}) == {"results": []}
    assert texts(m.get_all(filters={"user_id": "bob"})) == ["I live in Lisbon"]
    assert m.reset() is None
    assert m.get_all(filters={"user_id": "bob"}) == {"results": []}


def test_a_message_without_content_is_skipped_as_mem0_does(m: Memory) -> None:
    """An OpenAI chat history holds assistant messages whose content is None (their tool calls); mem0
    skips them, lightmem refused the whole add ('message 1 content must be a string, got NoneType')."""
    history = [
        {"role": "user", "content": "Book me a window seat to Oslo."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "Seat 14A booked."},
    ]
    for infer in (False, True):
        m.add(tuple(history), user_id=f"u{infer}", infer=infer)
        m.add(history[1], user_id=f"u{infer}", infer=infer)
    assert texts(m.get_all(filters={"user_id": "uFalse"})) == [
        "Book me a window seat to Oslo.",
        "Seat 14A booked.",
    ]
    assert m.native.stats(user_id="uTrue").pending_messages == 2


def test_infer_false_skips_system_messages_and_reports_speakers(m: Memory) -> None:
    messages = [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "name": "Maya", "content": "Book me a window seat to Oslo."},
        {"role": "assistant", "content": "Done: seat 14A."},
    ]
    added = m.add(messages, agent_id="travel-bot", run_id="trip-1", infer=False)["results"]
    assert [(r["memory"], r["role"], r["actor_id"]) for r in added] == [
        ("Book me a window seat to Oslo.", "user", "Maya"),
        ("Done: seat 14A.", "assistant", None),
    ]
    stored = m.get(added[0]["id"])
    assert stored is not None and (stored["agent_id"], stored["run_id"]) == ("travel-bot", "trip-1")
    assert "user_id" not in stored
    assert texts(m.get_all(filters={"agent_id": "travel-bot", "run_id": "trip-1"})) == [
        r["memory"] for r in added
    ]
    # a retried message makes no memory: the next one's memory was reported as said by the retried one's
    # speaker in its role (the bot's words as Maya's)
    retried = [
        {**messages[1], "id": "m1"},
        {"role": "assistant", "name": "Bot", "content": "Seat 14A is yours."},
    ]
    m.add(retried[:1], agent_id="travel-bot", run_id="trip-2", infer=False)
    again = m.add(retried, agent_id="travel-bot", run_id="trip-2", infer=False)["results"]
    assert [(r["memory"], r["role"], r["actor_id"]) for r in again] == [
        ("Seat 14A is yours.", "assistant", "Bot")
    ]


AISLE = "Prefers aisle seats on long flights"
OAT = "Drinks oat milk in coffee"
MEETING = "Weekly meeting notes are in the shared drive"
SHELLFISH = "Allergic to shellfish"


@pytest.fixture
def tagged(m: Memory) -> Memory:
    for content, metadata in (
        (AISLE, {"category": "travel", "priority": 7, "status": "active"}),
        (OAT, {"category": "food", "priority": 3, "status": "archived"}),
        (MEETING, {"category": "work", "priority": 9, "title": "Team Meeting"}),
        (SHELLFISH, {"category": "food", "priority": 10, "status": "active", "archived": False}),
    ):
        m.add(content, user_id="alice", metadata=metadata, infer=False)
    m.add(SHELLFISH, user_id="bob", metadata={"category": "food"}, infer=False)
    return m


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"user_id": "alice", "category": "food"}, {OAT, SHELLFISH}),
        ({"user_id": "alice", "priority": {"gte": 7}, "status": {"eq": "active"}}, {AISLE, SHELLFISH}),
        ({"user_id": "alice", "priority": {"gt": 3, "lt": 10}}, {AISLE, MEETING}),
        ({"user_id": "alice", "priority": {"lte": 3}}, {OAT}),
        ({"user_id": "alice", "archived": {"ne": True}, "category": "food"}, {OAT, SHELLFISH}),
        ({"user_id": "alice", "category": {"in": ["travel", "work"]}}, {AISLE, MEETING}),
        ({"user_id": "alice", "status": {"nin": ["archived"]}, "priority": {"ne": 9}}, {AISLE, SHELLFISH}),
        ({"user_id": "alice", "title": {"contains": "Meeting"}}, {MEETING}),
        ({"user_id": "alice", "title": {"icontains": "meeting"}}, {MEETING}),
        ({"user_id": "alice", "status": "*"}, {AISLE, OAT, SHELLFISH}),
        ({"AND": [{"user_id": "alice"}, {"category": "food"}, {"priority": {"gte": 5}}]}, {SHELLFISH}),
        ({"user_id": "alice", "OR": [{"category": "work"}, {"priority": {"lt": 5}}]}, {MEETING, OAT}),
        ({"user_id": "alice", "NOT": [{"category": "food"}]}, {AISLE, MEETING}),
        (
            {"user_id": "alice", "AND": [{"category": "food"}, {"OR": [{"status": "archived"}, {"priority": 10}]}]},  # noqa: E501
            {OAT, SHELLFISH},
        ),
    ],
)  # fmt: skip
def test_the_metadata_filtering_examples(tagged: Memory, filters: dict[str, Any], expected: set[str]) -> None:
    assert set(texts(tagged.get_all(filters=filters))) == expected
    hits = tagged.search("What does alice care about?", filters=filters, threshold=0.0)
    assert set(texts(hits)) == expected


def test_scope_ids_go_in_filters_or_beside_them_and_integers_become_strings(m: Memory) -> None:
    m.add("Plays chess on Sundays", user_id=42, infer=False)
    m.add("Plays go on Mondays", user_id="7", agent_id="coach", infer=False)
    for found in (
        m.search("board games", filters={"user_id": 42}),
        m.search("board games", filters={"user_id": " 42 "}),
        m.search("board games", user_id=42),  # mem0 1.x's form
        m.search("board games", filters={"AND": [{"user_id": "42"}]}),
        m.search("board games", user_id="42", filters={"user_id": 42}),
    ):
        assert texts(found) == ["Plays chess on Sundays"] and found["results"][0]["user_id"] == "42"
    assert texts(m.get_all(filters={"agent_id": "coach"})) == ["Plays go on Mondays"]
    assert texts(m.get_all(user_id=7, agent_id="coach")) == ["Plays go on Mondays"]
    for bad, fragment in (
        ({}, "at least one of user_id"),
        ({"category": "x"}, "at least one of user_id"),
        ({"user_id": "*"}, r"filters\['user_id'\] must be one id"),
        ({"user_id": {"in": ["42", "7"]}}, "must be one id"),
        ({"user_id": "42", "AND": [{"user_id": "7"}]}, "one scope at a time"),
        ({"user_id": "42", "OR": [{"user_id": "7"}, {"agent_id": "c"}]}, r"\['OR'\]\[0\] names user_id"),
        ({"user_id": "42", "NOT": [{"run_id": "r"}]}, "names run_id"),
        ({"user_id": ""}, "non-empty string or an integer"),
        ({"user_id": 4.2}, "non-empty string or an integer"),
        ({"user_id": "42", "created_at": {"gte": "2024-01-01"}}, "created_after"),
        ({"user_id": "42", "actor_id": "alice"}, "actor_id"),
        ({"user_id": "42", "priority": {"between": [1, 2]}}, "unknown operator 'between'"),
        ({"user_id": "42", "$and": [{"priority": 1}]}, "logical operators are written AND, OR and NOT"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=fragment):
            m.search("board games", filters=bad)
        with pytest.raises(ValueError, match=fragment):
            m.get_all(filters=bad)
    with pytest.raises(ValueError, match="is '7' but user_id is '42'"):
        m.search("board games", user_id=42, filters={"user_id": "7"})


def test_lightmem_time_filters_pass_through(m: Memory) -> None:
    m.add(
        {"role": "user", "content": "Flew to Rome", "timestamp": "2023-05-01T10:00:00Z"},
        user_id="u",
        infer=False,
    )
    m.add(
        {"role": "user", "content": "Flew to Oslo", "timestamp": "2024-05-01T10:00:00Z"},
        user_id="u",
        infer=False,
    )
    found = m.search("flights", filters={"user_id": "u", "event_after": "2024-01-01"}, threshold=0.0)
    assert texts(found) == ["Flew to Oslo"]


def test_top_k_limit_and_threshold(m: Memory) -> None:
    for i, food in enumerate(["sushi", "ramen", "tacos", "pizza", "falafel"]):
        m.add(f"Alice enjoys eating {food}", user_id="alice", metadata={"rank": i}, infer=False)
    m.add("The quarterly tax report is due in April", user_id="alice", infer=False)
    question = "What food does Alice like?"
    assert len(m.search(question, filters={"user_id": "alice"}, top_k=2)["results"]) == 2
    assert len(m.search(question, user_id="alice", limit=3)["results"]) == 3
    assert m.search(question, filters={"user_id": "alice"}, top_k=0) == {"results": []}
    everything = m.search(question, filters={"user_id": "alice"}, threshold=0.0)["results"]
    assert len(everything) == 6 and everything[-1]["memory"].startswith("The quarterly tax")
    scores = sorted(hit["score"] for hit in everything)
    strict = m.search(question, filters={"user_id": "alice"}, threshold=scores[1])["results"]
    assert len(strict) == 5 and all(hit["score"] >= scores[1] for hit in strict)
    assert m.search(question, filters={"user_id": "alice"}, threshold=None) == m.search(
        question, filters={"user_id": "alice"}
    )  # None means mem0's default, 0.1
    assert len(m.get_all(filters={"user_id": "alice"}, top_k=4)["results"]) == 4
    assert len(m.get_all(filters={"user_id": "alice"})["results"]) == 6
    for call, fragment in (
        (lambda: m.search(question, filters={"user_id": "alice"}, threshold=1.5), "threshold"),
        (lambda: m.search(question, filters={"user_id": "alice"}, top_k=-1), "top_k"),
        (lambda: m.search(question, filters={"user_id": "alice"}, top_k=2, limit=3), "give one"),
        (lambda: m.get_all(filters={"user_id": "alice"}, top_k=True), "top_k"),
        # these named top_k when limit was given, or limit when top_k was over its bound
        (
            lambda: m.search(question, filters={"user_id": "alice"}, limit=-1),
            "limit must be an integer from 0",
        ),
        (lambda: m.get_all(filters={"user_id": "alice"}, limit=2.0), "limit must be an integer from 0"),
        (
            lambda: m.search(question, filters={"user_id": "alice"}, top_k=2**63),
            "top_k must be an integer from 0",
        ),
        (lambda: m.search("   ", filters={"user_id": "alice"}), "query"),
    ):
        with pytest.raises(ValueError, match=fragment):
            call()


def test_unknown_ids_raise_as_mem0_raises(m: Memory) -> None:
    added = m.add("Has a dog called Rex", user_id="alice", infer=False)["results"][0]
    assert m.get("no-such-id") is None
    for call in (
        lambda: m.update("no-such-id", text="x"),
        lambda: m.delete("no-such-id"),
        lambda: m.history("no-such-id"),
    ):
        with pytest.raises(ValueError, match="no memory with id 'no-such-id'") as caught:
            call()
        assert isinstance(caught.value, MemoryNotFoundError) and isinstance(caught.value, KeyError)
    m.delete(added["id"])
    assert m.get(added["id"]) is None
    with pytest.raises(ValueError, match="no memory with id"):
        m.delete(added["id"])
    with pytest.raises(ValueError, match="no memory with id"):
        m.update(added["id"], text="back")
    with pytest.raises(ValueError, match="text or metadata"):
        m.update(added["id"])


def test_scope_ids_confine_the_id_verbs(m: Memory) -> None:
    """A lightmem extension (what `lightmem serve` relies on): given scope ids, get, update, delete and
    history touch a memory of that scope only, and another scope's id is an unknown one."""
    bob = m.add("Has a cat called Miso", user_id="bob", infer=False)["results"][0]["id"]
    assert m.get(bob, user_id="alice") is None
    for call in (
        lambda: m.update(bob, text="x", user_id="alice"),
        lambda: m.delete(bob, user_id="alice"),
        lambda: m.history(bob, user_id="alice"),
    ):
        with pytest.raises(MemoryNotFoundError, match="in scope"):
            call()
    assert m.get(bob, user_id=" bob ")["memory"] == "Has a cat called Miso"  # ids trimmed, as in add
    m.update(bob, text="Has a cat called Mochi", user_id="bob")
    assert [h["event"] for h in m.history(bob, user_id="bob")] == ["ADD", "UPDATE"]
    assert m.delete(bob, user_id="bob")["message"]
    assert m.get(bob) is None


def test_mem0_parameters_lightmem_lacks_are_refused_by_name(
    m: Memory, caplog: pytest.LogCaptureFixture
) -> None:
    for call, fragment in (
        (lambda: m.add("x", user_id="u", timestamp=1_700_000_000), r"add\(timestamp=...\)"),
        (lambda: m.add("x", user_id="u", expiration_date="2030-01-01"), "expiration_date"),
        (lambda: m.add("x", agent_id="a", memory_type="procedural_memory"), "memory_type"),
        (lambda: m.add("x", user_id="u", prompt="Extract only names"), "prompt"),
        (lambda: m.add("x", user_id="u", metadata=["a"]), "metadata must be a dict"),  # type: ignore[arg-type]
        (lambda: m.add("x"), "at least one of user_id"),
        (lambda: m.search("x", filters={"user_id": "u"}, reference_date="2024-01-01"), "reference_date"),
        (lambda: m.update("id", text="x", expiration_date="2030-01-01"), "expiration_date"),
        (lambda: m.update("id", text="new", data="old"), "text and data name the same thing"),
        (lambda: m.delete_all(), "reset"),
    ):
        with pytest.raises(ValueError, match=fragment):
            call()
    assert m.add("kept", user_id="u", prompt="ignored without inference", infer=False)["results"]
    with caplog.at_level(logging.WARNING, logger="lightmem"):
        added = m.add(
            "Lives in Porto", user_id="u", metadata={"user_id": "mallory", "city": "Porto"}, infer=False
        )
    stored = m.get(added["results"][0]["id"])
    assert stored is not None and (stored["user_id"], stored["metadata"]) == ("u", {"city": "Porto"})
    assert "ignoring ['user_id'] in metadata" in caplog.text


OLLAMA_CONFIG = {
    "vector_store": {"provider": "qdrant", "config": {"collection_name": "test", "host": "localhost"}},
    "llm": {
        "provider": "ollama",
        "config": {
            "model": "llama3.1:latest",
            "temperature": 0,
            "max_tokens": 2000,
            "ollama_base_url": "http://localhost:11434",
        },
    },
    "embedder": {"provider": "ollama", "config": {"model": "nomic-embed-text:latest"}},
    "history_db_path": "/tmp/history.db",
    "version": "v1.1",
}


def test_from_config_maps_the_llm_and_warns_once_about_the_rest(
    tmp_path: Path, embedder: OnnxEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="lightmem"):
        m = Memory.from_config(OLLAMA_CONFIG, path=str(tmp_path / "mem"), embedder=embedder)
    with m:
        config = m.native.config
        assert (config.llm, config.llm_base_url, config.llm_model) == (
            "openai",
            "http://localhost:11434/v1",
            "llama3.1:latest",
        )
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning == (
        "lightmem ignores these mem0 settings (it embeds and stores by itself): vector_store, embedder, "
        "history_db_path, llm.config.temperature, llm.config.max_tokens"
    )
    for bad, fragment in (
        ({"llm": {"provider": "anthropic", "config": {}}}, "provider 'anthropic' is not supported"),
        ({"llms": {"provider": "openai"}}, "unknown mem0 config key"),
        ({"llm": "openai"}, "must be a dict with a 'provider'"),
        ({"llm": {"provider": "openai", "config": ["model"]}}, r"config\['llm'\]\['config'\] must be a dict"),
        ("openai", "config must be a dict"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=fragment):
            Memory.from_config(bad, path=str(tmp_path / "other"), embedder=embedder)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", ["openai", "vllm", "ollama", "lmstudio"])
def test_from_config_extracts_through_an_openai_compatible_server(
    tmp_path: Path,
    embedder: OnnxEmbedder,
    llm_server: LLMServer,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
) -> None:
    """The server named in the llm block gets the extraction request, with the block's key; the
    OPENAI_API_KEY of the environment never goes to another provider's server."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-for-openai-only")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    options = {"model": "test-model", f"{provider}_base_url": llm_server.base_url}
    if provider == "vllm":
        options["api_key"] = FAKE_KEY
    config = {"llm": {"provider": provider, "config": options}}
    with Memory.from_config(config, path=str(tmp_path / "mem"), embedder=embedder) as m:
        m.add("I moved to Berlin last week.", user_id="alice")
        assert texts({"results": [{"memory": i.text} for i in m.native.flush()]})
    (request,) = llm_server.requests
    assert request["json"]["model"] == "test-model"
    sent = request["headers"].get("Authorization")
    expected = {"openai": "Bearer sk-env-key-for-openai-only", "vllm": f"Bearer {FAKE_KEY}"}.get(provider)
    assert sent == expected


def test_memory_without_arguments_lives_in_LIGHTMEM_PATH(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTMEM_PATH", str(tmp_path / "from-env"))
    with Memory() as m:
        assert m.native.path == str(tmp_path / "from-env")
        assert m.native.config.llm == "offline"
    monkeypatch.delenv("LIGHTMEM_PATH")
    monkeypatch.chdir(tmp_path)
    with Memory() as m:
        assert Path(m.native.path).resolve() == (tmp_path / "lightmem-data").resolve()


def test_async_memory_has_every_verb(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    async def session() -> None:
        async with AsyncMemory.from_config({}, path=str(tmp_path / "mem"), embedder=embedder) as m:
            added = await m.add("Runs marathons in spring", user_id="alice", infer=False)
            memory_id = added["results"][0]["id"]
            found = await m.search("sports", filters={"user_id": "alice"}, top_k=1)
            assert [hit["id"] for hit in found["results"]] == [memory_id]
            assert (await m.get(memory_id) or {})["memory"] == "Runs marathons in spring"
            assert len((await m.get_all(filters={"user_id": "alice"}))["results"]) == 1
            assert (await m.update(memory_id, text="Runs marathons"))["message"]
            assert [h["event"] for h in await m.history(memory_id)] == ["ADD", "UPDATE"]
            assert (await m.delete(memory_id))["message"]
            assert (await m.delete_all(user_id="alice"))["message"]
            await m.reset()
            assert m.native.stats().memories == 0

    asyncio.run(session())


def test_async_memory_verbs_take_the_arguments_of_memory() -> None:
    """They took `*args, **kwargs` and passed them on by method name, unchecked by mypy."""

    def verbs(cls: type, kind: Callable[[object], bool]) -> list[str]:
        return sorted(name for name, value in vars(cls).items() if kind(value) and not name.startswith("_"))

    coroutines = verbs(AsyncMemory, inspect.iscoroutinefunction)
    assert coroutines == [name for name in verbs(Memory, inspect.isfunction) if name != "close"]  # as mem0's
    for verb in coroutines:
        assert inspect.signature(getattr(AsyncMemory, verb)) == inspect.signature(getattr(Memory, verb)), verb
