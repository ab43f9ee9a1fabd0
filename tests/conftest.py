"""Shared fixtures: one real ONNX embedder for the whole session, the tiny hashing embedder, and an
OpenAI-compatible server on loopback whose answers can be scripted to fail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import pytest
from crash_worker import HashEmbedder
from lightmem.bench.mock_server import MockLLM
from lightmem.embedding import OnnxEmbedder

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


@dataclass
class Reply:
    """A scripted answer: an HTTP status with a raw body, or (content set) a chat answer with that text."""

    status: int = 200
    body: bytes = b""
    content: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_body: bool = False  # announce the full Content-Length but send half the body


class LLMServer:
    """Answers chat completions as `lightmem.bench.mock_server.MockLLM` does (lightmem's own extraction
    and consolidation requests, answered extractively), unless a scripted `Reply` is queued."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self._llm = MockLLM()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.replies:
                return self.replies.pop(0)
        return Reply(content=self._llm.reply(request["json"]["messages"]))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply = server._next({"headers": dict(self.headers), "json": json.loads(raw)})
                time.sleep(reply.delay_s)
                body = reply.body if reply.content is None else _chat(reply.content)
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

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _chat(content: str) -> bytes:
    answer = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10},
    }
    return json.dumps(answer).encode("utf-8")


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A running `LLMServer` on 127.0.0.1."""
    with LLMServer() as server:
        yield server
