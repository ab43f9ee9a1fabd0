"""How values are stored in SQLite: UTC timestamps as fixed-width ISO text, vectors as float32 BLOBs,
JSON columns, and the message digests. Also the validation of vectors and metadata coming from callers."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Optional

import numpy as np

from lightmem.limits import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from lightmem.times import to_utc
from lightmem.types import check_unicode

NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""JSON's escape of the NUL character (not itself escaped): PostgreSQL's jsonb and text refuse it, so no
store keeps it (metadata with one is refused by `metadata_copy`)."""


def encode_time(value: datetime) -> str:
    """Fixed-width ISO 8601 UTC text, so that SQL string order is time order."""
    return to_utc(value).isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    """Inverse of `encode_time`: a timezone-aware UTC datetime."""
    return datetime.fromisoformat(text)


def decode_optional_time(text: Optional[str]) -> Optional[datetime]:
    """`decode_time`, passing NULL through."""
    return None if text is None else decode_time(text)


def message_digest(message: Mapping[str, Any]) -> bytes:
    """16 bytes of sha256 of a buffered message's JSON (keys sorted): equal for equal messages."""
    text = json.dumps(message, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def encode_json(value: Any, name: str) -> str:
    """Compact JSON text; ValueError naming `name` if `value` is not JSON-serialisable."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be JSON-serialisable: {exc}") from exc
    except RecursionError:
        raise ValueError(
            f"{name} nests dicts and lists too deeply (more than {MAX_METADATA_DEPTH} levels)"
        ) from None


def check_metadata(metadata: Optional[Mapping[str, Any]], name: str = "metadata") -> dict[str, Any]:
    """A plain dict with string keys (empty for None), nested at most `MAX_METADATA_DEPTH` deep;
    ValueError naming `name` otherwise."""
    checked = _check_mapping(metadata, name)
    _check_depth(checked, name)
    return checked


def metadata_copy(metadata: Optional[Mapping[str, Any]], name: str = "metadata") -> dict[str, Any]:
    """What `check_metadata` accepts, taking at most `MAX_METADATA_BYTES` as JSON and holding no NUL
    character, deep-copied through JSON (tuples become lists); ValueError naming `name` otherwise."""
    checked = _check_mapping(metadata, name)
    text = encode_json(checked, name)  # first: cheaper than the depth walk on a large value
    check_unicode(text, f"{name} (as JSON)")
    if NUL_ESCAPE.search(text):
        raise ValueError(f"{name} holds a NUL character (\\u0000), which no memory store keeps: remove it")
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"{name} takes {size:,} bytes as JSON, more than the {MAX_METADATA_BYTES:,} accepted: "
            "keep large data elsewhere and a reference to it in the metadata"
        )
    _check_depth(checked, name)
    copy: dict[str, Any] = json.loads(text)
    return copy


def merged_metadata(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`old` with the keys of `new` replacing theirs, as `update` merges a memory's metadata; ValueError
    if the result takes more than `MAX_METADATA_BYTES` as JSON (updates each within the limit made one
    memory's metadata grow without end)."""
    return metadata_copy({**old, **new}, "metadata merged into the memory's own")


def _check_mapping(metadata: Optional[Mapping[str, Any]], name: str) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise ValueError(f"{name} must be a mapping with string keys, got {type(metadata).__name__}")
    return dict(metadata)


def _check_depth(metadata: dict[str, Any], name: str) -> None:
    """ValueError naming `name` if dicts and lists (or tuples) nest deeper than MAX_METADATA_DEPTH in
    `metadata` (a flat dict has depth 1); walked without recursion, so that no depth can make it fail
    otherwise."""
    stack: list[tuple[Any, int]] = [(metadata, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"{name} nests dicts and lists deeper than {MAX_METADATA_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value
        stack.extend([(child, depth + 1) for child in children if isinstance(child, (dict, list, tuple))])


def check_vectors(vectors: object, dim: int, rows: Optional[int], name: str) -> np.ndarray:
    """Validated, L2-normalised float32 copy of an (n, dim) matrix (`rows` = expected n, None = any)."""
    array = np.asarray(vectors)
    if array.dtype.kind != "f":
        raise ValueError(f"{name} must hold floating-point numbers, got dtype {array.dtype}")
    if rows == 0 and array.size == 0:
        return np.empty((0, dim), dtype=np.float32)
    expected = f"({'n' if rows is None else rows}, {dim})"
    if array.ndim != 2 or array.shape[1] != dim or (rows is not None and array.shape[0] != rows):
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    matrix = array.astype(np.float32)
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} contains an all-zero vector (cosine similarity is undefined)")
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def check_vector(vector: object, dim: int, name: str = "vector") -> np.ndarray:
    """Validated, L2-normalised float32 copy of one (dim,) vector."""
    array = np.asarray(vector)
    if array.ndim != 1 or array.shape[0] != dim:
        raise ValueError(f"{name} must have shape ({dim},), got {array.shape}")
    row: np.ndarray = check_vectors(array[None, :], dim, 1, name)[0]
    return row


def encode_vector(vector: np.ndarray) -> bytes:
    """Little-endian float32 bytes of one vector."""
    return vector.astype("<f4", copy=False).tobytes()


def decode_vectors(blobs: list[bytes], dim: int) -> np.ndarray:
    """An (n, dim) float32 matrix from BLOBs written by `encode_vector`."""
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(len(blobs), dim)
