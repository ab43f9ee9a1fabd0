"""A real PostgreSQL with pgvector for the tests: the `pgserver` package's PostgreSQL 16 (it ships
pgvector), started once per test session in a temporary directory, with a fresh schema per test.

LIGHTMEM_TEST_POSTGRES_URL (a URL to a database whose user may create schemas) uses that server
instead. Where neither can start, the tests that need PostgreSQL skip, saying why. `shared_server` starts
it on first use and stops it when the test process exits."""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from lightmem.store.postgres.url import schema_url

_names = itertools.count(1)


class PostgresServer:
    """A running PostgreSQL (`admin_url`: its maintenance database) that hands out fresh databases."""

    def __init__(self, admin_url: str, handle: Any = None) -> None:
        self.admin_url = admin_url
        self._handle = handle  # pgserver's server object, stopped by `stop`
        self._schemas: dict[str, str] = {}  # fresh URL -> its schema

    def fresh_url(self) -> str:
        """The URL of a new, empty schema of the server's database (first on the search path; pgvector's
        extension in `public`): as separate as a new database for lightmem's tables, and much faster."""
        return self.schema_url(f"lightmem_test_{os.getpid()}_{next(_names)}", fresh=True)

    def schema_url(self, name: str, fresh: bool = False) -> str:
        """The URL of the schema `name` of the server's database, created if missing (`fresh`: emptied
        first); `drop` removes it."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            if fresh:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        url = schema_url(self.admin_url, name)
        self._schemas[url] = name
        return url

    def drop(self, url: str) -> None:
        """Remove the schema `fresh_url` made for `url` (and everything in it)."""
        import psycopg

        name = self._schemas.pop(url, None)
        if name is not None:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    def make_fast(self) -> None:
        """Trade durability for speed (a test server's data is thrown away)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")
            conn.execute("SELECT pg_reload_conf()")

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cleanup()


@contextmanager
def running_server() -> Iterator[tuple[Optional[PostgresServer], str]]:
    """(server, '') while one runs, or (None, the reason it could not start). The data directory is a
    short path of its own (the server's socket lives there), removed at the end."""
    external = os.environ.get("LIGHTMEM_TEST_POSTGRES_URL")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        yield None, f"the postgres extra is not installed ({exc}): pip install 'lightmem-rs[postgres]'"
        return
    if external:
        yield PostgresServer(external), ""
        return
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        yield (
            None,
            "pgserver is not installed (pip install pgserver==0.1.4), nor LIGHTMEM_TEST_POSTGRES_URL set",
        )
        return
    directory = tempfile.mkdtemp(prefix="lightmem-pg-")
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            handle = pgserver.get_server(directory, cleanup_mode="stop")
    except Exception as exc:  # any failure to start: the tests skip, saying why
        shutil.rmtree(directory, ignore_errors=True)
        yield None, f"pgserver could not start PostgreSQL in {directory}: {exc!r}"
        return
    server = PostgresServer(handle.get_uri(), handle)
    server.make_fast()
    try:
        yield server, ""
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@functools.cache
def shared_server() -> tuple[Optional[PostgresServer], str]:
    """The test process's one server, started on first use and stopped at exit: (server, '') or (None,
    the reason it could not start)."""
    context = running_server()
    server, reason = context.__enter__()
    if server is not None:
        atexit.register(context.__exit__, None, None, None)
    return server, reason
