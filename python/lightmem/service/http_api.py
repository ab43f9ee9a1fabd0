"""The HTTP API of `lightmem serve`: mem0's REST routes and payloads over one memory, plus flush,
consolidate, stats, health, readiness and an OpenAPI document (a Starlette app).

Every memory call runs in a worker thread (`lightmem.Memory` is safe to share between threads), so the
event loop never waits on SQLite, the embedder or an LLM. Each request's scope is checked against the
caller's API key (`lightmem.service.keys`) before the memory is touched.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import asdict
from typing import Any, Callable, Optional

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lightmem.limits import quoted
from lightmem.llm import LLMError
from lightmem.mem0 import Memory as Mem0Memory
from lightmem.mem0.filters import SCOPE_KEYS, scope_ids, translate
from lightmem.mem0.results import memory_result
from lightmem.service.keys import (
    LOCAL_CALLER,
    Caller,
    KeyRing,
    is_loopback_host_header,
    is_loopback_origin,
    relay_header,
)
from lightmem.service.openapi import openapi_document
from lightmem.service.requests import RequestError, integer, json_body, query_params
from lightmem.store import StoreError
from lightmem.types import MemoryNotFoundError

logger = logging.getLogger("lightmem.serve")

ADD_FIELDS = (
    "messages",
    *SCOPE_KEYS,
    "metadata",
    "infer",
    "timestamp",
    "expiration_date",
    "memory_type",
    "prompt",
)
SEARCH_FIELDS: tuple[str, ...] = ("query", *SCOPE_KEYS, "filters", "top_k", "limit", "threshold", "rerank")
SEARCH_FIELDS += ("explain", "reference_date", "show_expired")
UPDATE_FIELDS = ("text", "data", "metadata")
LIST_PARAMS = (*SCOPE_KEYS, "top_k", "limit")
DEFAULT_THREADS = 8

Handler = Callable[[Request], Awaitable[Any]]


class Service:
    """One memory, the keys that may use it and the worker threads that run its calls."""

    def __init__(
        self, open_memory: Callable[[], Mem0Memory], keys: KeyRing, threads: int = DEFAULT_THREADS
    ) -> None:
        """`open_memory` is called once, in a worker thread, when the app starts."""
        self._open_memory = open_memory
        self.keys = keys
        self._threads = threads
        self._limiter: Optional[anyio.CapacityLimiter] = None  # made in the event loop (lifespan)
        self._memory: Optional[Mem0Memory] = None
        self.state = "starting"

    @property
    def memory(self) -> Mem0Memory:
        if self._memory is None:
            raise RequestError(503, f"the memory is not open (server {self.state})")
        return self._memory

    async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(*args, **kwargs)` in a worker thread."""
        call = functools.partial(function, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Opens the memory before the first request; closes it after the last one (uvicorn lets the
        requests in progress finish first on SIGTERM, so everything acknowledged is stored)."""
        self._limiter = anyio.CapacityLimiter(self._threads)
        self._memory = await self.run(self._open_memory)
        self.state = "ready"
        try:
            yield
        finally:
            self.state = "stopping"
            memory, self._memory = self._memory, None
            await self.run(memory.close)
            logger.info("memory closed")

    def caller(self, request: Request) -> Caller:
        """Who sent `request`, by its X-API-Key (or Authorization: Bearer) header; 401 if nobody. Without
        keys, a program on this machine, for a request addressed to it: a web page whose name was rebound
        to 127.0.0.1 (DNS rebinding) sends its own name as Host, and gets 403; a page of another site
        calling 127.0.0.1 itself sends its Origin, and gets 403 (a POST without Content-Type needs no
        preflight: any page the user opened could add memories or POST /reset); a request relayed by a
        proxy (`keys.RELAY_HEADERS`) gets 403, as a reverse proxy on this machine relays the internet's."""
        if not len(self.keys):
            host = request.headers.get("host")  # none (HTTP/1.0): a local client, not a browser
            if host is not None and not is_loopback_host_header(host):
                raise RequestError(
                    403,
                    f"this server has no API keys, so it answers only requests addressed to this machine "
                    f"(Host 127.0.0.1, localhost or [::1]), not to {host!r}",
                )
            relayed = relay_header(request.headers)
            if relayed is not None:
                raise RequestError(
                    403,
                    f"this server has no API keys, so it answers only programs on this machine, and this "
                    f"request came through a proxy (its {relayed} header), which may relay anyone's: give "
                    "the server keys (--keys) to serve it behind a proxy",
                )
            origin = request.headers.get("origin")  # browsers send it; programs do not
            if origin is not None and not is_loopback_origin(origin):
                raise RequestError(
                    403,
                    f"this server has no API keys, so it answers only programs on this machine, not a web "
                    f"page of {origin!r:.80}: give the server keys (--keys) to serve pages through them",
                )
            return LOCAL_CALLER
        key = request.headers.get("x-api-key")
        if key is None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else None
        if not key:
            raise RequestError(401, "authentication required: send your API key in the X-API-Key header")
        caller = self.keys.identify(key)
        if caller is None:
            raise RequestError(401, "invalid API key")
        return caller

    def scope(self, caller: Caller, ids: Mapping[str, str], *, default: bool = True) -> dict[str, str]:
        """The scope a request from `caller` touches: `ids` (trimmed scope ids) if the caller may touch
        them (403 else); with no ids, the caller's one scope when `default` (an admin: none, i.e. any)."""
        if caller.admin:
            return dict(ids)
        if not ids:
            if default and len(caller.scopes) == 1:
                return dict(caller.scopes[0])
            raise RequestError(
                400, "name the scope: give user_id, agent_id or run_id (one this API key may touch)"
            )
        if not caller.allows(ids):
            named = ", ".join(f"{name}={quoted(value)}" for name, value in ids.items())
            raise RequestError(403, f"this API key may not touch the scope {named}")
        return dict(ids)

    def admin(self, caller: Caller, route: str) -> None:
        """403 unless `caller` holds an admin key."""
        if not caller.admin:
            raise RequestError(403, f"{route} touches the whole store: it needs the admin API key")


def create_app(service: Service) -> Starlette:
    """The ASGI app of `service`: the routes of `openapi_document()`, every error a JSON `{"detail"}`."""
    routes = _Routes(service)
    table = [
        ("/memories", routes.add, ["POST"]),
        ("/memories", routes.get_all, ["GET"]),
        ("/memories", routes.delete_all, ["DELETE"]),
        ("/memories/{memory_id}", routes.get, ["GET"]),
        ("/memories/{memory_id}", routes.update, ["PUT"]),
        ("/memories/{memory_id}", routes.delete, ["DELETE"]),
        ("/memories/{memory_id}/history", routes.history, ["GET"]),
        ("/search", routes.search, ["POST"]),
        ("/reset", routes.reset, ["POST"]),
        ("/flush", routes.flush, ["POST"]),
        ("/consolidate", routes.consolidate, ["POST"]),
        ("/stats", routes.stats, ["GET"]),
        ("/health", routes.health, ["GET"]),
        ("/ready", routes.ready, ["GET"]),
        ("/openapi.json", routes.openapi, ["GET"]),
    ]
    return Starlette(
        routes=[Route(path, _endpoint(handler), methods=methods) for path, handler, methods in table],
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
        lifespan=service.lifespan,
    )


class _Routes:
    """The handlers: each returns the JSON payload of a 200 answer, or raises."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def add(self, request: Request) -> Any:
        caller = self.service.caller(request)
        body = await json_body(request, ADD_FIELDS)
        if "messages" not in body:
            raise RequestError(400, "messages is required: a string, a message object or a list of them")
        scope = self.service.scope(caller, _ids(body))
        messages = body.pop("messages")
        return await self.service.run(self.service.memory.add, messages, **scope, **body)

    async def get_all(self, request: Request) -> Any:
        caller = self.service.caller(request)
        params = query_params(request, LIST_PARAMS)
        scope = self.service.scope(caller, _ids(params))
        counts = {"top_k": integer(params, "top_k"), "limit": integer(params, "limit")}
        return await self.service.run(self.service.memory.get_all, **scope, **counts)

    async def delete_all(self, request: Request) -> Any:
        caller = self.service.caller(request)
        scope = self.service.scope(caller, _ids(query_params(request, SCOPE_KEYS)), default=False)
        await self.service.run(self.service.memory.delete_all, **scope)
        return {"message": "All relevant memories deleted"}

    async def get(self, request: Request) -> Any:
        memory_id, scope = self._one(request)
        found = await self.service.run(self.service.memory.get, memory_id, **scope)
        if found is None:
            raise RequestError(404, f"no memory with id {quoted(memory_id)}")
        return found

    async def update(self, request: Request) -> Any:
        memory_id, scope = self._one(request)
        body = await json_body(request, UPDATE_FIELDS)
        return await self.service.run(self.service.memory.update, memory_id, **body, **scope)

    async def delete(self, request: Request) -> Any:
        memory_id, scope = self._one(request)
        await self.service.run(self.service.memory.delete, memory_id, **scope)
        return {"message": "Memory deleted successfully"}

    async def history(self, request: Request) -> Any:
        memory_id, scope = self._one(request)
        return await self.service.run(self.service.memory.history, memory_id, **scope)

    def _one(self, request: Request) -> tuple[str, dict[str, str]]:
        """The memory id of the path and the scope it is looked up in."""
        caller = self.service.caller(request)
        scope = self.service.scope(caller, _ids(query_params(request, SCOPE_KEYS)))
        return request.path_params["memory_id"], scope

    async def search(self, request: Request) -> Any:
        caller = self.service.caller(request)
        body = await json_body(request, SEARCH_FIELDS)
        if "query" not in body:
            raise RequestError(400, "query is required: what to look for, in plain words")
        ids, _ = translate(body.get("filters"), _ids(body))  # the scope ids may sit in filters (mem0 2.x)
        scope = self.service.scope(caller, ids)
        query = body.pop("query")
        return await self.service.run(self.service.memory.search, query, **scope, **body)

    async def reset(self, request: Request) -> Any:
        self.service.admin(self.service.caller(request), "POST /reset")
        await json_body(request, (), empty=True)
        await self.service.run(self.service.memory.reset)
        return {"message": "All memories reset"}

    async def flush(self, request: Request) -> Any:
        caller = self.service.caller(request)
        scope = self.service.scope(caller, _ids(await json_body(request, SCOPE_KEYS, empty=True)))
        items = await self.service.run(self.service.memory.native.flush, **scope)
        return {"results": [memory_result(item, with_score=False) for item in items]}

    async def consolidate(self, request: Request) -> Any:
        caller = self.service.caller(request)
        scope = self.service.scope(caller, _ids(await json_body(request, SCOPE_KEYS, empty=True)))
        report = await self.service.run(self.service.memory.native.consolidate, **scope)
        return asdict(report)

    async def stats(self, request: Request) -> Any:
        caller = self.service.caller(request)
        scope = self.service.scope(caller, _ids(query_params(request, SCOPE_KEYS)))
        stats = await self.service.run(self.service.memory.native.stats, **scope)
        return {**scope, **stats.as_dict()}

    async def health(self, request: Request) -> Any:
        return {"status": "ok"}

    async def ready(self, request: Request) -> Any:
        if self.service.state != "ready":
            raise RequestError(503, f"not ready: the server is {self.service.state}")
        return {"status": "ready"}

    async def openapi(self, request: Request) -> Any:
        return openapi_document()


def _ids(given: dict[str, Any]) -> dict[str, str]:
    """The scope ids among `given` (removed from it), trimmed and checked as the mem0 drop-in does."""
    return scope_ids(*(given.pop(name, None) for name in SCOPE_KEYS))


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """`handler` answering 200 with its JSON payload, and every error as a JSON `{"detail": message}`
    with the library's message: 400 bad input, 401/403 keys, 404 unknown memory, 413/415 body, 502 an
    LLM that failed (its URL and answer logged, never shown: they may name internal hosts and
    accounts), 503 a store that cannot be used, 500 anything else (logged, never shown)."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except RequestError as err:
            return _error(err.status, err.detail)
        except MemoryNotFoundError as err:
            return _error(404, str(err))
        except ValueError as err:
            return _error(400, str(err))
        except LLMError as err:  # its text names the LLM's URL and quotes its answer: for the log only
            logger.warning("%s %s: the LLM failed: %s", request.method, request.url.path, err)
            status = "" if err.status is None else f" (HTTP {err.status})"
            return _error(
                502,
                f"the LLM failed{status}; the messages stay buffered for the next flush, and the server's "
                "log has the details",
            )
        except StoreError as err:
            return _error(503, str(err))
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            return _error(500, "internal error: the server's log has the details")

    return endpoint


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own errors (unknown path, wrong method) as JSON too."""
    return _error(exc.status_code, exc.detail, exc.headers)


def _error(status: int, detail: str, headers: Optional[Mapping[str, str]] = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)
