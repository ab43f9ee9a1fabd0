"""`VectorIndex`: the usearch index beside the SQLite store, and its file with the record that ties it to
the store (which database, which change seq, which file, which bytes)."""

from __future__ import annotations

import json
import os
import uuid
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Optional

import numpy as np
from usearch.compiled import MetricKind, ScalarKind
from usearch.index import BatchMatches, Index

DTYPE = ScalarKind.I8
"""Scalar type of the vectors inside the index. Insertion and search are nearly all distance computations
over vectors fetched from memory: 8-bit vectors (384 bytes at 384-d, against 1536) made bulk adds 5x
and searches 2x faster at 100k units, with the same neighbours found (see benches/README.md). The
similarities the index returns are approximate; the store rescores its candidates with the stored
float32 vectors."""


_READ_CHUNK = 1 << 20
"""Bytes read at a time when checksumming an index file."""


class IndexFileError(Exception):
    """The index file cannot be used; the message says why (the store then rebuilds the index)."""


class VectorIndex:
    """Unit vectors keyed by the units' rowids, cosine metric, plus `seq`: the last store change it holds.

    Not thread-safe: the store serialises access to it.
    """

    def __init__(self, dim: int, index: Optional[Index] = None, seq: int = 0) -> None:
        self.dim = dim
        self.seq = seq
        self._index = index if index is not None else Index(ndim=dim, metric="cos", dtype=DTYPE)

    def __len__(self) -> int:
        return len(self._index)

    def keys(self) -> np.ndarray:
        """All keys (rowids), in no particular order."""
        return np.asarray(self._index.keys[:], dtype=np.int64)

    def apply(self, live_keys: np.ndarray, live_vectors: np.ndarray, dead_keys: np.ndarray) -> None:
        """Insert or replace the live keys' vectors and drop the dead keys."""
        keys = np.concatenate([live_keys, dead_keys]).astype(np.uint64)
        if len(keys):
            present = keys[np.asarray(self._index.contains(keys), dtype=bool)]
            if len(present):
                self._index.remove(present)
        if len(live_keys):
            self._index.add(live_keys.astype(np.uint64), live_vectors)

    def search(self, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """For each row of the (m, dim) `queries`: up to `count` nearest keys and their cosine
        similarities (approximate: over `DTYPE` vectors), best first, as two (m, c) arrays; key -1
        (similarity -inf) pads short rows.

        When `count` covers the whole index the search is exhaustive, so nothing can be missed.
        """
        rows = len(queries)
        if len(self) == 0 or rows == 0:
            return np.full((rows, 0), -1, dtype=np.int64), np.zeros((rows, 0), dtype=np.float32)
        matches = self._index.search(queries, min(count, len(self)), exact=count >= len(self))
        if not isinstance(matches, BatchMatches):  # usearch unwraps the results of a single query
            matches = BatchMatches(matches.keys[None], matches.distances[None], np.array([len(matches.keys)]))
        found = np.arange(matches.keys.shape[1]) < np.asarray(matches.counts)[:, None]
        keys = np.where(found, np.asarray(matches.keys, dtype=np.int64), -1)
        similarities = 1.0 - np.asarray(matches.distances, dtype=np.float32)
        return keys, np.where(found, similarities, np.float32(-np.inf))

    def save(self, path: Path, store_id: str) -> None:
        """Write the index to `path` atomically, then its record to `<path>.json`; OSError if it cannot
        be written (a full disk: usearch's own error is an OSError here too).

        The record names the file (inode and size), so that a record and a file written by two different
        processes saving at once are recognised as a mismatch on load, and holds the CRC-32 of its
        bytes, so that a file damaged since is never handed to usearch (which may crash the process on
        a damaged graph instead of raising).
        """
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            try:
                self._index.save(str(tmp))
            except RuntimeError as exc:  # how usearch reports a failed write (a full disk)
                raise OSError(f"usearch could not write {tmp}: {exc}") from exc
            with tmp.open("rb") as file:
                stat = os.fstat(file.fileno())
                checksum = _crc32(file)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        record = {
            "store_id": store_id,
            "seq": self.seq,
            "count": len(self),
            "dim": self.dim,
            "inode": stat.st_ino,
            "size": stat.st_size,
            "crc32": checksum,
        }
        _write_atomic(record_path(path), json.dumps(record).encode("utf-8"))

    @classmethod
    def load(cls, path: Path, dim: int, store_id: str) -> VectorIndex:
        """The index saved at `path` for the store `store_id`; IndexFileError saying what is wrong."""
        if not path.exists():
            raise IndexFileError("the file is missing")
        record = _read_record(record_path(path))
        if record["store_id"] != store_id:
            raise IndexFileError("it was saved for another database")
        with path.open("rb") as file:
            stat = os.fstat(file.fileno())
            if (stat.st_ino, stat.st_size) != (record["inode"], record["size"]):
                raise IndexFileError("it does not match its record (two processes saved it at once?)")
            if _crc32(file) != record["crc32"]:
                raise IndexFileError("its bytes changed since it was saved (checksum mismatch): damaged")
        try:
            index = Index.restore(str(path))
        except (ValueError, RuntimeError, OSError) as exc:
            raise IndexFileError(f"it is corrupt ({exc})") from exc
        if path.stat().st_ino != record["inode"]:  # replaced by another process since it was checked
            raise IndexFileError("it was replaced while being loaded (another process saved it)")
        if index is None:
            raise IndexFileError("it is not a usearch index")
        if index.ndim != dim or record["dim"] != dim:
            raise IndexFileError(f"it holds vectors of dimension {index.ndim}, the store {dim}")
        if index.metric_kind != MetricKind.Cos or index.dtype != DTYPE:
            wanted = f"cosine over {DTYPE.name}"
            raise IndexFileError(f"it uses {index.metric_kind} over {index.dtype}, not {wanted}")
        if len(index) != record["count"]:
            raise IndexFileError(f"it holds {len(index)} vectors but its record says {record['count']}")
        return cls(dim, index, record["seq"])


def record_path(path: Path) -> Path:
    """Where the record of the index file `path` is."""
    return path.with_name(path.name + ".json")


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"its record {path.name} is missing or unreadable ({exc})") from exc
    expected = {
        "store_id": str,
        "seq": int,
        "count": int,
        "dim": int,
        "inode": int,
        "size": int,
        "crc32": int,
    }
    if not isinstance(record, dict) or any(not isinstance(record.get(k), t) for k, t in expected.items()):
        raise IndexFileError(f"its record {path.name} is malformed or has no checksum (an older lightmem's)")
    return record


def _crc32(file: BinaryIO) -> int:
    """CRC-32 of the rest of `file` (zlib: about 1 GB/s, 40-60 ms for the 53 MB index of 100k x 384)."""
    checksum = 0
    for chunk in iter(lambda: file.read(_READ_CHUNK), b""):
        checksum = zlib.crc32(chunk, checksum)
    return checksum


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
