"""The OpenAPI 3.1 document of `lightmem serve`, served at /openapi.json (a test checks that it lists
exactly the app's routes)."""

from __future__ import annotations

import functools
from typing import Any

from lightmem.limits import MAX_MESSAGE_CHARS, MAX_METADATA_BYTES, MAX_RESULTS
from lightmem.service.requests import MAX_BODY_BYTES

_ID = {"type": "string", "minLength": 1}
_SCOPE = {
    "user_id": {**_ID, "description": "whose memories (mem0's user_id)"},
    "agent_id": {**_ID, "description": "which agent's"},
    "run_id": {**_ID, "description": "which run or session's"},
}
_MESSAGE = {
    "type": "object",
    "required": ["content"],
    "properties": {
        "role": {"type": "string", "default": "user"},
        "content": {"type": "string", "maxLength": MAX_MESSAGE_CHARS},
        "name": {"type": "string", "description": "the speaker"},
        "id": {"type": "string", "description": "a stable message id: a retried add is stored once"},
        "timestamp": {"type": "string", "format": "date-time", "description": "when it was said"},
    },
}
_METADATA = {"type": "object", "description": f"JSON, at most {MAX_METADATA_BYTES:,} bytes"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_RESULTS, "default": 20}
_MEMORY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "memory": {"type": "string", "description": "the text"},
        "hash": {"type": "string"},
        "metadata": {"type": ["object", "null"]},
        "score": {"type": ["number", "null"], "description": "cosine similarity to the query, in [0, 1]"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        **_SCOPE,
    },
}
_RESULTS = {"type": "object", "properties": {"results": {"type": "array", "items": _MEMORY}}}
_MESSAGE_REPLY = {"type": "object", "properties": {"message": {"type": "string"}}}
_ERROR = {"type": "object", "properties": {"detail": {"type": "string", "description": "what is wrong"}}}


def _body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    content = {"application/json": {"schema": schema}}
    return {"required": bool(required), "content": content}


def _query(properties: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "schema": schema} for name, schema in properties.items()]


_PATH_ID = {"name": "memory_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _operation(summary: str, answer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    errors = {
        "400": "bad input: the message names the field and the rule",
        "401": "no API key, or an unknown one",
        "403": "the API key may not touch this scope (or route)",
        "404": "no such memory in the scope",
        "413": f"body over {MAX_BODY_BYTES:,} bytes",
        "502": "the LLM failed (the messages stay buffered)",
        "503": "the store cannot be used",
    }
    responses: dict[str, Any] = {"200": {"description": "done", "content": _json(answer)}}
    responses.update({code: {"description": text, "content": _json(_ERROR)} for code, text in errors.items()})
    return {"summary": summary, "responses": responses, **extra}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The document (built once)."""
    scope_query = _query(_SCOPE)
    scope_body = _body(_SCOPE)
    add = {
        "messages": {"oneOf": [{"type": "string"}, _MESSAGE, {"type": "array", "items": _MESSAGE}]},
        **_SCOPE,
        "metadata": _METADATA,
        "infer": {"type": "boolean", "default": True, "description": "false: store each message as it is"},
    }
    search = {
        "query": {"type": "string", "maxLength": MAX_MESSAGE_CHARS},
        **_SCOPE,
        "filters": {"type": "object", "description": "mem0's filters: scope ids, metadata conditions"},
        "top_k": _COUNT,
        "limit": _COUNT,
        "threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1},
    }
    update = {"text": {"type": "string", "maxLength": MAX_MESSAGE_CHARS}, "data": {"type": "string"}}
    update["metadata"] = _METADATA
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    counters = {"type": "object", "additionalProperties": {"type": "number"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lightmem",
            "version": "1",
            "description": "mem0's REST API over one lightmem memory, plus flush, consolidate and stats. "
            "Send the API key in the X-API-Key header (or Authorization: Bearer).",
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/memories": {
                "post": _operation(
                    "Add messages to a scope", _RESULTS, requestBody=_body(add, ("messages",))
                ),
                "get": _operation(
                    "List a scope's memories, oldest first",
                    _RESULTS,
                    parameters=_query({**_SCOPE, "top_k": _COUNT, "limit": _COUNT}),
                ),
                "delete": _operation(
                    "Delete every memory of a scope", _MESSAGE_REPLY, parameters=scope_query
                ),
            },
            "/memories/{memory_id}": {
                "get": _operation("One memory", _MEMORY, parameters=[_PATH_ID, *scope_query]),
                "put": _operation(
                    "Replace a memory's text and/or merge metadata",
                    _MESSAGE_REPLY,
                    parameters=[_PATH_ID, *scope_query],
                    requestBody=_body(update),
                ),
                "delete": _operation(
                    "Delete one memory", _MESSAGE_REPLY, parameters=[_PATH_ID, *scope_query]
                ),
            },
            "/memories/{memory_id}/history": {
                "get": _operation(
                    "The recorded changes of a memory",
                    {"type": "array", "items": {"type": "object"}},
                    parameters=[_PATH_ID, *scope_query],
                )
            },
            "/search": {
                "post": _operation(
                    "The memories most relevant to a query", _RESULTS, requestBody=_body(search, ("query",))
                )
            },
            "/reset": {"post": _operation("Delete everything (admin key)", _MESSAGE_REPLY)},
            "/flush": {
                "post": _operation(
                    "Turn buffered messages into memories now", _RESULTS, requestBody=scope_body
                )
            },
            "/consolidate": {
                "post": _operation("Merge duplicates, resolve conflicts", counters, requestBody=scope_body)
            },
            "/stats": {
                "get": _operation("Memories, pending messages, counters", counters, parameters=scope_query)
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "up", "content": _json(status)}},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: the memory is open",
                    "security": [],
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "starting or stopping"},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "it"}},
                }
            },
        },
    }
