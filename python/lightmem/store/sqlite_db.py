"""`Database`: the connections and transactions of one SQLite store file (a part of `SQLiteStore`).

One connection per thread, so that readers never wait for a writer; every write one transaction,
retried while another connection holds the lock, with a new change number when it changes units.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

from lightmem.store.errors import StoreError
from lightmem.store.rows import next_seq
from lightmem.store.schema import connect, with_lock_retries, write_transaction

T = TypeVar("T")

FEED_BATCH = 10_000
"""Rows of the units' change feed read at a time (`unit_changes`)."""


def unit_changes(conn: sqlite3.Connection, since: int, column: str) -> Iterator[list[tuple[Any, ...]]]:
    """The units changed after the change number `since` that `conn` sees, oldest change first, in
    batches of at most `FEED_BATCH` rows (rowid, seq, `column` or None for a removed unit, user_id,
    agent_id, run_id): the feed that keeps the in-memory indexes in step with every writer."""
    cursor = conn.execute(
        f"SELECT rowid, seq, CASE WHEN deleted = 0 THEN {column} END, user_id, agent_id, run_id "
        "FROM units WHERE seq > ? ORDER BY seq",
        (since,),
    )
    return iter(lambda: cursor.fetchmany(FEED_BATCH), [])


def store_directory(directory: Union[str, os.PathLike[str]]) -> Path:
    """The store's directory, created if needed; ValueError if it is empty or not a directory."""
    if not os.fspath(directory):
        raise ValueError("directory must be a non-empty path")
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"{path} exists and is not a directory: choose another memory directory") from None
    except NotADirectoryError:
        raise ValueError(f"{path} cannot be a directory: one of its parents is a file") from None
    return path


class Database:
    """The SQLite file `path` of the store in `directory`, as connections and transactions."""

    def __init__(self, directory: Path, path: Path, busy_timeout: float) -> None:
        """`busy_timeout`: seconds a write waits for another's lock (then it is retried, see `write`)."""
        self.directory = directory
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._after_units_change: Callable[[], None] = lambda: None

    def after_units_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every committed write that changed units (the vector index catches up)."""
        self._after_units_change = listener

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (one per thread, so that readers never wait for a writer)."""
        if self._closed:
            raise StoreError(f"the store at {self.directory} is closed; open a new SQLiteStore")
        conn: Optional[sqlite3.Connection] = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self._busy_timeout)
            with self._connections_lock:
                for thread, old in [c for c in self._connections if not c[0].is_alive()]:
                    old.close()
                    self._connections.remove((thread, old))
                self._connections.append((threading.current_thread(), conn))
            self._local.conn = conn
        return conn

    def write(self, body: Callable[[sqlite3.Connection, int], T], units_change: bool = True) -> T:
        """Run `body(conn, seq)` in one write transaction (`seq`: a new change number), then tell the
        listener of `after_units_change`. `units_change=False` (the buffer or counters only): no change
        number is taken and nobody is told. StoreError if the file cannot be written (nothing changed)."""
        conn = self.conn()

        def transaction() -> T:
            return write_transaction(conn, lambda: body(conn, next_seq(conn) if units_change else 0))

        try:
            result = with_lock_retries(transaction, self.path)
        except sqlite3.OperationalError as exc:  # disk full, I/O error, read-only file
            raise StoreError(f"cannot write to {self.path} ({exc}); nothing was changed") from exc
        if units_change:
            self._after_units_change()
        return result

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the database."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every use then is a StoreError)."""
        return self._closed

    def close(self) -> None:
        """Close every connection; idempotent."""
        self._closed = True
        with self._connections_lock:
            for _, conn in self._connections:
                conn.close()
            self._connections.clear()
