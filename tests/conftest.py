"""Shared fixtures: one real ONNX embedder for the whole session, the tiny hashing embedder, an
OpenAI-compatible server on loopback whose answers can be scripted to fail, and the store kinds
(`stores.STORE_KINDS`) the behavioural tests run against."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional, Union

import pytest
from crash_worker import HashEmbedder
from lightmem.bench.mock_server import MockLLM
from lightmem.embedding import OnnxEmbedder
from lightmem.llm import OpenAIClient
from stores import STORE_KINDS, StoreKind

FAKE_KEY = "sk-lightmem-test-DO-NOT-LEAK-4242"


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    """The real embedder (all-MiniLM-L6-v2 int8), loaded once and shared by every test."""
    model = OnnxEmbedder()
    assert model.dim == 384
    return model


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """A deterministic 32-d embedder for the tests of scoping and storage, where semantics do not matter."""
    return HashEmbedder()


@pytest.fixture(scope="session", params=STORE_KINDS, ids=[kind.name for kind in STORE_KINDS])
def store_kind(request: pytest.FixtureRequest) -> StoreKind:
    """Each implementation of `MemoryStore` in turn (skipped with its reason where it cannot start)."""
    kind: StoreKind = request.param
    reason = kind.unavailable()
    if reason is not None:
        pytest.skip(f"{kind.name} store: {reason}")
    return kind


@pytest.fixture
def store_location(store_kind: StoreKind, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty location of a store of `store_kind`, for `open_store` and `Memory`."""
    with store_kind.location(tmp_path) as location:
        yield location


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
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_body: bool = False  # announce the full Content-Length but send half the body
    drip_s: float = 0.0
    drip_head: bool = False
    endless: bool = False

    def payload(self) -> bytes:
        """The bytes of the response body."""
        if self.content is not None:
            return json.dumps(chat_completion(self.content, self.usage)).encode("utf-8")
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode("utf-8")


def chat_completion(content: str, usage: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """An OpenAI chat-completion response object answering `content`."""
    answer: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }
    if usage is not None:
        answer["usage"] = usage
    return answer


class LLMServer:
    """An OpenAI-compatible server on 127.0.0.1 that records every request (POST, and GET as a client
    following a redirect sends it) and answers with the queued `Reply`s in order, then with `default`, or
    (no default) as `lightmem.bench.mock_server.MockLLM` does (lightmem's own extraction and consolidation
    requests answered extractively, 100 + 10 tokens; a GET gets 405)."""

    def __init__(self, default: Optional[Reply] = None) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self._default = default
        self._llm = MockLLM()
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
        content = self._llm.reply(request["json"]["messages"])
        return Reply(content=content, usage={"prompt_tokens": 100, "completion_tokens": 10})

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


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A running `LLMServer` on 127.0.0.1."""
    with LLMServer() as server:
        yield server
