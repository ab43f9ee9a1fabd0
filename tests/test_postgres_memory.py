"""`Memory` on a PostgreSQL URL, against a real PostgreSQL with pgvector (see `pg_server`): the scope
isolation state machine, crash safety of writer processes killed at random points, and credentials
kept out of messages."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import test_isolation
import test_reliability
from crash_worker import USER, HashEmbedder, spawn
from hypothesis import HealthCheck, settings
from lightmem.embedding import OnnxEmbedder
from lightmem.long_term import StoreError
from lightmem.memory import Memory
from lightmem.store.postgres.store import PostgresStore
from lightmem.store.postgres.url import is_postgres_url, masked_url
from lightmem.types import Scope
from pg_server import PostgresServer
from test_crash import read_lines

_server: list[PostgresServer] = []
"""The session's server, for the state machine (which hypothesis builds without fixtures)."""


@pytest.fixture
def server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    _server.append(postgres_server)
    yield postgres_server
    _server.clear()


class PostgresScopedMemory(test_isolation.ScopedMemory):
    """The isolation state machine on a fresh PostgreSQL schema per run."""

    def __init__(self) -> None:
        super(test_isolation.ScopedMemory, self).__init__()
        self.directory = ""
        self.memory = Memory(_server[0].fresh_url(), embedder=HashEmbedder(), buffer_token_threshold=1)
        self.units = {}

    def teardown(self) -> None:
        self.memory.close()


PostgresScopedMemory.TestCase.settings = settings(
    max_examples=8, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_scopes_stay_isolated(server: PostgresServer) -> None:
    PostgresScopedMemory.TestCase("runTest").runTest()


def test_urls_are_told_from_paths_and_passwords_masked() -> None:
    assert is_postgres_url("postgresql://u:p@h/db") and is_postgres_url("postgres://h/db")
    assert not is_postgres_url("./postgresql") and not is_postgres_url("/tmp/mem")
    assert (
        masked_url("postgresql://me:s3cret@db.example:5432/mem") == "postgresql://me:***@db.example:5432/mem"
    )
    assert masked_url("postgresql://db/mem?user=me&password=s3cret&sslmode=require") == (
        "postgresql://db/mem?user=me&password=***&sslmode=require"
    )


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    url = "postgresql://me:s3cret-4242@127.0.0.1:1/mem"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, 8, connect_timeout=1.0)
    assert "s3cret-4242" not in str(caught.value) and "me:***@127.0.0.1:1" in str(caught.value)


def test_nothing_of_postgres_is_imported_for_a_directory(tmp_path: object) -> None:
    code = (
        "import sys, tempfile; from lightmem.memory import Memory; from lightmem.cli import main; "
        "sys.path.insert(0, 'tests'); from crash_worker import HashEmbedder; "
        "Memory(tempfile.mkdtemp(), embedder=HashEmbedder()).close(); "
        "assert not [m for m in sys.modules if m.startswith(('psycopg', 'lightmem.store.postgres.store'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_memory_on_a_url_adds_flushes_searches_and_masks_its_path(postgres_url: str) -> None:
    with Memory(postgres_url, embedder=HashEmbedder(), buffer_token_threshold=1_000) as memory:
        assert memory.path == masked_url(postgres_url)
        memory.add("I run a marathon in Paris every spring", user_id="maya")
        memory.add("My dog Miso loves the beach", user_id="maya")
        assert memory.search("marathon Paris", user_id="maya")[0].pending
        items = memory.flush(user_id="maya")
        assert items and memory.stats(user_id="maya").pending_messages == 0
        assert memory.search("marathon in Paris", user_id="maya", limit=1)[0].text == items[0].text
        memory.consolidate()
        assert not memory.search("marathon", user_id="tom")


def _message_id_counts(url: str) -> tuple[Counter[str], Counter[str]]:
    """How often each message id is buffered and cited by live units (see crash_worker)."""
    with PostgresStore(url, HashEmbedder().dim) as store:
        scope = Scope(user_id=USER)
        pending = Counter(message["id"] for _, message in store.pending_list(scope))
        units = Counter(s for item in store.get_all(scope) for s in item.source)
    return pending, units


def test_writers_killed_at_random_points_lose_no_acknowledged_message(postgres_url: str) -> None:
    """test_crash's SIGKILL cycles with the store in PostgreSQL (fewer kills: the server is shared)."""
    rng = random.Random(7)
    acknowledged: list[str] = []
    for cycle in range(4):
        worker = spawn(postgres_url, f"k{cycle}-", 100_000, seed=cycle)  # type: ignore[arg-type]
        lines, reader = read_lines(worker)
        time.sleep(rng.uniform(1.0, 3.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        reader.join(timeout=10)
        _, stderr = worker.communicate()
        assert worker.returncode == -signal.SIGKILL, f"the worker failed before the kill:\n{stderr}"
        acknowledged += [line for line in lines if line != "done"]
        pending, units = _message_id_counts(postgres_url)
        assert not [m for m in acknowledged if m not in pending and m not in units]
        assert not [m for m, n in (pending + units).items() if n > 1]
    final = spawn(postgres_url, "final-", 30, seed=99)  # type: ignore[arg-type]
    stdout, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr
    pending, units = _message_id_counts(postgres_url)
    assert not pending and all(m in units for m in acknowledged + stdout.split()[:-1])


@pytest.fixture(scope="module")
def shared_memory(postgres_server: PostgresServer, embedder: OnnxEmbedder) -> Iterator[Memory]:
    """test_reliability's memory for every generated bad input, on PostgreSQL."""
    with Memory(postgres_server.fresh_url(), embedder=embedder, buffer_token_threshold=1) as memory:
        yield memory


test_add_takes_any_input_or_raises_value_error = (
    test_reliability.test_add_takes_any_input_or_raises_value_error
)
test_reads_and_edits_take_any_input_or_raise_value_error = (
    test_reliability.test_reads_and_edits_take_any_input_or_raise_value_error
)
