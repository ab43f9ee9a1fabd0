"""The fakes of the tests, in one place: a tiny deterministic embedder, rule-based and scripted LLMs that
speak lightmem's LLM protocol in process, and `LLMServer`, a scripted OpenAI-compatible server on
127.0.0.1 whose answers (`Reply`) can be made to fail. The fixtures that hand them out are in conftest.py."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt
from lightmem.llm import Completion, OfflineLLM, OpenAIClient, UsageCounter, estimate_tokens
from lightmem.prompts import CONSOLIDATE_SYSTEM, AnswerFormat, parse_consolidate_prompt

FAKE_KEY = "sk-lightmem-test-DO-NOT-LEAK-4242"
"""The API key that the tests' clients send, so that a test can check it never leaks."""

_MOVED = re.compile(r"^(\w+) moved to (\w+)")
_LIVES = re.compile(r"^(\w+) lives in (\w+)")


class HashEmbedder:
    """Words hashed into a small vector (plus a constant component, so no text maps to zero)."""

    def __init__(self, dim: int = 32) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length float32 vectors, one row per text."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        vectors[:, 0] = 0.5
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest()
                vectors[row, 1 + int.from_bytes(digest, "little") % (self.dim - 1)] += 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class RuleLLM:
    """Speaks the LLM protocol and answers consolidation requests by rules over the texts.

    In a cluster, an older "X lives in A" facing a newer "X moved to B" is updated to "X lives in B"
    (`on_move="update"`) or deleted (`on_move="delete"`); an older memory whose text a newer one contains
    is merged into the newer one. Everything else is kept. `requests` records every request's clusters.
    """

    def __init__(self, on_move: str = "update") -> None:
        self.on_move = on_move
        self.requests: list[list[list[dict[str, Any]]]] = []
        self._usage = UsageCounter()

    @property
    def usage(self) -> UsageCounter:
        return self._usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        assert messages[0]["content"] == CONSOLIDATE_SYSTEM and answer_format is not None
        clusters = [
            [{"id": number, "text": text} for number, text in cluster]
            for cluster in parse_consolidate_prompt(messages[-1]["content"])
        ]
        self.requests.append(clusters)
        decisions = [d for memories in clusters for d in self._decide(memories)]
        text = json.dumps({"changes": decisions})
        completion = Completion(
            text, estimate_tokens(*(m["content"] for m in messages)), estimate_tokens(text)
        )
        self._usage.add(completion)
        return completion

    def _decide(self, memories: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for i, old in enumerate(memories):
            for new in memories[i + 1 :]:
                lives, moved = _LIVES.match(old["text"]), _MOVED.match(new["text"])
                if lives and moved and lives.group(1) == moved.group(1):
                    if self.on_move == "update":
                        text = f"{moved.group(1)} lives in {moved.group(2)}"
                        yield {"memory": old["id"], "action": "update", "text": text, "reason": "moved"}
                    else:
                        yield {
                            "memory": old["id"],
                            "action": "delete",
                            "reason": "superseded",
                        }
                    break
                if old["text"] != new["text"] and old["text"].rstrip(".") in new["text"]:
                    yield {"memory": old["id"], "action": "merge", "into": new["id"], "text": new["text"]}
                    break


class ScriptedLLM:
    """Answers every request with the same text, or raises the given error."""

    def __init__(self, answer: str = "", error: Optional[Exception] = None) -> None:
        self.answer = answer
        self.error = error
        self._usage = UsageCounter()

    @property
    def usage(self) -> UsageCounter:
        return self._usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        if self.error is not None:
            raise self.error
        completion = Completion(self.answer, 10, 10)
        self._usage.add(completion)
        return completion


class ScriptedConsolidation:
    """An LLM that extracts as `OfflineLLM` does and answers every update decision from a script."""

    def __init__(self, script: list[dict[str, Any]]) -> None:
        self._offline = OfflineLLM()
        self._script = script
        self.usage = UsageCounter()

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        if messages[0]["content"] == CONSOLIDATE_SYSTEM and self._script:
            text = json.dumps({"decisions": self._script.pop(0)["decisions"]})
        else:
            text = self._offline.complete(messages).text
        completion = Completion(text, 1, 1)
        self.usage.add(completion)
        return completion


@dataclass
class Reply:
    """A scripted answer: an HTTP status with a raw `body` (bytes, or a JSON object), or, when `content`
    is set, a chat completion with that text (reporting `usage` if given).

    Hostile ways to send it: `drip_s` > 0 sends the body one byte every `drip_s` seconds (the status line
    and headers too when `drip_head`); `endless` sends no Content-Length and, after the body, one space
    every `drip_s` seconds until the client leaves (or 60 s pass)."""

    status: int = 200
    body: Union[bytes, dict[str, Any]] = b""
    content: Optional[str] = None
    usage: Optional[dict[str, int]] = None
    finish_reason: str = "stop"  # "length": the answer stopped at its max_tokens
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_body: bool = False  # announce the full Content-Length but send half the body
    drip_s: float = 0.0
    drip_head: bool = False
    endless: bool = False

    def payload(self) -> bytes:
        """The bytes of the response body."""
        if self.content is not None:
            return json.dumps(chat_completion(self.content, self.usage, self.finish_reason)).encode("utf-8")
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode("utf-8")


def chat_completion(
    content: str, usage: Optional[dict[str, int]] = None, finish_reason: str = "stop"
) -> dict[str, Any]:
    """An OpenAI chat-completion response object answering `content`."""
    answer: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        answer["usage"] = usage
    return answer


class LLMServer:
    """An OpenAI-compatible server on 127.0.0.1 that records every request (POST, and GET as a client
    following a redirect sends it) and answers with the queued `Reply`s in order, then with `default`, or
    (no default) as `OfflineLLM` does (lightmem's own extraction and consolidation requests answered
    extractively, 100 + 10 tokens, after `delay_s`; a GET gets 405). Each request is recorded with its
    `time.monotonic()` time."""

    def __init__(self, default: Optional[Reply] = None, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        """Seconds the extractive answers (no `default`) take, as a model's would: settable at any time."""
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self._default = default
        self._llm = OfflineLLM()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def client(self, **overrides: Any) -> OpenAIClient:
        """A client of this server with the fake key, short timeouts and tiny backoffs."""
        options: dict[str, Any] = {"api_key": FAKE_KEY, "timeout_s": 2.0, "max_retries": 2}
        options.update({"backoff_s": 0.001, "max_backoff_s": 0.01, **overrides})
        return OpenAIClient(self.base_url, "test-model", **options)

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.replies:
                return self.replies.pop(0)
        if self._default is not None:
            return self._default
        if request["json"] is None:
            return Reply(status=405, body=b"method not allowed")
        content = self._llm.complete(request["json"]["messages"]).text
        return Reply(
            content=content, usage={"prompt_tokens": 100, "completion_tokens": 10}, delay_s=self.delay_s
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._answer(json.loads(raw))

            def do_GET(self) -> None:
                self._answer(None)

            def _answer(self, payload: Any) -> None:
                request = {
                    "time": time.monotonic(),
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "json": payload,
                }
                reply = server._next(request)
                time.sleep(reply.delay_s)
                body = reply.payload()
                if reply.drip_s > 0 or reply.endless:
                    self._trickle(reply, body)
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if reply.cut_body else body)
                    self.close_connection = reply.cut_body
                except OSError:  # the client gave up (timeout) and closed the connection
                    pass

            def _trickle(self, reply: Reply, body: bytes) -> None:
                head = [f"HTTP/1.0 {reply.status} Scripted", "Content-Type: application/json"]
                head += [] if reply.endless else [f"Content-Length: {len(body)}"]
                head += [f"{name}: {value}" for name, value in reply.headers.items()]
                raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                fast, slow = (b"", raw_head + body) if reply.drip_head else (raw_head, body)
                self.close_connection = True
                try:
                    self.wfile.write(fast)
                    for byte in slow:
                        if server._stopped.wait(reply.drip_s):
                            return
                        self.wfile.write(bytes([byte]))
                    end = time.monotonic() + 60.0
                    while reply.endless and time.monotonic() < end:
                        if server._stopped.wait(reply.drip_s):
                            return
                        self.wfile.write(b" ")
                except OSError:  # the client gave up and closed the connection
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()
