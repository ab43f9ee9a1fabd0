"""Reliability and security particular to the SQLite store of a `Memory`: damaged or full storage, SQL
built only from constants, files only inside the memory directory. (What every store kind must keep is
in test_reliability.py.)"""

from __future__ import annotations

import ast
import errno
import logging
import os
import random
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightmem
import pytest
from crash_worker import sentence
from fakes import HashEmbedder
from lightmem.memory import Memory
from lightmem.store import StoreError
from test_reliability import IDS, MESSAGES, sources

PACKAGE = Path(lightmem.__file__).parent


# --- damaged storage ------------------------------------------------------------------------------------


def test_corrupt_database_is_refused_by_name_and_left_untouched(
    tmp_path: Path, hash_embedder: HashEmbedder
) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=hash_embedder, buffer_token_threshold=1) as memory:
        memory.add(MESSAGES, user_id="u")
    database = path / "memory.db"
    damaged = bytearray(database.read_bytes())
    damaged[:100] = os.urandom(100)  # the header
    database.write_bytes(bytes(damaged))
    with pytest.raises(StoreError, match=re.escape(str(database))):
        Memory(path, embedder=hash_embedder)
    assert database.read_bytes() == bytes(damaged)


def test_missing_or_corrupt_index_is_rebuilt(
    tmp_path: Path, hash_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=hash_embedder, buffer_token_threshold=1) as memory:
        stored = memory.add(MESSAGES, user_id="u")
    index = path / "index.usearch"
    for damage in (lambda: index.write_bytes(os.urandom(index.stat().st_size)), index.unlink):
        damage()
        with caplog.at_level(logging.WARNING), Memory(path, embedder=hash_embedder) as memory:
            assert memory._store.check_index()
            assert sources(memory.search("cat", user_id="u")) == IDS == sources(stored)
        assert "rebuilding the vector index" in caplog.text
        caplog.clear()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root); skipped where it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode(errors='replace').strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_full_disk_is_a_clear_error_that_loses_nothing(small_disk: Path, hash_embedder: HashEmbedder) -> None:
    path = small_disk / "mem"
    memory = Memory(path, embedder=hash_embedder, buffer_token_threshold=100_000)
    memory.add(MESSAGES[:2], user_id="u")
    stored = memory.flush()
    memory.add(MESSAGES[2:], user_id="u")
    filler = fill(small_disk)

    with pytest.raises(StoreError, match=f"{re.escape(str(path / 'memory.db'))}.*full"):
        memory.add(
            "A message that arrives when the disk is full, with quite a lot of words in it " * 200,
            user_id="u",
        )
    with pytest.raises(StoreError, match="full"):
        memory.flush()
    with pytest.raises(StoreError, match=r"cannot save the vector index.*No space left"):
        memory._store.save_index()
    assert memory.get_all(user_id="u") == stored  # reads still work
    assert memory.stats().pending_messages == 1

    filler.unlink()
    assert sources(memory.flush()) == ["a3"]
    memory.add("After the disk was freed.", user_id="u")
    memory.close()
    with Memory(path, embedder=hash_embedder) as memory:
        assert sources(memory.get_all(user_id="u")) == IDS
        assert memory.stats().pending_messages == 1
        assert memory._store.check_index()


def test_close_on_a_full_disk_is_a_store_error_that_loses_nothing(
    small_disk: Path, hash_embedder: HashEmbedder
) -> None:
    path = small_disk / "mem"
    memory = Memory(path, embedder=hash_embedder, buffer_token_threshold=1)
    rng = random.Random(7)
    stored = memory.add([{"content": sentence(rng)} for _ in range(60)], user_id="u")  # some KiB of index
    filler = fill(small_disk)
    index = re.escape(str(path / "index.usearch"))
    with pytest.raises(StoreError, match=f"cannot save the vector index {index}.*memories are safe"):
        memory.close()  # usearch's own error for a failed write was a RuntimeError
    with pytest.raises(StoreError, match="closed"):
        memory.get_all(user_id="u")
    filler.unlink()
    with Memory(path, embedder=hash_embedder) as memory:
        assert memory.get_all(user_id="u") == stored
        assert memory._store.check_index()


def test_index_that_cannot_be_saved_is_rebuilt_on_reopen(
    tmp_path: Path, hash_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mem"
    memory = Memory(path, embedder=hash_embedder, buffer_token_threshold=1)
    memory.add(MESSAGES, user_id="u")

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch, pytest.raises(StoreError, match=r"index.*No space left.*are safe"):
        patch.setattr(os, "replace", no_space)
        memory.close()  # the units are in the database: close closes, then says what it could not do
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    with Memory(path, embedder=hash_embedder) as memory:
        assert sources(memory.search("cat", user_id="u")) == IDS
        assert memory._store.check_index()


# --- security: SQL ----------------------------------------------------------------------------------------

SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|WHERE|FROM)\b|(^|\s)\?($|[\s,)])")
SQL_FRAGMENTS = {
    "ITEM_COLUMNS",
    "_INDEX_UNITS",
    "_INDEX_PENDING",
    "_SCOPE_TOKENS",
    "PENDING_LINE",
    "_PENDING_COLUMNS",
    "where",
    "marks",
    "select",
    "column",
    "operator",
    "c",
    "sql",
}
"""The names that may be interpolated into SQL text: constants and fragments made of constants and `?`."""


def _is_sql(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(SQL_WORDS.search(node.value))
    )


def sql_formatting_problems(source: str, filename: str) -> list[str]:
    """SQL text built with values: %-formatting, .format(), or interpolation of anything but fragments."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_sql(node.left):
            problems.append(f"{where}: SQL built with %")
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
        ):
            if _is_sql(node.func.value):
                problems.append(f"{where}: SQL built with .format()")
        elif isinstance(node, ast.JoinedStr) and any(_is_sql(part) for part in node.values):
            for part in node.values:
                if isinstance(part, ast.FormattedValue) and not (
                    isinstance(part.value, ast.Name)
                    and part.value.id in SQL_FRAGMENTS
                    and part.conversion == -1
                ):
                    problems.append(f"{where}: {ast.unparse(part.value)!r} interpolated into SQL")
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add)
            and (_is_sql(node.left) or _is_sql(node.right))
        ):
            for side in (node.left, node.right):
                if not (_is_sql(side) or isinstance(side, (ast.Constant, ast.JoinedStr, ast.BinOp))) and not (
                    isinstance(side, ast.Name) and side.id in SQL_FRAGMENTS
                ):
                    problems.append(f"{where}: {ast.unparse(side)!r} concatenated into SQL")
    return problems


def test_no_sql_is_built_with_values() -> None:
    store_modules = [p for p in PACKAGE.rglob("*.py") if "execute" in p.read_text(encoding="utf-8")]
    sql_modules = {"sqlite_units.py", "sqlite_pending.py", "sqlite_vectors.py", "rows.py", "schema.py"}
    assert {p.name for p in store_modules} >= sql_modules
    problems = [
        problem
        for module in PACKAGE.rglob("*.py")
        for problem in sql_formatting_problems(
            module.read_text(encoding="utf-8"), str(module.relative_to(PACKAGE))
        )
    ]
    assert not problems, "\n".join(problems)


def test_the_sql_check_catches_values_in_sql() -> None:
    bad = """
conn.execute(f"SELECT * FROM units WHERE user_id = '{user_id}'")
conn.execute("DELETE FROM units WHERE id = '%s'" % memory_id)
conn.execute("SELECT * FROM units WHERE text = '{}'".format(text))
conn.execute("SELECT * FROM units WHERE id = '" + memory_id + "'")
conn.execute(f"SELECT {ITEM_COLUMNS} FROM units WHERE {where} AND x = {scope.user_id!r}")
"""
    assert len(sql_formatting_problems(bad, "bad.py")) == 5
    assert (
        sql_formatting_problems('conn.execute(f"SELECT {ITEM_COLUMNS} FROM units WHERE {where}", p)', "ok.py")
        == []
    )


def test_hostile_values_never_reach_sql_text(
    tmp_path: Path, hash_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement the store runs is recorded: values travel as parameters, never inside the SQL."""
    statements: list[str] = []
    connect = sqlite3.connect

    def recording_connect(*args: Any, factory: type[sqlite3.Connection], **kwargs: Any) -> sqlite3.Connection:
        class Recording(factory):  # type: ignore[valid-type, misc]
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                statements.append(sql)
                return super().execute(sql, *args)

            def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
                statements.append(sql)
                return super().executemany(sql, *args)

        return connect(*args, factory=Recording, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", recording_connect)
    hostile = "x'); DROP TABLE units; --"
    with Memory(tmp_path / "mem", embedder=hash_embedder, buffer_token_threshold=1) as memory:
        message = {"id": hostile, "content": f"{hostile} said hi", "name": hostile}
        scope = {"user_id": hostile, "agent_id": hostile, "run_id": hostile}
        (item,) = memory.add(message, metadata={hostile: hostile}, **scope)
        memory.search(
            hostile, user_id=hostile, filters={"metadata": {hostile: hostile}, "event_after": "2024-01-01"}
        )
        memory.get(item.id, user_id=hostile)
        memory.get_all(user_id=hostile, limit=3)
        memory.update(item.id, hostile, user_id=hostile)
        memory.history(item.id, user_id=hostile)
        memory.delete(item.id, run_id=hostile)
        memory.add(hostile, user_id=hostile)
        assert memory.delete_all(user_id=hostile) == 1
        memory.stats()
    assert len(statements) > 30
    assert not [s for s in statements if "DROP" in s or "said hi" in s or "x'" in s]


# --- security: paths --------------------------------------------------------------------------------------


def files_under(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*") if p.is_file()}


def test_files_are_created_only_inside_the_memory_directory(
    tmp_path: Path, hash_embedder: HashEmbedder
) -> None:
    """The directory is whatever the user names (a symlink or a `..` in it is followed like any path);
    the files inside have fixed names: nothing is named after user input such as ids."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "work").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    for chosen in (tmp_path / "link" / "mem", tmp_path / "work" / ".." / "real" / "other"):
        with Memory(chosen, embedder=hash_embedder, buffer_token_threshold=1) as memory:
            for sneaky in ("../../outside/evil", "/etc/passwd", "..", "a/b\\c", "memory.db"):
                memory.add(
                    {"id": sneaky, "content": "Path games are not played here."},
                    user_id=sneaky,
                    agent_id=sneaky,
                )
            memory.search("path", user_id="../../outside/evil")
        names = {p.name for p in files_under(chosen.resolve())}
        assert names <= {
            "memory.db",
            "memory.db-wal",
            "memory.db-shm",
            "index.usearch",
            "index.usearch.json",
            "claims.lock",
        }
        assert "memory.db" in names and "index.usearch" in names
    assert files_under(outside) == set() and files_under(tmp_path / "work") == set()
    assert {p.parent.name for p in files_under(tmp_path)} == {"mem", "other"}


def test_unusable_paths_are_refused_by_name(tmp_path: Path, hash_embedder: HashEmbedder) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for path in (a_file, a_file / "sub"):
        with pytest.raises(ValueError, match=re.escape(str(a_file))):
            Memory(path, embedder=hash_embedder)
    with pytest.raises(ValueError, match="empty"):
        Memory("", embedder=hash_embedder)
    assert a_file.read_text() == "not a directory"
