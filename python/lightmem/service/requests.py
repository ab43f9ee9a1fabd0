"""What a request to `lightmem serve` may carry: its size, its JSON body, its fields and query parameters.

The values themselves are checked by the library (`lightmem.Memory` and the mem0 drop-in), whose
messages the client gets back; here only what the library never sees: the body's size and syntax, and
field names.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Optional

from starlette.requests import Request

from lightmem.limits import MAX_MESSAGE_CHARS, MAX_METADATA_BYTES

MAX_BODY_BYTES = 12 * MAX_MESSAGE_CHARS + MAX_METADATA_BYTES + 64 * 1024
"""Largest request body: the longest text the library accepts in its longest JSON spelling (12 bytes a
character: two \\uXXXX escapes for a character beyond the BMP), metadata at its limit, and 64 KiB for the
rest. Any one message or update at the library's limits fits; a larger body is refused with 413 before
it is read whole. The library's own limits then apply to each value (400 with its message)."""


class RequestError(Exception):
    """A request the server refuses: the HTTP status and a message for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def json_body(request: Request, fields: Collection[str], *, empty: bool = False) -> dict[str, Any]:
    """The request's JSON object, whose keys must be among `fields` (`empty`: no body at all stands for
    `{}`); RequestError (413, 415, 400) else."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise RequestError(
            415, f"the body must be JSON, sent with Content-Type: application/json, not {content_type!r}"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":  # read as it is, a gzip body was 'not valid JSON: can't decode byte 0x8b'
        raise RequestError(
            415, f"the body must be sent uncompressed, not with Content-Encoding {encoding!r:.40}"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(413, _too_large(int(declared)))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestError(413, _too_large(size))
        chunks.append(chunk)
    if empty and not any(chunks):
        return {}
    try:
        body = json.loads(b"".join(chunks), parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise RequestError(400, f"the body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(body).__name__}")
    _known(body, fields, "field")
    return body


def query_params(request: Request, names: Collection[str]) -> dict[str, str]:
    """The request's query parameters, each named at most once and among `names`; RequestError else."""
    params = request.query_params
    _known(params, names, "query parameter")
    repeated = sorted({key for key in params if len(params.getlist(key)) > 1})
    if repeated:
        raise RequestError(400, f"query parameter(s) {', '.join(repeated)} given more than once")
    return dict(params)


def integer(params: Mapping[str, str], name: str) -> Optional[int]:
    """The query parameter `name` as an integer (None when absent); RequestError if it is not one."""
    text = params.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise RequestError(400, f"{name} must be an integer, got {text!r:.40}") from None


def _known(given: Collection[str], allowed: Collection[str], what: str) -> None:
    unknown = sorted(key for key in given if key not in allowed)
    if unknown:
        names = ", ".join(repr(key[:40]) for key in unknown[:5])
        raise RequestError(400, f"unknown {what}(s) {names}: accepted are {', '.join(allowed) or 'none'}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: `{"user_id": "bob", "user_id": "alice"}` means one
    thing to this server (the last) and may mean another to a proxy or log reader in front of it."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key[:40]!r} appears twice in one object")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_large(size: int) -> str:
    return f"the body has {size:,} bytes or more, more than the {MAX_BODY_BYTES:,} accepted"
