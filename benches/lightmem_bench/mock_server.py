"""A deterministic OpenAI-compatible server on loopback, to run the real-LLM code paths offline.

`POST /v1/chat/completions` answers lightmem's extraction and consolidation requests as `OfflineLLM`
does, the benchmark's QA requests extractively (the memory sharing most words with the question), and
its judge requests by word overlap (CORRECT when every word of the gold answer is in the answer).
`POST /v1/embeddings` serves an `Embedder` when one is given. Usage is reported as `estimate_tokens`.

Run it alone with ``python -m lightmem_bench.mock_server --port 8000``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional

from lightmem.embedding import Embedder
from lightmem.llm import LLMError, OfflineLLM, estimate_tokens

from lightmem_bench.local_server import JSONHandler, LocalServer
from lightmem_bench.qa import ANSWER_SYSTEM, JUDGE_SYSTEM, read_request

MODEL = "lightmem-mock"
_WORDS = re.compile(r"\w+")
_MEM0_NEW = "## New Messages\n"
_MEM0_END = "\n\n## Observation Date"
_MEM0_ROLE = re.compile(r"^(user|assistant|system): ")


class MockRequestError(ValueError):
    """A request the mock server cannot serve (answered with HTTP 400)."""


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def _user_fields(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    content = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), None)
    try:
        return read_request(content) if isinstance(content, str) else {}
    except ValueError as err:
        raise MockRequestError(str(err)) from None


def answer_question(payload: dict[str, Any]) -> str:
    """The memory sharing most words with the question (the first on ties), or "unknown"."""
    question = _words(str(payload.get("question", "")))
    memories = [str(m) for m in payload.get("memories", [])]
    best = max(memories, key=lambda memory: len(question & _words(memory)), default=None)
    return best if best is not None and question & _words(best) else "unknown"


def mem0_extraction(prompt: str) -> str:
    """mem0's additive extraction answered extractively: one memory holding the new messages' text."""
    new = prompt.partition(_MEM0_NEW)[2].partition(_MEM0_END)[0]
    lines = [_MEM0_ROLE.sub("", line).strip() for line in new.splitlines()]
    text = " ".join(line for line in lines if line)
    return json.dumps({"memory": [{"id": "0", "text": text}] if text else []}, ensure_ascii=False)


def judge_answer(payload: dict[str, Any]) -> str:
    """CORRECT when every word of the gold answer occurs in the answer, else WRONG."""
    gold = _words(str(payload.get("gold_answer", "")))
    return "CORRECT" if gold and gold <= _words(str(payload.get("answer", ""))) else "WRONG"


class MockLLM:
    """The chat logic of the server, usable without HTTP."""

    def __init__(self) -> None:
        self._offline = OfflineLLM()

    def reply(self, messages: Sequence[dict[str, Any]]) -> str:
        """The answer text to a chat request; raises `MockRequestError` when it is not one it knows."""
        if not messages or not all(isinstance(m, dict) for m in messages):
            raise MockRequestError("'messages' must be a non-empty list of objects")
        system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
        if system == ANSWER_SYSTEM:
            return answer_question(_user_fields(messages))
        if system == JUDGE_SYSTEM:
            return judge_answer(_user_fields(messages))
        user = str(messages[-1].get("content", ""))
        if _MEM0_NEW in user:
            return mem0_extraction(user)
        try:
            return self._offline.complete([dict(m) for m in messages]).text
        except LLMError as err:
            raise MockRequestError(str(err)) from None


class MockLLMServer(LocalServer):
    """The mock server in a background thread; a context manager. `base_url` ends in `/v1`."""

    def __init__(self, port: int = 0, embedder: Optional[Embedder] = None, delay_s: float = 0.0) -> None:
        """`delay_s`: seconds each chat answer takes, as a slow model's would."""
        self.llm = MockLLM()
        self.embedder = embedder
        self.delay_s = delay_s
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__(_handler_class(self), "mock-llm", port)

    def handle(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to a POST of `body` to `path`; raises `MockRequestError` for a bad request."""
        with self._lock:
            self.requests += 1
        if path.endswith("/chat/completions"):
            return self._chat(body)
        if path.endswith("/embeddings") and self.embedder is not None:
            return _embeddings(self.embedder, body)
        raise MockRequestError(f"no such endpoint: POST {path}")

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise MockRequestError("'messages' must be a list")
        text = self.llm.reply(messages)
        time.sleep(self.delay_s)
        prompt_tokens = estimate_tokens(*(str(m.get("content", "")) for m in messages))
        completion_tokens = estimate_tokens(text)
        return {
            "id": f"mock-{self.requests}",
            "object": "chat.completion",
            "model": body.get("model", MODEL),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _embeddings(embedder: Embedder, body: dict[str, Any]) -> dict[str, Any]:
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise MockRequestError("'input' must be a string or a list of strings")
    vectors = embedder.embed(texts).tolist() if texts else []
    return {
        "object": "list",
        "model": body.get("model", MODEL),
        "data": [
            {"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": estimate_tokens(*texts), "total_tokens": estimate_tokens(*texts)},
    }


def _handler_class(server: MockLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(JSONHandler):
        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise MockRequestError("the request body must be a JSON object")
                self._send(200, server.handle(self.path, body))
            except ValueError as err:  # MockRequestError too
                self._send(400, {"error": {"message": str(err), "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no such endpoint: GET {self.path}"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            self.send_json(status, json.dumps(payload).encode("utf-8"))

    return Handler


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    parser.add_argument("--embeddings", action="store_true", help="also serve /v1/embeddings (ONNX model)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each chat answer takes (default 0)")
    args = parser.parse_args(argv)
    embedder = None
    if args.embeddings:
        from lightmem.embedding import OnnxEmbedder

        embedder = OnnxEmbedder()
    with MockLLMServer(args.port, embedder, delay_s=args.delay) as server:
        print(f"mock LLM server at {server.base_url} (model {MODEL!r}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
