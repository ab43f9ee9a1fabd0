"""LLM backends: OpenAIClient against a real scripted HTTP server on 127.0.0.1, and OfflineLLM."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fakes import FAKE_KEY, HashEmbedder, LLMServer, Reply
from lightmem.config import LightMemConfig
from lightmem.limits import MAX_LLM_RESPONSE_BYTES, MAX_MESSAGE_CHARS
from lightmem.llm import (
    LLM,
    Completion,
    LLMError,
    OfflineLLM,
    OpenAIClient,
    estimate_tokens,
    make_llm,
)
from lightmem.memory import Memory
from lightmem.prompts import (
    EXTRACT_SYSTEM,
    AnswerFormat,
    Turn,
    build_consolidate_request,
    build_extract_request,
    parse_consolidate_response,
    parse_extract_response,
)

MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Say hi."}]
OK = Reply(content='{"ok": true}')
SLACK_S = 0.3
"""Added to a call's deadline in timing checks: a thread's wake-up can be late on a loaded machine."""


@pytest.fixture
def server() -> Iterator[LLMServer]:
    """A loopback server answering `OK` to whatever is not scripted."""
    with LLMServer(default=OK) as running:
        yield running


def _failure(client: OpenAIClient) -> LLMError:
    with pytest.raises(LLMError) as info:
        client.complete(MESSAGES)
    assert FAKE_KEY not in str(info.value)
    assert client.url in str(info.value)
    return info.value


# --- OpenAIClient ---------------------------------------------------------------------------------------


def test_ok_with_usage_and_the_request_sent(server: LLMServer) -> None:
    server.script(Reply(content='{"hi": 1}', usage={"prompt_tokens": 11, "completion_tokens": 3}))
    client = server.client()
    assert client.complete(MESSAGES) == Completion('{"hi": 1}', prompt_tokens=11, completion_tokens=3)
    assert client.usage.snapshot() == {"calls": 1, "prompt_tokens": 11, "completion_tokens": 3}
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["json"] == {
        "model": "test-model",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": 1024,
        "response_format": {"type": "json_object"},
    }
    assert request["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"
    assert request["headers"]["Content-Type"] == "application/json"


def test_plain_text_request_without_key(server: LLMServer) -> None:
    client = server.client(api_key=None)
    client.complete(MESSAGES, json_output=False)
    (request,) = server.requests
    assert "response_format" not in request["json"]
    assert "Authorization" not in request["headers"]


def test_tokens_are_estimated_without_usage(server: LLMServer) -> None:
    server.script(Reply(content="one two three"))
    completion = server.client().complete(MESSAGES)
    assert completion.prompt_tokens == estimate_tokens("Answer in JSON.", "Say hi.") == 7
    assert completion.completion_tokens == estimate_tokens("one two three") == 4


def test_429_then_ok_honours_retry_after(server: LLMServer) -> None:
    server.script(Reply(status=429, body=b'{"error": "slow down"}', headers={"Retry-After": "0.2"}), OK)
    client = server.client(max_backoff_s=1.0)
    start = time.monotonic()
    assert client.complete(MESSAGES).text == '{"ok": true}'
    assert time.monotonic() - start >= 0.2
    assert len(server.requests) == 2
    assert client.usage.calls == 1


def test_429_with_a_long_retry_after_gives_up_at_once(server: LLMServer) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "120"}))
    error = _failure(server.client())
    assert error.status == 429
    assert "retry after 120 s" in str(error)
    assert len(server.requests) == 1


def test_5xx_is_retried_then_gives_up_in_bounded_time(server: LLMServer) -> None:
    server.script(*[Reply(status=500, body=b"internal error")] * 4)
    client = server.client(max_retries=3)
    start = time.monotonic()
    error = _failure(client)
    assert time.monotonic() - start < client.max_total_time_s + SLACK_S
    assert len(server.requests) == 4
    assert error.status == 500
    assert "gave up after 4 attempt(s)" in str(error)
    assert "HTTP 500: internal error" in str(error)
    assert client.usage.calls == 0


def test_503_then_ok(server: LLMServer) -> None:
    server.script(Reply(status=503), Reply(status=502), OK)
    assert server.client().complete(MESSAGES).text == '{"ok": true}'
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404])
def test_other_4xx_are_not_retried_and_the_key_is_redacted(server: LLMServer, status: int) -> None:
    server.script(
        Reply(status=status, body=f'{{"error": "Incorrect API key provided: {FAKE_KEY}"}}'.encode())
    )
    error = _failure(server.client())
    assert error.status == status
    assert f"HTTP {status}" in str(error)
    assert "Incorrect API key provided: ***" in str(error)
    assert len(server.requests) == 1


def test_timeout_is_retried_then_gives_up(server: LLMServer) -> None:
    server.script(Reply(delay_s=0.6), Reply(delay_s=0.6))
    client = server.client(timeout_s=0.15, max_retries=1)
    start = time.monotonic()
    error = _failure(client)
    assert time.monotonic() - start < client.max_total_time_s + SLACK_S
    assert len(server.requests) == 2
    assert error.status is None
    assert "timed out" in str(error)


def test_timeout_then_ok(server: LLMServer) -> None:
    server.script(Reply(delay_s=0.6), OK)
    assert server.client(timeout_s=0.15).complete(MESSAGES).text == '{"ok": true}'


@pytest.mark.parametrize(
    "bad",
    [
        Reply(body=b'{"choices": [{"message": {"content": "{\\"a'),  # truncated JSON
        Reply(body=b"<html>502 Bad Gateway</html>"),  # not JSON at all
        Reply(body={"choices": []}),  # JSON without an answer
        Reply(body={"choices": [{"message": {"content": None}}]}),
        Reply(
            content='{"ok": true}', cut_body=True
        ),  # the connection closes before Content-Length bytes arrived
    ],
)
def test_malformed_bodies_are_retried_then_fail(server: LLMServer, bad: Reply) -> None:
    server.script(bad, bad, bad)
    error = _failure(server.client())
    assert len(server.requests) == 3
    assert error.status is None


def test_malformed_body_then_ok(server: LLMServer) -> None:
    server.script(Reply(body=b"not json"), Reply(content='{"ok": true}', cut_body=True), OK)
    assert server.client().complete(MESSAGES).text == '{"ok": true}'
    assert len(server.requests) == 3


def test_a_deeply_nested_body_is_a_malformed_body(server: LLMServer) -> None:
    server.script(*[Reply(body=b"[" * 100_000)] * 3)  # json.loads raises RecursionError on it
    error = _failure(server.client())
    assert "malformed response body" in str(error)
    assert len(server.requests) == 3


# --- redirects: the key never leaves the origin ---------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_and_the_key_stays_home(server: LLMServer, status: int) -> None:
    with LLMServer(default=OK) as elsewhere:  # another port: another origin
        port = elsewhere.base_url.split(":")[2].split("/")[0]
        location = f"{elsewhere.base_url}/chat/completions?token=s3cret"
        server.script(Reply(status=status, headers={"Location": location}))
        error = _failure(server.client())
        assert elsewhere.requests == []  # neither the key nor the messages went there
    assert error.status == status
    assert f"HTTP {status} redirect to http://127.0.0.1:{port}, not followed" in str(error)
    assert "s3cret" not in str(error)  # the Location's origin only
    assert len(server.requests) == 1  # not retried


def test_a_redirect_within_the_origin_is_not_followed_either(server: LLMServer) -> None:
    server.script(Reply(status=307, headers={"Location": "/v2/chat/completions"}))
    origin = server.base_url.removesuffix("/v1")
    assert f"HTTP 307 redirect to {origin}, not followed" in str(_failure(server.client()))
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"]


def test_a_redirect_without_location(server: LLMServer) -> None:
    server.script(Reply(status=302))
    assert "HTTP 302 redirect without a Location, not followed" in str(_failure(server.client()))


# --- the key is redacted before error texts are cut -----------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=401, body=b"e" * 290 + FAKE_KEY.encode()),  # the key spans the 300-character cut
        Reply(status=401, body=FAKE_KEY.encode() * 100),  # a key spans the end of what is read
        Reply(status=200, body=b"<" * 115 + FAKE_KEY.encode()),  # a malformed body, cut at 120
    ],
    ids=["error-detail-cut", "read-cut", "malformed-body-cut"],
)
def test_no_part_of_an_echoed_key_survives_the_cut(server: LLMServer, reply: Reply) -> None:
    server.script(reply, reply, reply)
    error = _failure(server.client())
    assert FAKE_KEY[:3] not in str(error)  # not even its first characters
    assert "***" in str(error)


# --- deadlines: a slow or endless answer cannot hold a call ---------------------------------------------

DRIP = Reply(content='{"ok": true}', drip_s=0.05)  # about 3 s for the whole body


@pytest.mark.parametrize(
    "reply",
    [
        DRIP,
        Reply(content='{"ok": true}', drip_s=0.05, drip_head=True),
        Reply(content="{}", endless=True, drip_s=0.02),
    ],
    ids=["slow-body", "slow-head", "endless"],
)
def test_a_trickling_answer_is_cut_at_the_deadline(server: LLMServer, reply: Reply) -> None:
    server.script(reply, reply)
    client = server.client(timeout_s=0.3, max_retries=1)
    start = time.monotonic()
    error = _failure(client)
    elapsed = time.monotonic() - start
    assert 0.6 <= elapsed < client.max_total_time_s + SLACK_S  # 2 attempts of 0.3 s
    assert "timed out" in str(error)
    assert len(server.requests) == 2


def test_a_trickling_answer_then_ok(server: LLMServer) -> None:
    server.script(DRIP, OK)
    assert server.client(timeout_s=0.3).complete(MESSAGES).text == '{"ok": true}'


def test_the_call_deadline_bounds_all_attempts(server: LLMServer) -> None:
    server.script(*[DRIP] * 4)
    client = server.client(timeout_s=0.2, max_retries=3, backoff_s=0.05, max_backoff_s=0.1)
    start = time.monotonic()
    error = _failure(client)
    assert time.monotonic() - start < client.max_total_time_s + SLACK_S
    assert "timed out" in str(error)


def _chunked(data: bytes, size: int = 1 << 20) -> bytes:
    """`data` in HTTP chunked transfer encoding (no Content-Length tells its size up front)."""
    parts = (data[start : start + size] for start in range(0, len(data), size))
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


HUGE_BODY = b'{"choices": [{"message": {"content": "{}"}}]}' + b" " * MAX_LLM_RESPONSE_BYTES  # valid JSON


@pytest.mark.parametrize(
    "huge",
    [Reply(body=HUGE_BODY), Reply(body=_chunked(HUGE_BODY), headers={"Transfer-Encoding": "chunked"})],
    ids=["content-length", "chunked"],
)
def test_a_huge_body_is_refused(server: LLMServer, huge: Reply) -> None:
    server.script(huge, huge, huge)
    error = _failure(server.client())
    assert f"larger than {MAX_LLM_RESPONSE_BYTES:,} bytes" in str(error)
    assert error.status is None
    assert len(server.requests) == 3


def test_a_cut_body_is_refused_even_when_its_first_part_is_valid_json(server: LLMServer) -> None:
    cut = Reply(body=b'{"choices": [{"message": {"content": "{}"}}]}' + b" " * 200, cut_body=True)
    server.script(cut, cut, cut)
    assert "IncompleteRead" in str(_failure(server.client()))


# --- the same faults through Memory: the messages stay in the buffer -----------------------------------

CHAT = [
    {"id": "c1", "role": "user", "name": "Maya", "content": "I adopted a grey cat called Miso last week."},
    {"id": "c2", "role": "user", "name": "Tom", "content": "I am running the Berlin marathon in September."},
]


def _memory(path: Path, client: OpenAIClient) -> Memory:
    return Memory(path, embedder=HashEmbedder(), llm=client, buffer_token_threshold=100_000)


@pytest.mark.parametrize(
    ("reply", "fails"),
    [
        (Reply(status=302, headers={"Location": "http://127.0.0.1:9/steal"}), "HTTP 302 redirect to"),
        (DRIP, "timed out"),
        (Reply(content="{}", endless=True, drip_s=0.02), "timed out"),
    ],
    ids=["redirect", "slow-body", "endless"],
)
def test_a_hostile_server_keeps_the_messages_buffered(
    tmp_path: Path, server: LLMServer, reply: Reply, fails: str
) -> None:
    server.script(reply, reply)
    client = server.client(timeout_s=0.3, max_retries=1)
    with _memory(tmp_path / "mem", client) as memory:
        memory.add(CHAT, user_id="u")
        start = time.monotonic()
        with pytest.raises(LLMError, match=fails):
            memory.flush()
        assert time.monotonic() - start < client.max_total_time_s + SLACK_S
        assert memory.stats().pending_messages == len(CHAT)
        assert memory.get_all(user_id="u") == []


def _units_answer(count: int, text: str = "Maya adopted a cat.") -> str:
    unit = {"segment": 0, "text": text, "topic": None, "time": None, "source": ["c1"]}
    return json.dumps({"memories": [unit] * count})


@pytest.mark.parametrize(
    "answer",
    [_units_answer(5_000), _units_answer(1, "x" * (MAX_MESSAGE_CHARS + 1))],
    ids=["5000-units-for-2-messages", "one-unit-too-long"],
)
def test_an_unbounded_answer_is_stored_extractively(tmp_path: Path, server: LLMServer, answer: str) -> None:
    server.script(Reply(content=answer), Reply(content=answer))  # invalid twice: the extractive fallback
    with _memory(tmp_path / "mem", server.client()) as memory:
        memory.add(CHAT, user_id="u")
        start = time.monotonic()
        items = memory.flush()
        assert time.monotonic() - start < 5.0
        assert sorted(s for item in items for s in item.source) == ["c1", "c2"]
        assert len(items) == 2
        assert memory.stats().pending_messages == 0


def test_an_answer_the_store_cannot_take_is_dropped_not_a_flush_that_fails_forever(
    tmp_path: Path, server: LLMServer
) -> None:
    """JSON's "\\ud800" (a lone surrogate) in a unit's text, or a time with no UTC equivalent
    ("0001-01-01T00:00:00+14:00"), failed the flush (UnicodeEncodeError, ValueError: not an LLMError,
    so `add` raised it too) when the store took the unit, at every flush of the scope while the model
    answered alike. The surrogate's unit is dropped (its turn stored as said), the time is the turn's."""
    answer = (
        '{"memories": [{"text": "Maya adopted a grey cat \\ud800 called Miso.", "turns": [1]}, '
        '{"text": "Tom runs the Berlin marathon in September.", "turns": [2], '
        '"time": "0001-01-01T00:00:00+14:00", "topic": "\\u200b"}]}'
    )
    server.script(Reply(content=answer))
    dated = [{**message, "timestamp": "2024-05-02T09:00:00Z"} for message in CHAT]
    with _memory(tmp_path / "mem", server.client()) as memory:
        memory.add(dated, user_id="u")
        items = memory.flush()
        assert memory.stats().pending_messages == 0
        by_source = {item.source: item.text for item in items}
        assert by_source.keys() == {("c1",), ("c2",)} and "\ud800" not in by_source[("c1",)]
        assert by_source[("c2",)] == "Tom runs the Berlin marathon in September."
        assert all(item.event_time == datetime(2024, 5, 2, 9, tzinfo=timezone.utc) for item in items)
        assert [item.topic for item in items if item.source == ("c2",)] == [None]


def test_a_buffer_that_grew_while_the_llm_worked_is_extracted_in_calls_of_the_usual_size(
    tmp_path: Path, server: LLMServer
) -> None:
    """With background extraction a buffer grows while the model works (SmolLM2-135M on LoCoMo 26: calls
    of 16 segments and 111 turns, where inline flushes sent one session's; 2 of its 7 answers were
    unusable, against 0 of 10 inline), and after a failed flush alike: all of it went out in calls of up
    to `extraction_batch_segments` (16) segments, whatever their words. A call now holds at most twice
    `buffer_token_threshold` words."""
    said = [
        {"id": f"m{i}", "role": "user", "content": f"On day {i} I walked the dog and fed the cat at dawn."}
        for i in range(40)
    ]  # 12 words each
    with Memory(
        tmp_path / "mem",
        embedder=HashEmbedder(),
        llm=server.client(),
        extraction="inline",
        buffer_token_threshold=50,
        segment_max_turns=2,
    ) as memory:
        memory.add(said, user_id="u")  # one add of 480 words: the flush of a grown buffer
        memory.flush()
        assert memory.stats().pending_messages == 0
    requests = [r["json"]["messages"] for r in server.requests if len(r["json"]["messages"]) == 2]  # no retry
    turns_per_call = [sum(line[:1].isdigit() for line in r[1]["content"].split("\n")) for r in requests]
    assert sum(turns_per_call) == 40 and max(turns_per_call) * 12 <= 2 * 50 and len(turns_per_call) >= 5


def test_a_time_far_from_the_turns_cited_gives_way_to_theirs(
    tmp_path: Path, server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A unit's "time": "9999-01-01" for turns of 2024 was stored as its event time, where no time
    filter around the conversation finds it. A time within `UNIT_TIME_WINDOW` of the turns stands
    ("last week"); one beyond it, or one given for turns without a time, gives way to the turns'."""
    given = [
        ("Maya adopted a grey cat called Miso.", 1, "9999-01-01"),
        ("Maya adopted a cat last week.", 1, "2024-04-25"),
        ("Tom is running the Berlin marathon.", 2, "1900-06-01T12:00:00Z"),
        ("Tom runs the Berlin marathon in September.", 2, "2025-04-01"),
    ]
    answer = json.dumps({"memories": [{"text": t, "turns": [n], "time": when} for t, n, when in given]})
    dated = [{**message, "timestamp": "2024-05-02T09:00:00Z"} for message in CHAT]
    undated = [{**message, "id": f"u{message['id']}"} for message in CHAT]
    turn_time = datetime(2024, 5, 2, 9, tzinfo=timezone.utc)
    server.script(Reply(content=answer), Reply(content=answer))
    with _memory(tmp_path / "mem", server.client()) as memory, caplog.at_level("WARNING", logger="lightmem"):
        memory.add(dated, user_id="u")
        stored = {item.text: item.event_time for item in memory.flush()}
        memory.add(undated, user_id="w")
        assert {item.event_time for item in memory.flush()} == {None}
    assert list(stored.values()) == [
        turn_time,
        datetime(2024, 4, 25, tzinfo=timezone.utc),
        turn_time,
        datetime(2025, 4, 1, tzinfo=timezone.utc),
    ]
    repaired = [r.getMessage() for r in caplog.records if r.getMessage().startswith("repaired")]
    assert repaired[:2] == [
        "repaired an extracted memory: memories[0]: its time 9999-01-01T00:00:00+00:00 lies more than 366 "
        "days from the turns it cites: their time (2024-05-02T09:00:00+00:00) is used",
        "repaired an extracted memory: memories[2]: its time 1900-06-01T12:00:00+00:00 lies more than 366 "
        "days from the turns it cites: their time (2024-05-02T09:00:00+00:00) is used",
    ]
    assert len(repaired) == 2 + 4 and all("dates turns that have none" in r for r in repaired[2:])


def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAIClient(f"http://127.0.0.1:{port}", "m", api_key=FAKE_KEY, max_retries=1, backoff_s=0.001)
    error = _failure(client)
    assert "gave up after 2 attempt(s)" in str(error)


def test_concurrent_calls_are_counted(server: LLMServer) -> None:
    client = server.client()
    with ThreadPoolExecutor(max_workers=4) as pool:
        completions = list(pool.map(lambda _: client.complete(MESSAGES), range(8)))
    assert {c.text for c in completions} == {'{"ok": true}'}
    assert client.usage.calls == 8
    assert len(server.requests) == 8


def test_repr_hides_the_key(server: LLMServer) -> None:
    client = server.client()
    assert FAKE_KEY not in repr(client)
    assert "***" in repr(client)
    assert "api_key=None" in repr(server.client(api_key=None))


def test_from_config() -> None:
    cfg = LightMemConfig(
        llm="openai",
        llm_base_url="http://localhost:11434/v1/",
        llm_model="qwen",
        llm_api_key=FAKE_KEY,
        llm_timeout_s=5.0,
        llm_max_retries=1,
    )
    client = OpenAIClient.from_config(cfg)
    assert client.url == "http://localhost:11434/v1/chat/completions"
    assert (client.model, client.timeout_s, client.max_retries) == ("qwen", 5.0, 1)
    assert isinstance(make_llm(cfg), OpenAIClient)
    with pytest.raises(ValueError, match="LIGHTMEM_LLM_BASE_URL"):
        OpenAIClient.from_config(LightMemConfig(llm="openai", llm_model="qwen"))
    with pytest.raises(ValueError, match="LIGHTMEM_LLM_MODEL"):
        make_llm(LightMemConfig(llm="openai", llm_base_url="http://localhost:8000/v1"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"model": ""}, "model"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_s": -1.0}, "backoff_s"),
    ],
)
def test_constructor_validation(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"base_url": "http://localhost:8000/v1", "model": "m", **kwargs}
    with pytest.raises(ValueError, match=message):
        OpenAIClient(**arguments)


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://user:pw-SECRET@127.0.0.1:8000/v1", "must not hold a user name or password"),
        ("https://:pw-SECRET@api.example.com/v1", "must not hold a user name or password"),
        ("https://gateway.example.com/v1?api_key=q-SECRET", "must not have a query"),
        ("https://gateway.example.com/v1#q-SECRET", "must not have a query"),
        ("http://127.0.0.1:99999/v1", "not a valid URL: Port out of range"),
        ("http://[::1/v1", "not a valid URL: Invalid IPv6 URL"),
        ("http:///v1", "names no host"),
    ],
)
def test_a_base_url_that_cannot_work_is_refused_without_its_secrets(
    tmp_path: Path, base_url: str, message: str
) -> None:
    """Each was taken, failed only at the first call ('Name or service not known' for a user part, a
    request to '.../v1?api_key=.../chat/completions' for a query), and showed its password or key in
    the LLMError, the flush's log line, `repr(config)` and the 502 answers of `lightmem serve`."""
    with pytest.raises(ValueError, match=message) as info:
        Memory(tmp_path / "m", embedder=HashEmbedder(), llm_base_url=base_url, llm_model="m")
    assert "SECRET" not in str(info.value)
    assert not (tmp_path / "m").exists()


def test_empty_messages_rejected(server: LLMServer) -> None:
    with pytest.raises(ValueError, match="messages"):
        server.client().complete([])


# --- OfflineLLM -----------------------------------------------------------------------------------------

T0 = datetime(2023, 5, 8, 13, 56)
SEGMENTS = [
    [
        Turn("D1:1", "Caroline", T0, "went LGBTQ support group yesterday, powerful"),
        Turn("D1:2", "Melanie", T0 + timedelta(minutes=1), "wow, proud of you"),
        Turn("D1:3", "Caroline", T0 + timedelta(minutes=2), "   "),
        Turn("D1:4", "Caroline", T0 + timedelta(minutes=3), "transgender stories inspiring"),
    ],
    [Turn("D2:1", "Melanie", None, "painted sunrise over lake")],
]


def test_offline_is_the_default_backend() -> None:
    llm: LLM = make_llm(LightMemConfig())
    assert isinstance(llm, OfflineLLM)


def test_offline_extraction_round_trips_through_the_parser() -> None:
    llm = OfflineLLM()
    answer = llm.complete(build_extract_request(SEGMENTS))
    units = parse_extract_response(answer.text, SEGMENTS)
    assert [(u.text, u.source, u.event_time) for u in units] == [
        ("Caroline: went LGBTQ support group yesterday, powerful", ("D1:1",), T0),
        ("Melanie: wow, proud of you", ("D1:2",), T0 + timedelta(minutes=1)),
        ("Caroline: transgender stories inspiring", ("D1:4",), T0 + timedelta(minutes=3)),
        ("Melanie: painted sunrise over lake", ("D2:1",), None),
    ]
    assert [u.topic for u in units] == ["powerful, transgender, inspiring"] * 3 + ["painted, sunrise, lake"]


def test_offline_groups_turns_per_unit() -> None:
    answer = OfflineLLM(turns_per_unit=2).complete(build_extract_request(SEGMENTS))
    units = parse_extract_response(answer.text, SEGMENTS)
    assert [u.source for u in units] == [("D1:1", "D1:2"), ("D1:4",), ("D2:1",)]
    assert (
        units[0].text == "Caroline: went LGBTQ support group yesterday, powerful Melanie: wow, proud of you"
    )
    assert units[0].event_time == T0


def test_offline_is_deterministic_and_counts_tokens() -> None:
    llm = OfflineLLM()
    messages = build_extract_request(SEGMENTS)
    first, second = llm.complete(messages), OfflineLLM().complete(messages)
    assert first == second
    assert first.prompt_tokens == estimate_tokens(*(m["content"] for m in messages))
    assert first.completion_tokens == estimate_tokens(first.text)
    llm.complete(messages)
    assert llm.usage.snapshot() == {
        "calls": 2,
        "prompt_tokens": 2 * first.prompt_tokens,
        "completion_tokens": 2 * first.completion_tokens,
    }


def test_offline_consolidation_keeps_everything() -> None:
    clusters = [[("m1", "Caroline lives in Boston.", T0), ("m2", "Caroline moved to Denver.", None)]]
    answer = OfflineLLM().complete(build_consolidate_request(clusters))
    decisions = parse_consolidate_response(answer.text, clusters)
    assert [(d.memory_id, d.action) for d in decisions] == [("m1", "keep"), ("m2", "keep")]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "system", "content": "hi"}], "no user message"),
        ([{"role": "user", "content": "hello"}], "not a lightmem extraction or consolidation request"),
        (
            [{"role": "system", "content": "Summarise."}, {"role": "user", "content": "Segment 1\n1. A: b"}],
            "not a lightmem extraction",
        ),
        (
            [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": "hello"}],
            "malformed extraction request",
        ),
        (
            [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": "1. Ann: hi"}],
            "malformed extraction request",
        ),
    ],
)
def test_offline_rejects_other_requests(messages: list[dict[str, str]], message: str) -> None:
    with pytest.raises(LLMError, match=message):
        OfflineLLM().complete(messages)


def test_offline_splits_a_unit_longer_than_a_memory_may_be() -> None:
    segments = [[Turn("t1", "S" * 100, None, "word " * (MAX_MESSAGE_CHARS // 5 - 1) + "end")]]
    answer = OfflineLLM().complete(build_extract_request(segments))
    units = parse_extract_response(answer.text, segments)
    assert len(units) == 2
    assert all(len(u.text) <= MAX_MESSAGE_CHARS and u.source == ("t1",) for u in units)
    whole = f"{segments[0][0].speaker}: {segments[0][0].text}"
    assert " ".join(json.loads(answer.text)["memories"][i]["text"] for i in (0, 1)) == whole


def test_offline_splits_a_long_unit_between_words() -> None:
    text = "tea " * (MAX_MESSAGE_CHARS // 4) + "done"
    segments = [[Turn("t1", "Sam", None, text)]]
    answer = OfflineLLM().complete(build_extract_request(segments))
    pieces = [memory["text"] for memory in json.loads(answer.text)["memories"]]
    assert len(pieces) == 2 and all(len(piece) <= MAX_MESSAGE_CHARS for piece in pieces)
    assert set(" ".join(pieces).split()) == {"Sam:", "tea", "done"}


def test_offline_splits_a_single_word_longer_than_a_memory() -> None:
    segments = [[Turn("t1", "Sam", None, "x" * MAX_MESSAGE_CHARS)]]
    answer = OfflineLLM().complete(build_extract_request(segments))
    pieces = [memory["text"] for memory in json.loads(answer.text)["memories"]]
    assert pieces == ["Sam:", "x" * MAX_MESSAGE_CHARS]


@pytest.mark.parametrize("turns", [0, -1, 1.5, True])
def test_offline_turns_per_unit_validation(turns: Any) -> None:
    with pytest.raises(ValueError, match="turns_per_unit"):
        OfflineLLM(turns_per_unit=turns)


# --- answer formats ---------------------------------------------------------------------------------------

FORMAT = AnswerFormat({"type": "object"}, max_tokens=77)


def test_the_answer_schema_and_budget_are_sent(server: LLMServer) -> None:
    server.client().complete(MESSAGES, answer_format=FORMAT)
    (request,) = server.requests
    assert request["json"]["max_tokens"] == 77
    assert request["json"]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}},
    }


def test_a_refused_format_falls_back_to_weaker_ones_and_is_remembered(server: LLMServer) -> None:
    server.script(
        Reply(status=400, body=b'{"error": "response_format type json_schema is not supported"}'),
        Reply(status=422, body=b'{"error": "unknown field: response_format.schema"}'),
        Reply(status=400, body=b'{"error": "json mode is not supported by this model"}'),
    )
    client = server.client()
    assert client.complete(MESSAGES, answer_format=FORMAT).text == '{"ok": true}'
    client.complete(MESSAGES, answer_format=FORMAT)
    client.complete(MESSAGES)
    formats = [r["json"].get("response_format") for r in server.requests]
    assert [f and f["type"] for f in formats] == [
        "json_schema",
        "json_object",
        "json_object",
        None,
        None,
        None,
    ]
    assert formats[1] == {"type": "json_object", "schema": {"type": "object"}}
    assert client.usage.calls == 3  # the refusals are remembered


def test_llama_cpp_pythons_500_refusal_of_json_schema_is_not_retried(server: LLMServer) -> None:
    """llama-cpp-python's server answers a json_schema response_format with HTTP 500 (a validation
    error): it was retried 3 times and failed the call; now the next format is asked for at once."""
    refusal = (
        b"{\"error\":{\"message\":\"1 validation error: {'type': 'literal_error', 'loc': ('body', "
        b"'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}\"}}"
    )
    server.script(Reply(status=500, body=refusal))
    client = server.client()
    assert client.complete(MESSAGES, answer_format=FORMAT).text == '{"ok": true}'
    assert [r["json"]["response_format"]["type"] for r in server.requests] == ["json_schema", "json_object"]
    assert "schema" in server.requests[1]["json"]["response_format"]


def test_a_format_is_remembered_as_refused_only_once_a_weaker_one_is_answered(server: LLMServer) -> None:
    server.script(
        Reply(status=400, body=b'{"error": "json_schema not supported"}'),
        *[Reply(status=503, body=b"busy")] * 3,
    )
    client = server.client()
    with pytest.raises(LLMError, match="503"):
        client.complete(MESSAGES, answer_format=FORMAT)
    client.complete(MESSAGES, answer_format=FORMAT)
    assert server.requests[-1]["json"]["response_format"]["type"] == "json_schema"


def test_a_400_for_another_reason_is_no_format_refusal(server: LLMServer) -> None:
    server.script(Reply(status=400, body=b'{"error": "context length exceeded"}'))
    with pytest.raises(LLMError, match="HTTP 400"):
        server.client().complete(MESSAGES, answer_format=FORMAT)
    assert len(server.requests) == 1


def test_a_plain_request_gets_the_clients_token_budget(server: LLMServer) -> None:
    server.client(max_tokens=5).complete(MESSAGES, json_output=False)
    assert server.requests[0]["json"]["max_tokens"] == 5
    with pytest.raises(ValueError, match="max_tokens"):
        server.client(max_tokens=0)


def test_an_answer_stopped_at_its_budget_is_marked_truncated(server: LLMServer) -> None:
    server.script(Reply(content='{"memories": [', finish_reason="length"), OK)
    client = server.client()
    assert client.complete(MESSAGES).truncated and not client.complete(MESSAGES).truncated


def test_a_timed_out_request_is_not_sent_again_by_default(server: LLMServer) -> None:
    """A local server goes on computing an abandoned answer: the retries only queued behind it (4
    attempts, 243 s and nothing stored with SmolLM2 at the old 60 s timeout)."""
    server.script(Reply(content='{"ok": true}', delay_s=1.0))
    config = LightMemConfig(llm="openai", llm_base_url=server.base_url, llm_model="m", llm_timeout_s=0.2)
    client = OpenAIClient.from_config(config)
    assert config.llm_timeout_s == 0.2 and LightMemConfig().llm_timeout_s == 600.0
    with pytest.raises(LLMError, match=r"no answer within timeout_s=0\.2 s, not retried"):
        client.complete(MESSAGES)
    assert len(server.requests) == 1
    retrying = OpenAIClient.from_config(replace(config, llm_retry_timeouts=True, llm_timeout_s=0.5))
    server.script(Reply(content='{"ok": true}', delay_s=1.0))
    assert retrying.complete(MESSAGES).text == '{"ok": true}' and len(server.requests) == 3
