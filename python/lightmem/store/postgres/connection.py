"""The connection pool of a PostgreSQL store and its transactions: commit or roll back whole, retry on a
deadlock or serialization failure, and turn driver errors into lightmem's (StoreError, ValueError) with
the password of the URL masked."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from lightmem.after_fork import abandon, reset_in_child
from lightmem.store.errors import StoreError
from lightmem.store.postgres.sql import VectorDumper, VectorParam
from lightmem.store.postgres.url import masked_url

T = TypeVar("T")
logger = logging.getLogger("lightmem")

_RETRIES = 5
"""Attempts of a transaction that a deadlock or serialization failure aborted (it changed nothing)."""

Connection = psycopg.Connection[TupleRow]


def _configure(conn: Connection) -> None:
    """Every pooled connection works in UTC (timestamps are read and written as UTC ISO text) and sends
    vectors in binary."""
    conn.adapters.register_dumper(VectorParam, VectorDumper)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class Database:
    """A pool of connections to one PostgreSQL database (`url`), opened at once."""

    def __init__(self, url: str, *, max_connections: int = 8, timeout: float = 30.0) -> None:
        """StoreError (the password masked) if no connection can be made within `timeout` seconds."""
        self.where = masked_url(url)
        self._url = url
        self._max_connections = max_connections
        self._timeout = timeout
        self._pool = self._new_pool()
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreError(
                f"cannot connect to the PostgreSQL database {self.where} within {timeout:g} s: check that "
                "the server runs, the URL's host, port, database and user, and the password"
            ) from None
        reset_in_child(self._after_fork)

    def _new_pool(self) -> ConnectionPool[Connection]:
        return ConnectionPool(
            self._url,
            min_size=1,
            max_size=self._max_connections,
            timeout=self._timeout,
            configure=_configure,
            open=False,
            name="lightmem",
        )

    def _after_fork(self) -> None:
        """In a forked child: a pool of its own, connecting in the background; the parent's is abandoned
        (`lightmem.after_fork.abandon`)."""
        if self._pool.closed:
            return
        abandon(self._pool)
        self._pool = self._new_pool()
        self._pool.open(wait=False)

    def __repr__(self) -> str:
        return f"Database({self.where!r})"

    def run(self, body: Callable[[Connection], T]) -> T:
        """`body(conn)` in one transaction, committed if it returns, rolled back if it raises; retried
        from the start after a deadlock or serialization failure (which changed nothing)."""
        for attempt in range(_RETRIES):
            try:
                with self.connection() as conn:
                    return body(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == _RETRIES - 1:
                    raise StoreError(f"{self.where}: a transaction kept conflicting ({exc}); retry") from exc
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection, its transaction committed at the end of the block (rolled back on an
        exception). Driver errors become StoreError (connection, server) or ValueError (data)."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.DataError as exc:  # e.g. a NUL character, which PostgreSQL text cannot hold
            raise ValueError(f"PostgreSQL refused a value: {_first_line(exc)}; nothing was changed") from exc
        except errors.ProgramLimitExceeded as exc:  # e.g. scope ids too long for a btree index key
            raise ValueError(
                f"PostgreSQL refused a value as too large ({_first_line(exc)}): shorten the ids; "
                "nothing was changed"
            ) from exc
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure)):
                raise
            raise StoreError(f"cannot use the PostgreSQL database {self.where}: {_first_line(exc)}") from exc

    def close(self) -> None:
        """Close every connection of the pool; idempotent."""
        self._pool.close()

    @property
    def closed(self) -> bool:
        return bool(self._pool.closed)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
