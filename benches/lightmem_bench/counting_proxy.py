"""An OpenAI-compatible endpoint on 127.0.0.1 that forwards every request to another server and counts
the LLM calls and tokens of its chat completions, as that server reports them in `usage`.

Systems whose clients count differently (lightmem counts the server's figures, mem0 counts nothing) are
measured alike when they all go through one proxy: each system's cost is the difference of two
`usage` snapshots taken around its run. Requests are forwarded byte for byte, and the answers and error
statuses come back unchanged (lightmem's response-format fallbacks see what the server said).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

from lightmem.llm import Completion, UsageCounter

from lightmem_bench.local_server import JSONHandler, LocalServer


class CountingProxy(LocalServer):
    """The proxy in a background thread; a context manager. `base_url` ends in `/v1` like `upstream`'s."""

    def __init__(self, upstream: str, timeout_s: float = 3600.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.timeout_s = timeout_s
        self.usage = UsageCounter()
        super().__init__(_handler_class(self), "counting-proxy")

    def forward(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """Send the request upstream; its status and body. Chat completion answers are counted."""
        suffix = path.removeprefix("/v1")
        request = urllib.request.Request(f"{self.upstream}{suffix}", data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        if method == "POST" and suffix.rstrip("/").endswith("/chat/completions"):
            self.usage.add(_completion(data))
        return status, data


def _completion(data: bytes) -> Completion:
    """A chat completion body as counted: its server-reported usage (0 when absent)."""
    answer: Any = json.loads(data)
    usage = answer.get("usage") or {}
    text = (answer.get("choices") or [{}])[0].get("message", {}).get("content") or ""
    return Completion(str(text), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))


def _handler_class(proxy: CountingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(JSONHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self.send_json(*proxy.forward("POST", self.path, self.rfile.read(length)))

        def do_GET(self) -> None:
            self.send_json(*proxy.forward("GET", self.path, None))

    return Handler
