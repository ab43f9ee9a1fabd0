"""An HTTP server on 127.0.0.1 served from a daemon thread, and its JSON answers: what the harness's mock
LLM server and its counting proxy share."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

_Server = TypeVar("_Server", bound="LocalServer")


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON bodies and logs no line per request."""

    def send_json(self, status: int, data: bytes) -> None:
        """Answer `status` with the JSON body `data`."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request."""


class LocalServer:
    """`handler` serving on 127.0.0.1:`port` (0: a free port) from a daemon thread named `name`; a
    context manager. `base_url` ends in `/v1`, as OpenAI-style clients expect."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, port: int = 0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, e.g. http://127.0.0.1:41234/v1."""
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def start(self: _Server) -> _Server:
        """Start serving in the daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self: _Server) -> _Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
