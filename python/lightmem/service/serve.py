"""`lightmem serve`: the HTTP API on uvicorn, bound to 127.0.0.1 unless told otherwise, and never
elsewhere without API keys."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import urllib.parse
from typing import Any, Optional

import uvicorn

from lightmem.mem0 import Memory as Mem0Memory
from lightmem.service.http_api import LIST_PARAMS, Service, create_app
from lightmem.service.keys import KeyRing, is_loopback, key_digest, new_key

logger = logging.getLogger("lightmem.serve")

GRACEFUL_SHUTDOWN_S = 30
"""On SIGTERM, how long requests in progress may take to finish before the memory is closed anyway."""
KEEP_ALIVE_S = 30
"""How long an idle connection is kept open: longer than clients keep theirs (httpx: 5 s), so that a
client never sends a request on a connection the server is closing (uvicorn's default, 5 s, made one
add of the 60 s load bench fail with a read error)."""


def run(args: argparse.Namespace) -> None:
    """Runs `lightmem serve` with its parsed options until SIGTERM or Ctrl-C."""
    if args.new_key:
        key = new_key()
        print(f"key:    {key}\nsha256: {key_digest(key)}")
        return
    source, keys_file = (
        ("--keys", args.keys) if args.keys is not None else ("LIGHTMEM_KEYS", os.environ.get("LIGHTMEM_KEYS"))
    )
    if keys_file is not None and not keys_file.strip():  # `LIGHTMEM_KEYS=$UNSET_VARIABLE` served keyless
        raise ValueError(
            f"{source} is empty: name the keys file (unset LIGHTMEM_KEYS and omit --keys to serve this "
            "machine only, without keys)"
        )
    keys = KeyRing.load(keys_file) if keys_file else KeyRing({})
    check_bind(args.host, keys)
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    where = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    if len(keys):
        logger.warning("lightmem serve: %s, %d API key(s) from %s", where, len(keys), keys_file)
    else:
        logger.warning(
            "lightmem serve: %s WITHOUT authentication (no API keys: local development only, and requests "
            "relayed by a proxy are refused; pass --keys FILE to require keys)",
            where,
        )
    service = Service(lambda: open_memory(args.path), keys, threads=args.threads)
    server = uvicorn.Server(uvicorn_config(create_app(service)))
    server.run(sockets=[sock])


def open_memory(path: Optional[str], **options: Any) -> Mem0Memory:
    """The memory at `path` (None: $LIGHTMEM_PATH or ./lightmem-data), created if missing."""
    return Mem0Memory(path=path, **options)


def uvicorn_config(app: Any) -> uvicorn.Config:
    """uvicorn's settings for the app: graceful shutdown, no server header, no proxy headers trusted, and
    an access log that never shows the values of query parameters the API does not take."""
    config = uvicorn.Config(
        app,
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEP_ALIVE_S,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )
    access_log = logging.getLogger("uvicorn.access")  # configured by uvicorn.Config, filters kept
    if not any(isinstance(f, UnknownQueryValues) for f in access_log.filters):
        access_log.addFilter(UnknownQueryValues())
    return config


class UnknownQueryValues(logging.Filter):
    """Replaces by *** the values of query parameters the API does not take, in uvicorn's access log lines:
    a client that sent its key as `?api_key=...` (other APIs' convention) was refused, and the line
    logged its key in clear."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access line: '%s - "%s %s HTTP/%s" %d' of client, method, target, version, status
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, target, version, status = record.args
            record.args = (client, method, redacted_target(str(target)), version, status)
        return True


def redacted_target(target: str) -> str:
    """A request target (path and query) with the value of every query parameter outside `LIST_PARAMS`
    replaced by ***."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        known = urllib.parse.unquote_plus(name) in LIST_PARAMS
        parts.append(part if known or not equals else f"{name}=***")
    return f"{path}{mark}{'&'.join(parts)}"


def check_bind(host: str, keys: KeyRing) -> None:
    """ValueError unless `host` is a loopback address or the server has API keys."""
    if len(keys) or is_loopback(host):
        return
    raise ValueError(
        f"refusing to serve on {host} without API keys: anyone who reaches it could read and change "
        "every memory. Pass --keys FILE (see `lightmem serve --new-key`), or bind 127.0.0.1"
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port): bound before the memory opens, so a port in use is an
    error at once and port 0 gives the port to log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it each
    # answer's body waited 40 ms for the ACK of its headers (Nagle and delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
